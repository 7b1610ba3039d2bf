"""``forecast hindcast``: the scenario's own track record, refitted as of past months."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.app import (
    DEFAULT_SCENARIO,
    Format,
    FormatOpt,
    RootOpt,
    ScenarioOpt,
    _e,
    _fail,
    _inputs,
    _phase_printer,
    app,
    err,
    out,
)


@app.command()
def hindcast(
    start: Annotated[str, typer.Option(help="First origin month (YYYY-MM).")],
    end: Annotated[
        str | None, typer.Option(help="Last origin month (YYYY-MM; default: the current month).")
    ] = None,
    every: Annotated[int, typer.Option(min=1, help="Months between origins.")] = 1,
    horizons: Annotated[
        str, typer.Option(help="Months after each origin month, comma-separated.")
    ] = "6,12",
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    out_dir: Annotated[
        Path, typer.Option("--out", help="Results folder (keeps each origin; reruns resume).")
    ] = Path("hindcast"),
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Random seed.")] = 1,
    format: FormatOpt = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """What the scenario would have said on the 1st of each past month, scored against what
    happened.

    At each origin the scenario is fitted to the evidence public before that day only, with its
    numbers chosen in hindsight replaced (initial levels, candidate offsets, indicator centres:
    listed in scores.json), and forecasts every outcome by each horizon; the scenario fitted to
    no evidence is scored beside it. Each origin is kept in --out as soon as it is done, so an
    interrupted run resumes and a rerun with the same inputs refits nothing. With --format json
    the last line is one JSON object (scores per horizon).

    Examples:
      forecast hindcast --start 2023-01 --end 2026-10 --out hindcast
      forecast hindcast --start 2023-01 --every 3 --out hindcast   # quarterly, then fill in
      forecast report --runs runs --hindcast hindcast --out report
    """
    import pandas as pd

    from forecast.inference.sampling import SamplerSettings
    from forecast.report.hindcast_report import print_hindcast, write_hindcast
    from forecast.skill.hindcast import HindcastSettings, run_hindcast

    try:
        months = [pd.Period(x, "M") for x in (start, end or pd.Timestamp.today().strftime("%Y-%m"))]
    except ValueError:
        _fail(f"--start and --end must be months like 2023-01, got {start!r}, {end!r}")
    try:
        hs = tuple(sorted({int(x) for x in horizons.split(",") if x.strip()}))
        if not hs or min(hs) < 1:
            raise ValueError
    except ValueError:
        _fail(f"--horizons must be whole months >= 1, comma-separated, got {horizons!r}")
    if months[1] < months[0]:
        _fail(f"--end {months[1]} is before --start {months[0]}")
    inputs = _inputs(scenario, root)
    s = inputs.scenario
    if months[0].start_time.date() <= s.start_date or months[1].end_time.date() > s.end_date:
        _fail(f"origins must be inside the scenario's months after its first ({s.start}..{s.end})")
    settings = HindcastSettings(
        start=str(months[0]),
        end=str(months[1]),
        every=every,
        horizons=hs,
        sampler=SamplerSettings(seed=seed, retries=1),
    )
    status, on_phase = _phase_printer(quiet)
    try:
        if status:
            status.start()
        result = run_hindcast(inputs, settings, out_dir, on_phase=on_phase)
    except ValueError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{out_dir}: cannot write there ({exc.strerror or exc})")
    finally:
        if status:
            status.stop()
    write_hindcast(result, out_dir, inputs=inputs, settings=settings)
    if not quiet:
        err.print(f"Wrote {_e(out_dir)}")
    if format is Format.json:
        print(json.dumps(result.summary()))
    else:
        print_hindcast(result, out)
