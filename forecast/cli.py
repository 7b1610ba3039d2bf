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


def main() -> None:  # pragma: no cover - console entry
    app()
