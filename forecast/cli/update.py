"""``forecast update``: fit the scenario to its evidence and store a dated run."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.app import (
    DEFAULT_SCENARIO,
    EXIT_BUSY,
    EXIT_NOT_CONVERGED,
    Format,
    FormatOpt,
    RootOpt,
    RunsOpt,
    SamplerChoice,
    ScenarioOpt,
    _e,
    _fail,
    _help_with,
    _inputs,
    _not_converged_banner,
    _phase_printer,
    _print_json,
    _store_warnings,
    app,
    err,
)
from forecast.inference.gate import DEFAULT_GATE

DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
EVIDENCE = "evidence"  # --origin: the last evidence date


def _origin(text: str | None) -> date | None:
    """``--origin`` as a date (default: today's UTC date), or None for ``evidence``."""
    if text is None:
        return datetime.now(UTC).date()
    if text == EVIDENCE:
        return None
    try:
        if DAY_RE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    _fail(f"--origin {text!r}: expected a date as YYYY-MM-DD, or {EVIDENCE!r}")


@app.command()
@_help_with(k_hat_max=DEFAULT_GATE.k_hat_max)
def update(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    runs: RunsOpt = Path("runs"),
    seed: Annotated[
        int,
        typer.Option(min=0, max=2**32 - 1, help="Random seed (same inputs + seed = same numbers)."),
    ] = 1,
    draws: Annotated[int, typer.Option(min=1, help="Posterior draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(min=0, help="Warm-up draws per chain.")] = 1000,
    chains: Annotated[int, typer.Option(min=1, help="Number of chains.")] = 4,
    sampler: Annotated[
        SamplerChoice, typer.Option(help="nutpie (default: low-rank NUTS) or pymc (PyMC's NUTS).")
    ] = SamplerChoice.nutpie,
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="Refits after a failed diagnostics gate, each with smaller steps (higher"
            " target_accept) and 1.5x the draws; failed attempts are kept in the manifest.",
        ),
    ] = 1,
    force: Annotated[bool, typer.Option("--force", help="Refit even if nothing changed.")] = False,
    cold: Annotated[
        bool, typer.Option("--cold", help="Always sample; never reweight a previous run.")
    ] = False,
    origin: Annotated[
        str | None,
        typer.Option(
            metavar="DATE|evidence",
            help="Day the forecasts are made on (YYYY-MM-DD; default: today, UTC): horizons end"
            " H months after its month, and the time since the evidence is forecast too."
            " 'evidence': the last evidence date.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    format: FormatOpt = Format.table,
) -> None:
    """Fit the scenario to its evidence and store a dated run forecasting from --origin.

    When only evidence rows changed since a converged run (same months, terms and sources), that
    run's posterior is reweighted by the change (Pareto-smoothed importance sampling) in seconds;
    if the reweighting fails its gate (Pareto k̂ > {k_hat_max} or too few effective draws), or with
    --cold, the model is sampled afresh. When only the origin changed (a new day, no new
    evidence), the stored posterior is projected from the new origin without refitting; the same
    inputs and origin again change nothing.

    Exit codes: 0 ok (or nothing changed), 2 bad input (an origin before the last evidence date
    or after the scenario's end, too), 3 the fit did not converge, 4 another update holds the
    store.

    Examples:
      forecast update --runs runs --seed 1
      forecast update --scenario israel_russia --quiet   # from cron
      forecast update --quiet --format json   # run id, path, fitted, converged, method
      forecast update --origin evidence   # forecast from the last evidence date
    """
    from forecast.inference.sampling import SamplerSettings
    from forecast.runs.store import RunStore, StoreBusy, StoreError
    from forecast.runs.update import OriginError, run_update

    start = _origin(origin)
    inputs = _inputs(scenario, root)
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"--runs {runs}: cannot use it as the run store ({exc.strerror or exc})")
    settings = SamplerSettings(
        sampler=sampler.value,  # type: ignore[arg-type]
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        retries=retries,
    )
    status, on_phase = _phase_printer(quiet)
    try:
        if status:
            status.start()
        with _store_warnings():
            result = run_update(
                inputs,
                RunStore(runs),
                settings,
                origin=start,
                force=force,
                cold=cold,
                on_phase=on_phase,
            )
    except OriginError as exc:
        given = "--origin" if origin is not None else "--origin (default: today, UTC)"
        _fail(f"{given}: {exc}; --origin {EVIDENCE} forecasts from the evidence's end")
    except StoreBusy as exc:
        _fail(str(exc), EXIT_BUSY)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        if status:
            status.stop()
    run = result.run
    if format is Format.json:
        _print_json(result.record())
    if not result.fitted:
        if not quiet:
            err.print(f"Nothing changed since run {_e(run.id)}; not refitting (use --force).")
    elif not quiet:
        how = f", projecting run {result.projected_from}'s fit" if result.projected_from else ""
        day = run.manifest.get("origin_date")
        err.print(f"Wrote run {_e(run.path)} (origin {_e(day)}{_e(how)})")
    if not result.converged:
        _not_converged_banner(run.manifest)
        raise typer.Exit(EXIT_NOT_CONVERGED)
