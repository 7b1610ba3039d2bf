"""The ``forecast`` command line: the Typer app, exit codes, shared options and helpers.

Each command group lives in its own module (``new``, ``check``, ``update``, ``read``,
``explain``, ``report``, ``evidence``, ``backtest``, ``hindcast``) and registers its commands on
``app``; ``forecast.cli`` imports them all. No input gives a traceback: bad input exits 2 with a
message. Text that comes from users, files, runs or exceptions is never parsed as Rich markup: it
is embedded escaped (``_e``) or printed with markup off (``_fail``), so a ``[/red]`` in a source
title is shown as written.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from forecast.data.errors import InputError, one_line
from forecast.data.inputs import DEFAULT_SCENARIO, Inputs, load_inputs

if TYPE_CHECKING:
    from forecast.runs.store import Run

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
# emoji off: a ":smile:" in a source title is text, not an emoji code
out = Console(emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)


def _e(value: object) -> str:
    """Text from a user, a file, a run or an exception, made safe to embed in Rich markup: shown
    literally (markup escaped) on one line (control characters written as escapes)."""
    return escape(one_line(str(value)))


def _help_with(**values: object) -> Callable[[Callable], Callable]:
    """Fill ``{name}`` fields of a command's docstring (its ``--help``) from ``values``: the help
    quotes numbers defined elsewhere (the diagnostics gate's limits) instead of copying them."""

    def fill(command: Callable) -> Callable:
        command.__doc__ = (command.__doc__ or "").format(**values)
        return command

    return fill


def unwrap(doc: str) -> str:
    """A docstring as help text: each paragraph's lines joined (the terminal wraps them, Typer
    would keep the source's line breaks), indented lines (examples) kept one per line."""
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith(" ") and not lines[-1].startswith(" "):
                lines[-1] += " " + line
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def unwrap_help(*apps: typer.Typer) -> None:
    """Give every command registered on ``apps`` its docstring, unwrapped, as help."""
    for a in apps:
        for info in a.registered_commands:
            doc = info.help or (info.callback.__doc__ if info.callback else None)
            if doc:
                info.help = unwrap(doc)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``message`` on stderr in red, literally (never parsed as markup), and exit."""
    err.print(one_line(message), style="red", markup=False, highlight=False)
    raise typer.Exit(code)


def _finite(value: object) -> object:
    """``value`` with every NaN or infinite float replaced by ``None``: JSON has no such numbers
    (Python would write ``NaN``/``Infinity``, which JSON parsers refuse)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _print_json(body: dict) -> None:
    out.print_json(json.dumps(_finite(body), allow_nan=False))


@contextmanager
def _store_warnings() -> Iterator[None]:
    """Print each run the store skips as unreadable (``CorruptRunWarning``) once, in yellow on
    stderr, as it happens; other warnings are shown as usual."""
    from forecast.runs.store import CorruptRunWarning

    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", CorruptRunWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, CorruptRunWarning):
                return shown(message, category, filename, lineno, file, line)
            if str(message) not in seen:
                seen.add(str(message))
                err.print(f"warning: {one_line(str(message))}", style="yellow", markup=False)

        warnings.showwarning = show
        yield


def _scenario_name(name: str) -> str:
    """``--scenario`` as used in file paths (``priors/NAME.toml``): refuse what no file can be."""
    if not name or "\0" in name:
        _fail(f"--scenario {name!r}: not a scenario name")
    return name


class Format(StrEnum):
    table = "table"
    json = "json"


class SamplerChoice(StrEnum):
    nutpie = "nutpie"
    pymc = "pymc"


ScenarioOpt = Annotated[
    str, typer.Option("--scenario", "-s", help="Scenario name: priors/NAME.toml and data/NAME/.")
]
RootOpt = Annotated[Path, typer.Option("--root", help="Project folder holding priors/ and data/.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (default) or json.")]


def _print_version(value: bool) -> None:
    if value:
        from forecast import __version__

        out.print(f"forecast {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Calibrated, auditable probability forecasts of diplomatic outcomes."""


def _inputs(scenario: str, root: Path) -> Inputs:
    """Load inputs or print every located error and exit with the bad-input code."""
    try:
        return load_inputs(_scenario_name(scenario), root)
    except InputError as exc:
        _bad_input(exc)
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename or root}: cannot read the inputs ({exc.strerror or exc})")


def _bad_input(
    exc: InputError, summary: str = "{n} problem(s) found; nothing was run."
) -> NoReturn:
    """Print every located problem, then ``summary`` (``{n}``: how many) in red, and exit with
    the bad-input code."""
    for p in exc.problems:
        err.print(str(p), markup=False, highlight=False)
    _fail(summary.format(n=len(exc.problems)))


RunsOpt = Annotated[Path, typer.Option("--runs", help="Run store folder.")]
ReadScenarioOpt = Annotated[
    str | None,
    typer.Option(
        "--scenario",
        "-s",
        help=f"Scenario whose runs to read (default: {DEFAULT_SCENARIO}, or that of --run);"
        " runs of other scenarios are never mixed in.",
    ),
]
RunOpt = Annotated[
    str | None,
    typer.Option("--run", help="Run id to read (default: the scenario's latest run)."),
]


def _phase_printer(quiet: bool):
    """Progress of long work on stderr (``forecast.cli.progress``); nothing with --quiet."""
    from forecast.cli.progress import Phases

    if quiet:
        return None, None
    phases = Phases(err)
    return phases, phases


def _not_converged_banner(manifest: dict) -> None:
    diag = manifest.get("diagnostics", {})
    err.print(
        "[bold white on red] NOT CONVERGED [/bold white on red] "
        "[red]this posterior failed the diagnostics gate; do not rely on its numbers:[/red]"
    )
    problems = diag.get("problems", []) if isinstance(diag, dict) else []
    for p in problems if isinstance(problems, list) else [problems]:
        err.print(f"[red]  - {_e(p)}[/red]")


def _select(
    runs: Path, scenario: str | None, run_id: str | None, last: int | None = None
) -> list[Run]:
    """The runs a read command shows, oldest first, the chosen one last (see
    ``RunStore.select``); never runs of another scenario. Exits with the bad-input code and a
    clear message if there are none, ``run_id`` is unknown, or a run was altered."""
    from forecast.runs.store import RunStore, StoreError

    store = RunStore(runs)
    with _store_warnings():
        try:
            if scenario is None:
                scenario = store.load(run_id, verify=False).scenario if run_id else DEFAULT_SCENARIO
            found = store.select(scenario, run_id, last=last)
        except StoreError as exc:
            _fail(str(exc))
        if not found:
            others = [s for s in store.scenarios() if s != scenario]
            if others:
                _fail(
                    f"No runs in {runs} for scenario {scenario!r}; it has runs of"
                    f" {', '.join(others)} (choose one with --scenario)."
                )
            _fail(
                f"No runs in {runs} for scenario {scenario!r}; run"
                f" `forecast update --scenario {scenario} --runs {runs}` first."
            )
    return found
