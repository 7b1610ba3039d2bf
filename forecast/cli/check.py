"""``forecast check``: validate a scenario and its evidence log and summarize them."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from forecast.cli.app import (
    DEFAULT_SCENARIO,
    Format,
    FormatOpt,
    RootOpt,
    ScenarioOpt,
    _e,
    _inputs,
    _print_json,
    app,
    out,
)


@app.command()
def check(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    format: FormatOpt = Format.table,
) -> None:
    """Validate a scenario and its evidence log and summarize them.

    Examples:
      forecast check
      forecast check --scenario israel_russia --format json
    """
    inputs = _inputs(scenario, root)
    s, ev = inputs.scenario, inputs.evidence
    counts = ev.frame["kind"].value_counts().sort_index().to_dict()
    span = (
        (ev.frame["date"].min().date().isoformat(), ev.frame["date"].max().date().isoformat())
        if len(ev.frame)
        else (None, None)
    )
    if format is Format.json:
        _print_json(
            {
                "scenario": s.name,
                "factors": s.factor_names,
                "outcomes": s.outcome_names,
                "indicators": list(s.indicators),
                "evidence_rows": len(ev.frame),
                "rows_by_kind": {k: int(v) for k, v in counts.items()},
                "date_span": list(span),
                "files": [str(f) for f in inputs.files],
            }
        )
        return
    out.print(f"[bold]{_e(s.title)}[/bold] ({_e(s.name)}) — inputs are valid")
    t = Table(show_header=False, box=None)
    t.add_row("factors", _e(", ".join(s.factor_names)))
    t.add_row(
        "outcomes",
        _e(
            ", ".join(
                f"{n} ({len(o.candidates)} candidates)" if o.candidates else n
                for n, o in s.outcomes.items()
            )
        ),
    )
    t.add_row("indicators", _e(", ".join(s.indicators) or "-"))
    t.add_row("evidence rows", f"{len(ev.frame)} in {len(ev.files)} file(s)")
    t.add_row("by kind", _e(", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"))
    t.add_row("date span", f"{span[0]} .. {span[1]}")
    t.add_row("horizons", ", ".join(f"{h} months" for h in s.horizons))
    out.print(t)
