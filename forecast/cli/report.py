"""``forecast report``: a self-contained HTML report of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.app import (
    InputError,
    ReadScenarioOpt,
    RunOpt,
    RunsOpt,
    _bad_input,
    _e,
    _fail,
    _not_converged_banner,
    _select,
    app,
    err,
)


@app.command()
def report(
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write index.html into.")] = Path(
        "report"
    ),
    backtest: Annotated[
        Path | None,
        typer.Option(help="A `forecast backtest --out` folder: adds the track record."),
    ] = None,
    hindcast: Annotated[
        Path | None,
        typer.Option(help="A `forecast hindcast --out` folder: adds what it said over time."),
    ] = None,
) -> None:
    """Write a self-contained HTML report of a run (default: the scenario's latest run) in one
    folder, no network needed.

    Headline forecasts with intervals, convergence in plain words, the track record (with
    --backtest), what the model said at each past month (with --hindcast), the forecast history,
    factor paths, what moved since the previous run and its evidence, the evidence log and the
    manifest.

    Examples:
      forecast report --runs runs --out report
      forecast report --runs runs --out shared/forecast-report   # then send the folder
      forecast report --runs runs --backtest backtest --out report   # with the track record
      forecast report --runs runs --hindcast hindcast --out report   # what it said over time
    """
    from forecast.report.hindcast_report import read_hindcast
    from forecast.report.html import write_report
    from forecast.report.track_record import read_backtest

    found = _select(runs, scenario, run_id)
    try:
        record = read_backtest(backtest) if backtest is not None else None
        said = read_hindcast(hindcast) if hindcast is not None else None
        page = write_report(found, out, backtest=record, hindcast=said)
    except OSError as exc:
        _fail(f"{out}: cannot write the report ({exc.strerror or exc})")
    except InputError as exc:
        _bad_input(exc)
    if not found[-1].manifest["converged"]:
        _not_converged_banner(found[-1].manifest)
    err.print(f"Wrote {_e(page)}")
