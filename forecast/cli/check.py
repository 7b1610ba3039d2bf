"""``forecast check``: validate a scenario and its evidence log and summarize them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
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
from forecast.data.audit import DuplicateFact, evidence_summary

EXIT_DUPLICATES = 1  # --strict: the inputs are valid but some facts look entered twice

StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit with status 1 when a fact looks entered twice (for CI and cron).",
    ),
]


@app.command()
def check(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    format: FormatOpt = Format.table,
    strict: StrictOpt = False,
) -> None:
    """Validate a scenario and its evidence log and summarize them.

    Also lists possible duplicate facts: rows that share a source URL, a date (the month, if a
    row is dated by month) and a target family, so one fact would be counted twice.

    Examples:
      forecast check
      forecast check --scenario israel_russia --format json
      forecast check --strict   # exit 1 if any fact looks entered twice
    """
    inputs = _inputs(scenario, root)
    s = inputs.scenario
    summary = evidence_summary(inputs)
    counts, span = summary.rows_by_kind, summary.date_span
    if format is Format.json:
        _print_json(
            {
                "scenario": s.name,
                "factors": s.factor_names,
                "outcomes": s.outcome_names,
                "indicators": list(s.indicators),
                "evidence_rows": summary.rows,
                "rows_by_kind": counts,
                "date_span": list(span),
                "files": [str(f) for f in inputs.files],
                "duplicate_facts": [asdict(d) for d in summary.duplicate_facts],
            }
        )
        _exit_if_strict(strict, summary.duplicate_facts)
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
    t.add_row("evidence rows", f"{summary.rows} in {summary.files} file(s)")
    t.add_row("by kind", _e(", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"))
    t.add_row("date span", f"{span[0]} .. {span[1]}")
    t.add_row("horizons", ", ".join(f"{h} months" for h in s.horizons))
    out.print(t)
    _print_duplicates(summary.duplicate_facts)
    _exit_if_strict(strict, summary.duplicate_facts)


def _print_duplicates(groups: tuple[DuplicateFact, ...]) -> None:
    """One warning line per group: its rows (file:row kind target=value), shared URL(s) and date."""
    if not groups:
        return
    out.print(
        f"[yellow]{len(groups)} possible duplicate facts[/yellow] "
        "(same source, date and target family: each row is counted by the likelihood)",
        soft_wrap=True,
    )
    for g in groups:
        rows = "; ".join(f"{r.file}:{r.row} {r.kind} {r.target}={r.value}" for r in g.rows)
        urls = " ; ".join(g.urls)
        out.print(
            f"  [yellow]{_e(g.date)}[/yellow] {_e(g.family)}: {_e(rows)} — {_e(urls)}",
            soft_wrap=True,
        )


def _exit_if_strict(strict: bool, groups: tuple[DuplicateFact, ...]) -> None:
    if strict and groups:
        raise typer.Exit(EXIT_DUPLICATES)
