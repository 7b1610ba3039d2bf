"""``forecast evidence add``: append one validated row to the evidence log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.app import (
    DEFAULT_SCENARIO,
    InputError,
    RootOpt,
    ScenarioOpt,
    _e,
    _fail,
    _scenario_name,
    app,
    err,
    out,
)

evidence_app = typer.Typer(help="Work with the evidence log.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("add")
def evidence_add(
    date: Annotated[str, typer.Option(help="YYYY-MM-DD or YYYY-MM.")],
    kind: Annotated[
        str,
        typer.Option(
            help="indicator, count, rating, event, forecast, resolution or likelihood_ratio."
        ),
    ],
    target: Annotated[str, typer.Option(help="Factor, indicator, OUTCOME or OUTCOME:CANDIDATE.")],
    value: Annotated[str, typer.Option(help="The observation (see the kind's rules).")],
    source: Annotated[str, typer.Option(help="Source title.")],
    source_url: Annotated[str, typer.Option(help="Source URL(s), separated by ' ; '.")],
    file: Annotated[str, typer.Option(help="Evidence file name in data/NAME/.")] = "added.csv",
    horizon_months: Annotated[str, typer.Option(help="forecast / likelihood_ratio.")] = "",
    exposure_days: Annotated[str, typer.Option(help="count: days counted.")] = "",
    forecaster: Annotated[str, typer.Option(help="forecast: who forecast.")] = "",
    note: Annotated[str, typer.Option(help="Free text.")] = "",
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
) -> None:
    """Append one validated, sourced row to the evidence log (atomically; bad rows are refused).

    Examples:
      forecast evidence add --date 2026-08-03 --kind event --target iran_hostility --value -2 \\
        --source "Reuters: Iran and Israel agree to..." --source-url https://www.reuters.com/...
      forecast evidence add --date 2026-08 --kind forecast --target israel_iran_thaw --value 0.08 \\
        --horizon-months 12 --forecaster metaculus --source "Metaculus Q123" --source-url https://...
    """
    from forecast.data.append import append_row
    from forecast.data.inputs import scenario_paths

    toml, data = scenario_paths(_scenario_name(scenario), root)
    row = {
        "date": date,
        "kind": kind,
        "target": target,
        "value": value,
        "source": source,
        "source_url": source_url,
        "horizon_months": horizon_months,
        "exposure_days": exposure_days,
        "forecaster": forecaster,
        "note": note,
    }
    for key, text in row.items():
        # forecast.data.append writes a lone "\r" unquoted and then cannot parse its own row back
        if "\r" in text:
            _fail(f"--{key.replace('_', '-')} {text!r}: carriage returns (\\r) are not allowed")
    try:
        n = append_row(toml, data, file, row)
    except InputError as exc:
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False)
        _fail(f"Row refused ({len(exc.problems)} problem(s)); the log is unchanged.")
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename or data}: cannot add the row ({exc.strerror or exc})")
    out.print(
        f"Added {_e(data / file)}:{n} ({_e(kind)} {_e(target)} = {_e(value)})."
        " Run `forecast update` to refit."
    )
