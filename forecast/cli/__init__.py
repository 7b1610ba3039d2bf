"""The command line: one Typer app (``app.py``), one module per command group registering on it."""

# Imported in the order the commands are listed by ``forecast --help``.
# isort: off
from forecast.cli import new, check, update, read, explain, report, evidence, backtest, hindcast  # noqa: F401

# isort: on
from forecast.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    app,
    unwrap_help,
)
from forecast.cli.backtest import MAX_LEAD_DAYS, SCHEDULER_TIMEOUT_S
from forecast.cli.evidence import evidence_app
from forecast.cli.explain import MAX_WHATIF_LEVEL

unwrap_help(app, evidence_app)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUSY",
    "EXIT_NOT_CONVERGED",
    "EXIT_OK",
    "MAX_LEAD_DAYS",
    "MAX_WHATIF_LEVEL",
    "SCHEDULER_TIMEOUT_S",
    "app",
]
