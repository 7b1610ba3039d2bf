"""``forecast new`` (write a commented starter scenario and evidence folder) and ``forecast
schema`` (print the JSON Schema of scenario files, for editors)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from forecast.cli.app import RootOpt, _bad_input, _e, _fail, app, out
from forecast.data.errors import InputError


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Scenario name: lowercase letters, digits and _.")],
    root: RootOpt = Path("."),
) -> None:
    """Write a commented, valid starter scenario priors/NAME.toml and data/NAME/evidence.csv.

    Never overwrites: if either file exists, nothing is written and the exit code is 2. Also
    writes priors/scenario.schema.json (the JSON Schema editors check the TOML against) if missing.

    Examples:
      forecast new gulf_normalization
      forecast new gulf --root ~/scenarios   # then: forecast check -s gulf --root ~/scenarios
    """
    from forecast.data.starter import write_starter

    try:
        written = write_starter(name, root)
    except InputError as exc:
        _bad_input(exc, "nothing was written.")
    except OSError as exc:
        _fail(f"{exc.filename or root}: cannot write the starter ({exc.strerror or exc})")
    for path in written:
        out.print(f"wrote {_e(path)}", highlight=False, soft_wrap=True)
    where = "" if root == Path(".") else f" --root {root}"
    out.print(
        f"Next: replace every TODO, then `forecast check --scenario {_e(name)}{_e(where)}`.",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (priors/NAME.toml), generated from the code.

    The repository keeps a copy in priors/scenario.schema.json; point Taplo (VS Code: Even Better
    TOML) at it with a first line `#:schema ./scenario.schema.json` in a scenario file.

    Examples:
      forecast schema > priors/scenario.schema.json
    """
    from forecast.data.starter import scenario_schema_text

    sys.stdout.write(scenario_schema_text())
