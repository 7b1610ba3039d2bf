"""What moved a stored run's forecasts and what would: ``explain`` (the evidence behind a
forecast, or its change since a run) and ``whatif`` (factors held at chosen levels)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from forecast.cli.app import (
    Format,
    FormatOpt,
    InputError,
    ReadScenarioOpt,
    RunOpt,
    RunsOpt,
    _bad_input,
    _e,
    _fail,
    _not_converged_banner,
    _print_json,
    _select,
    app,
    err,
    out,
)

if TYPE_CHECKING:
    from forecast.runs.explain import Influence

# A what-if holds factors at levels in standard units (a factor's typical spread is about 1).
# Beyond 10 the hazards are saturated (P is 0 or 1 whatever the exact level) and exp() overflows
# soon after, so a larger --set value is a typo, not a scenario.
MAX_WHATIF_LEVEL = 10.0


@app.command()
def explain(
    target: Annotated[str, typer.Argument(help="OUTCOME or OUTCOME:CANDIDATE.")],
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    top: Annotated[int, typer.Option(min=0, help="How many evidence groups to list.")] = 10,
    format: FormatOpt = Format.table,
) -> None:
    """Which evidence moved this outcome's forecast (PSIS on stored log-likelihoods, no refit).

    Shows the change since the scenario's previous run attributed to the rows added since then,
    and the influence of each evidence group (kind:target) in the run's fit.

    Examples:
      forecast explain accords_expansion --runs runs
      forecast explain accords_expansion:saudi_arabia --format json
    """
    from forecast.data.target import Target
    from forecast.runs.explain import change_since, influences

    found = _select(runs, scenario, run_id, last=2)
    run = found[-1]
    try:
        outcome, candidate = Target.parse(target)
    except ValueError as exc:
        _fail(str(exc))
    try:
        infl = influences(run, outcome, candidate)
        change = change_since(run, found[-2], outcome, candidate) if len(found) > 1 else None
        ev = run.inputs().evidence
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    except InputError as exc:
        _bad_input(exc)

    if format is Format.json:
        _print_json(_explain_json(run, target, infl[:top], change, ev))
        return
    horizons = sorted(infl[0].effect) if infl else []
    if change is not None:
        _print_change(target, found[-2].id, change, ev, horizons, top)
    _print_influence(target, run.id, infl[:top], horizons)


def _influence_json(i: Influence) -> dict:
    return {
        "label": i.label,
        "effect": i.effect,
        "k_hat": i.k_hat,
        "reliable": i.reliable,
        "rows": len(i.rows),
    }


def _explain_json(run, target: str, infl: list[Influence], change, ev) -> dict:
    """``explain --format json``: the influence of each group and, when there is a previous run,
    the change since it with the rows added."""
    body: dict = {"run": run.id, "target": target, "groups": [_influence_json(i) for i in infl]}
    if change is not None:
        fields = ("file", "row", "date", "kind", "target", "value", "source", "source_url")
        row = lambda r: {k: v for k, v in ev.row(r).items() if k in fields}  # noqa: E731
        body["since_previous"] = {
            "previous": change.previous,
            "current": change.current,
            "added_rows": [row(r) for r in change.added_rows],
            "joint": _influence_json(change.joint) if change.joint else None,
            "by_row": [{**_influence_json(i), "row": row(i.rows[0])} for i in change.by_row],
        }
    return body


def _print_change(target: str, previous: str, change, ev, horizons: list[int], top: int) -> None:
    out.print(f"[bold]{_e(target)}[/bold]: change since run {_e(previous)}")
    for h in horizons:
        a, b = change.previous.get(h), change.current.get(h)
        if a is not None and b is not None:
            out.print(f"  {h:>2} months: {a:.1%} → {b:.1%} ({b - a:+.1%})")
    if not change.added_rows:
        out.print("  no evidence rows were added (the change comes from refitting alone)")
        return
    t = Table(title=f"{len(change.added_rows)} evidence row(s) added since; effect of each")
    t.add_column("row")
    t.add_column("date")
    t.add_column("kind:target")
    t.add_column("value", justify="right")
    for h in horizons:
        t.add_column(f"Δ {h} mo", justify="right")
    t.add_column("k̂", justify="right")
    t.add_column("source")
    for i in change.by_row[:top]:
        ri = ev.row(i.rows[0])
        t.add_row(
            _e(f"{ri['file']}:{ri['row']}"),
            _e(ri["date"]),
            _e(f"{ri['kind']}:{ri['target']}"),
            f"{ri['value']:g}",
            *[f"{i.effect[h]:+.1%}" for h in horizons],
            _khat(i),
            _e(f"{ri['source']} {ri['source_url']}"),
        )
    out.print(t)


def _print_influence(target: str, run_id: str, infl: list[Influence], horizons: list[int]) -> None:
    from forecast.inference.gate import DEFAULT_GATE

    t = Table(title=f"Influence of each evidence group on {_e(target)} in run {_e(run_id)}")
    t.add_column("evidence group")
    t.add_column("rows", justify="right")
    for h in horizons:
        t.add_column(f"Δ {h} mo", justify="right")
    t.add_column("k̂", justify="right")
    for i in infl:
        t.add_row(
            _e(i.label),
            str(len(i.rows)),
            *[f"{i.effect[h]:+.1%}" for h in horizons],
            _khat(i),
        )
    out.print(t)
    if any(not i.reliable for i in infl):
        err.print(
            f"[yellow]k̂ > {DEFAULT_GATE.k_hat_max} marks groups whose effect PSIS cannot estimate "
            "reliably: refit without them to measure it.[/yellow]"
        )


def _khat(i: Influence) -> str:
    return f"{i.k_hat:.2f}" if i.reliable else f"[yellow]{i.k_hat:.2f} (refit)[/yellow]"


@app.command()
def whatif(
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            help=f"FACTOR=VALUE in standard units, |VALUE| <= {MAX_WHATIF_LEVEL:g}.",
        ),
    ],
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Forecasts if factors were held at given levels from now on, beside the unconditional ones.

    Computed from a run's posterior draws (default: the scenario's latest run), without refitting.

    Examples:
      forecast whatif --set us_mideast_commitment=1.5
      forecast whatif --set russia_regional_leverage=-1 --set iran_hostility=2 --format json
    """
    from forecast.runs.what_if import whatif as run_whatif

    hold = _parse_hold(set_)
    run = _select(runs, scenario, run_id, last=1)[-1]
    try:
        table = run_whatif(run, hold)
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    except InputError as exc:
        _bad_input(exc)
    if format is Format.json:
        recs = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        _print_json({"run": run.id, "hold": hold, "forecasts": recs})
        return
    if not run.manifest["converged"]:
        _not_converged_banner(run.manifest)
    held = ", ".join(f"{k} = {v:g}" for k, v in hold.items())
    t = Table(title=f"What if {_e(held)} (standard units) from the origin on")
    for c in ("outcome", "candidate", "horizon", "forecast", "what-if", "change"):
        t.add_column(c, justify="right" if c not in ("outcome", "candidate") else "left")
    for r in table.itertuples(index=False):
        cand = r.candidate if isinstance(r.candidate, str) else ""
        t.add_row(
            _e(r.outcome),
            _e(cand),
            f"{r.horizon_months} mo",
            f"{r.probability:.0%}",
            f"{r.probability_whatif:.0%}",
            f"{r.change:+.0%}",
        )
    out.print(t)


def _parse_hold(items: list[str]) -> dict[str, float]:
    """``--set FACTOR=VALUE`` options as ``{factor: level}``; exits with the bad-input code on a
    value that is not a finite number within ``MAX_WHATIF_LEVEL`` or a factor given twice."""
    hold: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value, sep = math.nan, ""
        if not sep or not name:
            _fail(f"--set expects FACTOR=NUMBER, got {item!r}")
        if not math.isfinite(value) or abs(value) > MAX_WHATIF_LEVEL:
            _fail(
                f"--set {item!r}: the level of {name!r} must be a finite number of standard units"
                f" between -{MAX_WHATIF_LEVEL:g} and {MAX_WHATIF_LEVEL:g}"
            )
        if name in hold:
            _fail(f"--set {item!r}: {name!r} is already set to {hold[name]:g}")
        hold[name] = value
    return hold
