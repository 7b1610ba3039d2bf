"""The ``forecast`` command line: validate inputs, run updates, read forecasts."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from forecast.errors import InputError
from forecast.inputs import DEFAULT_SCENARIO, Inputs, load_inputs

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_BUSY = 4

app = typer.Typer(
    help="Calibrated, auditable probability forecasts of diplomatic outcomes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"


ScenarioOpt = Annotated[
    str, typer.Option("--scenario", "-s", help="Scenario name: priors/NAME.toml and data/NAME/.")
]
RootOpt = Annotated[
    Path, typer.Option("--root", help="Project folder holding priors/ and data/.")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (default) or json.")]


@app.callback()
def _root() -> None:
    """Calibrated, auditable probability forecasts of diplomatic outcomes."""


def _inputs(scenario: str, root: Path) -> Inputs:
    """Load inputs or print every located error and exit with the bad-input code."""
    try:
        return load_inputs(scenario, root)
    except InputError as exc:
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False)
        err.print(f"[red]{len(exc.problems)} problem(s) found; nothing was run.[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None


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
        out.print_json(
            json.dumps(
                {
                    "scenario": s.name,
                    "factors": s.factor_names,
                    "outcomes": s.outcome_names,
                    "indicators": list(s.indicators),
                    "evidence_rows": int(len(ev.frame)),
                    "rows_by_kind": {k: int(v) for k, v in counts.items()},
                    "date_span": list(span),
                    "files": [str(f) for f in inputs.files],
                }
            )
        )
        return
    out.print(f"[bold]{s.title}[/bold] ({s.name}) — inputs are valid")
    t = Table(show_header=False, box=None)
    t.add_row("factors", ", ".join(s.factor_names))
    t.add_row(
        "outcomes",
        ", ".join(
            f"{n} ({len(o.candidates)} candidates)" if o.candidates else n
            for n, o in s.outcomes.items()
        ),
    )
    t.add_row("indicators", ", ".join(s.indicators) or "-")
    t.add_row("evidence rows", f"{len(ev.frame)} in {len(ev.files)} file(s)")
    t.add_row("by kind", ", ".join(f"{k}: {v}" for k, v in counts.items()) or "-")
    t.add_row("date span", f"{span[0]} .. {span[1]}")
    t.add_row("horizons", ", ".join(f"{h} months" for h in s.horizons))
    out.print(t)


RunsOpt = Annotated[Path, typer.Option("--runs", help="Run store folder.")]


def _phase_printer(quiet: bool):
    """A Rich status line for long work; silent with --quiet (for cron)."""
    if quiet:
        return None, None
    status = err.status("starting", spinner="dots")
    return status, lambda msg: status.update(f"[cyan]{msg}[/cyan]")


@app.command()
def update(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    runs: RunsOpt = Path("runs"),
    seed: Annotated[int, typer.Option(help="Random seed (same inputs + seed = same numbers).")] = 1,
    draws: Annotated[int, typer.Option(help="Posterior draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Warm-up draws per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Number of chains.")] = 4,
    sampler: Annotated[str, typer.Option(help="nutpie (default) or pymc.")] = "nutpie",
    force: Annotated[bool, typer.Option("--force", help="Refit even if nothing changed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Fit the scenario to its evidence and store a dated run.

    Exit codes: 0 ok (or nothing changed), 2 bad input, 3 the fit did not converge,
    4 another update holds the store.

    Examples:
      forecast update --runs runs --seed 1
      forecast update --scenario israel_russia --quiet   # from cron
    """
    from forecast.inference import SamplerSettings
    from forecast.store import RunStore, StoreBusy
    from forecast.update import run_update

    if sampler not in ("nutpie", "pymc"):
        err.print(f"[red]--sampler must be nutpie or pymc, got {sampler!r}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    inputs = _inputs(scenario, root)
    settings = SamplerSettings(
        sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed  # type: ignore[arg-type]
    )
    status, on_phase = _phase_printer(quiet)
    try:
        if status:
            status.start()
        result = run_update(inputs, RunStore(runs), settings, force=force, on_phase=on_phase)
    except StoreBusy as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BUSY) from None
    finally:
        if status:
            status.stop()
    run = result.run
    if not result.fitted:
        if not quiet:
            err.print(f"Nothing changed since run {run.id}; not refitting (use --force).")
    elif not quiet:
        err.print(f"Wrote run {run.path}")
    if not result.converged:
        _not_converged_banner(run.manifest)
        raise typer.Exit(EXIT_NOT_CONVERGED)


def _not_converged_banner(manifest: dict) -> None:
    diag = manifest.get("diagnostics", {})
    err.print(
        "[bold white on red] NOT CONVERGED [/bold white on red] "
        "[red]this posterior failed the diagnostics gate; do not rely on its numbers:[/red]"
    )
    for p in diag.get("problems", []):
        err.print(f"[red]  - {p}[/red]")


@app.command()
def summary(
    runs: RunsOpt = Path("runs"),
    format: FormatOpt = Format.table,
) -> None:
    """Print the latest run's forecasts with its convergence status.

    Examples:
      forecast summary --runs runs
      forecast summary --runs runs --format json | jq '.forecasts[0]'
    """
    from forecast.store import RunStore, StoreError
    from forecast.update import forecast_records

    store = RunStore(runs)
    try:
        run = store.latest()
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if run is None:
        err.print(f"[red]No runs in {runs}; run `forecast update --runs {runs}` first.[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    m = run.manifest
    records = forecast_records(run)
    if format is Format.json:
        keys = ("created_at", "scenario", "input_hash", "seed", "origin_date", "wall_time_s")
        body = {
            "run": {"id": run.id, "converged": m["converged"], "diagnostics": m["diagnostics"],
                    **{k: m.get(k) for k in keys}},
            "forecasts": records,
        }
        out.print_json(json.dumps(body))
        return
    if m["converged"]:
        d = m["diagnostics"]
        out.print(
            f"[bold]Run {run.id}[/bold] ({m['scenario']}, evidence to {m['origin_date']}) "
            f"[green]converged[/green]: R-hat {d['max_rhat']:.3f}, "
            f"min ESS {min(d['min_ess_bulk'], d['min_ess_tail']):.0f}, 0 divergences"
        )
    else:
        out.print(f"[bold]Run {run.id}[/bold] ({m['scenario']})")
        _not_converged_banner(m)
    horizons = sorted({r["horizon_months"] for r in records})
    t = Table(title="P(outcome by horizon) — mean [90% interval]")
    t.add_column("outcome")
    t.add_column("candidate")
    for h in horizons:
        t.add_column(f"{h} mo", justify="right")
    rows: dict[tuple, dict] = {}
    for r in records:
        rows.setdefault((r["outcome"], r["candidate"]), {})[r["horizon_months"]] = r
    for (o, c), by_h in rows.items():
        cells = [
            f"{by_h[h]['probability']:.0%} [{by_h[h]['lower']:.0%}–{by_h[h]['upper']:.0%}]"
            for h in horizons
        ]
        t.add_row(o if c is None else "", c or "(any open)" if rows_has_candidates(rows, o) else "",
                  *cells)
    out.print(t)


def rows_has_candidates(rows: dict, outcome: str) -> bool:
    return any(o == outcome and c is not None for o, c in rows)


def main() -> None:  # pragma: no cover - console entry
    app()
