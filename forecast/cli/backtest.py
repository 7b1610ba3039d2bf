"""``forecast backtest``: rolling-origin backtest on resolved questions (Dask optional)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.app import (
    DEFAULT_SCENARIO,
    Format,
    FormatOpt,
    InputError,
    RootOpt,
    ScenarioOpt,
    _bad_input,
    _e,
    _fail,
    _inputs,
    _phase_printer,
    app,
    err,
    out,
)

# Backtest leads are days before a question resolves; ten years covers any question's lifetime,
# and date arithmetic overflows far beyond it.
MAX_LEAD_DAYS = 3650
SCHEDULER_TIMEOUT_S = 10  # how long to try to reach a --scheduler before giving up


@app.command()
def backtest(
    questions: Annotated[Path, typer.Option(help="Question file (CSV, one row per question).")],
    crowd: Annotated[Path, typer.Option(help="Crowd probability history (CSV).")],
    leads: Annotated[
        str, typer.Option(help="Days before each question's scheduled close, comma-separated.")
    ] = "7,30",
    calendar_days: Annotated[
        str,
        typer.Option(
            help="Days of the month to forecast on while a question is open, comma-separated, "
            "or 'none'."
        ),
    ] = "1,15",
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write forecasts, scores and plots here.")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler (default: local).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local Dask worker processes.")] = 2,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Random seed (fits and bootstrap).")
    ] = 1,
    factors: Annotated[
        bool, typer.Option(help="Use scenario factor fits (--no-factors: crowd calibration only).")
    ] = True,
    hindsight: Annotated[
        bool,
        typer.Option(
            "--hindsight",
            help="Also use scenario fits at origins before the scenario's vintage date (flagged: "
            "those forecasts see numbers chosen with later data).",
        ),
    ] = False,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="DATE",
            help="Fit the scenario as it could have been written on this day (YYYY-MM-DD): "
            "numbers chosen with later data are replaced (see `forecast hindcast`), and its "
            "fits serve the origins after it.",
        ),
    ] = None,
    format: FormatOpt = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Rolling-origin backtest on resolved questions, scored against the crowd and baselines.

    Each question is forecast on the 1st and 15th of every month it is open (scores averaged over
    those origins per question) and at each lead before its scheduled close; a forecast uses only
    evidence, crowd points and resolved questions from before its origin month. With --format json
    the last line is one JSON object: scores per lead ("leads") and over calendar origins
    ("calendar").

    Examples:
      forecast backtest --questions ../shared/data/questions/questions_dev.csv \\
          --crowd ../shared/data/questions/crowd_series_dev.csv --leads 7,30 --out backtest
      forecast backtest --questions q.csv --crowd c.csv --scheduler tcp://10.0.0.5:8786
    """
    from forecast.data.questions import load_questions
    from forecast.report.backtest_report import print_scores, write_backtest
    from forecast.skill.backtest import BacktestSettings, run_backtest
    from forecast.skill.links import links_path, load_links

    try:
        lead_days = tuple(sorted({int(x) for x in leads.split(",") if x.strip()}))
        if not lead_days or min(lead_days) < 0 or max(lead_days) > MAX_LEAD_DAYS:
            raise ValueError
    except ValueError:
        _fail(f"--leads must be whole days 0..{MAX_LEAD_DAYS}, comma-separated, got {leads!r}")
    try:
        days = () if calendar_days.strip() == "none" else _days(calendar_days)
    except ValueError:
        _fail(
            f"--calendar-days must be days 1..31, comma-separated, or 'none', got {calendar_days!r}"
        )
    inputs = _inputs(scenario, root)
    try:
        qs = load_questions(questions, crowd)
        links = load_links(links_path(scenario, root), inputs.scenario)
    except InputError as exc:
        _bad_input(exc)
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename}: cannot read it ({exc.strerror or exc})")
    settings = BacktestSettings(
        leads=lead_days,
        calendar_days=days,
        seed=seed,
        use_factors=factors,
        hindsight=hindsight,
        as_of=as_of.date() if as_of is not None else None,
    )
    status, on_phase = _phase_printer(quiet)
    client = _dask_client(scheduler, workers)
    try:
        if status:
            status.start()
        result = run_backtest(qs, inputs, links, settings, client=client, on_phase=on_phase)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        if status:
            status.stop()
        client.close()
    if out_dir is not None:
        write_backtest(
            result,
            out_dir,
            inputs=inputs,
            extra_files=[questions, crowd, links_path(scenario, root)],
            settings=settings,
        )
        if not quiet:
            err.print(f"Wrote {_e(out_dir)}")
    if format is Format.json:
        print(json.dumps(result.summary()))
    else:
        print_scores(result, out)


def _days(text: str) -> tuple[int, ...]:
    """Sorted distinct days of the month from ``"1,15"``; ``ValueError`` if any is not 1..31."""
    days = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    if not days or not all(1 <= d <= 31 for d in days):
        raise ValueError(text)
    return days


def _dask_client(scheduler: str | None, workers: int):
    """A client of the given Dask scheduler, or of a new local cluster of worker processes.

    Not set as dask's default: the backtest uses it explicitly, and a client that fails to connect
    must not leave dask's global scheduler pointing at it (xarray's netCDF writer would then ask
    for a client that does not exist).

    A scheduler that cannot be reached within ``SCHEDULER_TIMEOUT_S`` (or a malformed address)
    exits with the bad-input code.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
        except Exception as exc:  # any failure to connect: bad address, refused, timed out
            _fail(
                f"--scheduler {scheduler!r}: cannot connect to a Dask scheduler there"
                f" ({type(exc).__name__}: {exc})"
            )
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster, set_as_default=False)
