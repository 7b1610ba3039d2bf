"""Read commands on stored runs: ``summary`` (a run's forecasts) and ``history`` (every run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from forecast.cli.app import (
    Format,
    FormatOpt,
    ReadScenarioOpt,
    RunOpt,
    RunsOpt,
    _e,
    _not_converged_banner,
    _print_json,
    _select,
    app,
    out,
)


@app.command()
def summary(
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Print a run's forecasts (default: the scenario's latest) with its convergence status.

    Examples:
      forecast summary --runs runs
      forecast summary --runs runs --format json | jq '.forecasts[0]'
      forecast summary --scenario mini --run 20260801T060000123456Z-0123abcd
    """
    from forecast.inference.sensitivity import THRESHOLD as SENSITIVITY_THRESHOLD
    from forecast.runs.update import forecast_records

    run = _select(runs, scenario, run_id, last=1)[-1]
    m = run.manifest
    records = forecast_records(run)
    if format is Format.json:
        keys = ("created_at", "scenario", "input_hash", "seed", "origin_date", "wall_time_s")
        body = {
            "run": {
                "id": run.id,
                "converged": m["converged"],
                "diagnostics": m["diagnostics"],
                **{k: m.get(k) for k in keys},
                "evidence_end": run.evidence_end,
            },
            "forecasts": records,
        }
        _print_json(body)
        return
    _print_run_status(run)
    out.print(_forecast_table(records))
    if any(r.get("evidence_verdict") for r in records):
        out.print(
            "prior or data: how each probability moves when the prior or the evidence is given"
            " slightly more weight (power-scaling sensitivity, threshold"
            f" {SENSITIVITY_THRESHOLD}); 'mostly prior' means the evidence says little about it;"
            " 'unclear' that neither pull stands out from the computation's own noise."
        )


def _print_run_status(run) -> None:
    """The run's id, scenario, origin and evidence end, and whether it converged (a banner if
    not; the reweighting note of a warm update)."""
    m = run.manifest
    dates = f"origin {_e(m.get('origin_date'))}, evidence to {_e(run.evidence_end)}"
    if m["converged"]:
        d = m["diagnostics"]
        out.print(
            f"[bold]Run {_e(run.id)}[/bold] ({_e(m['scenario'])}, {dates})"
            f" [green]converged[/green]: R-hat {d['max_rhat']:.3f}, "
            f"min ESS {min(d['min_ess_bulk'], d['min_ess_tail']):.0f}, 0 divergences"
        )
        if d.get("method") == "psis":
            reused = m.get("reused")
            note = reused.get("posterior", "") if isinstance(reused, dict) else ""
            out.print(f"warm update: {_e(note)}")
    else:
        out.print(f"[bold]Run {_e(run.id)}[/bold] ({_e(m['scenario'])}, {dates})")
        _not_converged_banner(m)


def _forecast_table(records: list[dict]) -> Table:
    """One row per outcome and candidate: probability [90% interval] per horizon (headed by its
    calendar end) and the prior-or-data verdicts."""
    horizons = sorted({r["horizon_months"] for r in records})
    ends = {r["horizon_months"]: r["end_date"] for r in records if r["end_date"]}
    t = Table(title="P(outcome by horizon) — mean [90% interval]")
    t.add_column("outcome")
    t.add_column("candidate")
    for h in horizons:
        t.add_column(f"{h} mo" + (f"\nby {_e(ends[h])}" if h in ends else ""), justify="right")
    t.add_column("prior or data (by horizon)")
    rows: dict[tuple, dict] = {}
    for r in records:
        rows.setdefault((r["outcome"], r["candidate"]), {})[r["horizon_months"]] = r
    for (o, c), by_h in rows.items():
        cells = [
            _e(f"{by_h[h]['probability']:.0%} [{by_h[h]['lower']:.0%}–{by_h[h]['upper']:.0%}]")
            if h in by_h
            else "-"
            for h in horizons
        ]
        verdicts = [by_h[h].get("evidence_verdict") for h in horizons if h in by_h]
        t.add_row(
            _e(o) if c is None else "",
            _e(c or "(any open)") if rows_has_candidates(rows, o) else "",
            *cells,
            " → ".join(dict.fromkeys(v for v in verdicts if v)) or "-",
        )
    return t


def rows_has_candidates(rows: dict, outcome: str) -> bool:
    return any(o == outcome and c is not None for o, c in rows)


def _headline(records: list[dict], horizon: int) -> dict[str, float]:
    """Outcome-level probability at one horizon (candidate rows left out)."""
    return {
        r["outcome"]: r["probability"]
        for r in records
        if r["candidate"] is None and r["horizon_months"] == horizon
    }


@app.command()
def history(
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Last run to list (default: the latest).")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Horizon (months) of the headline numbers.")] = 12,
    format: FormatOpt = Format.table,
) -> None:
    """Every run of a scenario: date, convergence, headline probabilities and the change since
    the run before.

    Examples:
      forecast history --runs runs
      forecast history --runs runs --scenario mini --horizon 24 --format json
    """
    from forecast.runs.update import forecast_records

    entries, prev = [], None
    for run in _select(runs, scenario, run_id):
        head = _headline(forecast_records(run), horizon)
        change = {k: v - prev[k] for k, v in head.items() if prev and k in prev}
        entries.append(
            {
                "id": run.id,
                "created_at": run.manifest["created_at"],
                "origin_date": run.manifest.get("origin_date"),
                "evidence_end": run.evidence_end,
                "converged": run.manifest["converged"],
                "evidence_rows": run.manifest.get("evidence_rows"),
                "probability": head,
                "change": change,
            }
        )
        prev = head
    if format is Format.json:
        _print_json({"horizon_months": horizon, "runs": entries})
        return
    outcomes = list(entries[-1]["probability"])
    t = Table(title=f"P(outcome within {horizon} months) by run (change since previous run)")
    t.add_column("run")
    t.add_column("origin")
    t.add_column("evidence to")
    t.add_column("converged")
    for o in outcomes:
        t.add_column(_e(o.replace("_", " ")), justify="right")
    for e in entries:
        cells = []
        for o in outcomes:
            p, c = e["probability"].get(o), e["change"].get(o)
            cells.append(
                "-" if p is None else f"{p:.0%}" + (f" ({c:+.0%})" if c is not None else "")
            )
        conv = "[green]yes[/green]" if e["converged"] else "[bold red]NO[/bold red]"
        t.add_row(_e(e["id"]), _e(e["origin_date"]), _e(e["evidence_end"]), conv, *cells)
    out.print(t)
