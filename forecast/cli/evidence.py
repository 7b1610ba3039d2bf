"""``forecast evidence add`` (append one validated row to the evidence log) and ``forecast
evidence import`` (measured exports → sourced evidence files, through a mapping file)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    _print_json,
    _scenario_name,
    app,
    out,
)

if TYPE_CHECKING:
    from forecast.data.importing import ImportResult

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
    published: Annotated[
        str, typer.Option(help="Day the fact became public, if later than --date (YYYY-MM-DD).")
    ] = "",
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
        "published": published,
        "note": note,
    }
    for key, text in row.items():
        # forecast.data.append writes a lone "\r" unquoted and then cannot parse its own row back
        if "\r" in text:
            _fail(f"--{key.replace('_', '-')} {text!r}: carriage returns (\\r) are not allowed")
    try:
        n = append_row(toml, data, file, row)
    except InputError as exc:
        _bad_input(exc, "Row refused ({n} problem(s)); the log is unchanged.")
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename or data}: cannot add the row ({exc.strerror or exc})")
    out.print(
        f"Added {_e(data / file)}:{n} ({_e(kind)} {_e(target)} = {_e(value)})."
        " Run `forecast update` to refit."
    )


@evidence_app.command("import")
def evidence_import(
    mapping: Annotated[
        Path,
        typer.Argument(help="Mapping file (TOML): which export feeds which indicator or outcome."),
    ],
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            "-s",
            help="Scenario name: priors/NAME.toml and data/NAME/ (default: the mapping's"
            f" 'scenario', else {DEFAULT_SCENARIO}).",
        ),
    ] = None,
    root: RootOpt = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and compare; write nothing.")
    ] = False,
    format: FormatOpt = Format.table,
) -> None:
    """Import measured exports (ACLED, UCDP, any dated series, crowd histories) as sourced rows.

    Each [sources.NAME] of the mapping becomes data/SCENARIO/import_NAME.csv, validated with the
    whole log and written atomically under the scenario lock; importing the same export again
    changes nothing, a longer one adds only its new rows.

    Examples:
      forecast evidence import imports/israel_russia_measured.toml --dry-run
      forecast evidence import imports/mine.toml --scenario mine --format json
    """
    from forecast.data.importing import import_evidence

    try:
        result = import_evidence(
            mapping,
            scenario=_scenario_name(scenario) if scenario is not None else None,
            root=root,
            dry_run=dry_run,
        )
    except InputError as exc:
        _bad_input(exc, "Import refused ({n} problem(s)); no evidence file was changed.")
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename or mapping}: cannot import ({exc.strerror or exc})")
    if format is Format.json:
        _print_json(_import_json(result))
        return
    for s in result.sources:
        out.print(
            f"{_e(s.name)} ({s.kind}) -> {_e(s.evidence_file)}: {s.status}, {s.rows} rows"
            f" ({s.added} added, {s.changed} changed, {s.removed} removed)",
            soft_wrap=True,
            highlight=False,
        )
    for s in result.sources:
        if s.skipped:
            left = ", ".join(f"{n} {why}" for why, n in s.skipped.items())
            out.print(f"{_e(s.name)}: export rows left out: {_e(left)}", soft_wrap=True)
        for c in s.changes:
            out.print(
                f"{_e(s.name)} {_e(c.key)}: {_e(c.column)} {_e(c.old)} -> {_e(c.new)}",
                soft_wrap=True,
            )
    if result.dry_run:
        out.print("Dry run: nothing was written.")
    elif result.written:
        out.print(f"Wrote {len(result.written)} file(s). Run `forecast update` to refit.")
    else:
        out.print("Nothing changed.")


def _import_json(result: ImportResult) -> dict:
    """The result as JSON-ready values (paths as text)."""
    return {
        "mapping": str(result.mapping),
        "scenario": result.scenario,
        "dry_run": result.dry_run,
        "written": [str(p) for p in result.written],
        "sources": [
            {
                **{k: v for k, v in asdict(s).items() if k not in ("source_file", "evidence_file")},
                "source_file": str(s.source_file),
                "evidence_file": str(s.evidence_file),
            }
            for s in result.sources
        ],
    }
