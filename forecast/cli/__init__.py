"""The command line: one Typer app (``app.py``) with one module per command group."""

from forecast.cli.app import app

__all__ = ["app"]
