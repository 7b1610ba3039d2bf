"""What some tests need from outside the repository, and what happens when it is missing.

On a new machine a missing Chromium or ``../shared`` skips the tests that need it, with a reason
that says how to enable them. CI sets ``FORECAST_REQUIRE_ALL=1``: there a missing need fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CHROMIUM = Path(os.environ.get("FORECAST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_ALL = os.environ.get("FORECAST_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    """Skip the calling test, or fail it where CI requires everything to run."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (FORECAST_REQUIRE_ALL=1: this test must run here)")
    pytest.skip(reason)


def shared_data(sub: str = "") -> Path:
    """``../shared/data/<sub>`` beside the repository, or skip (fail in CI) without it."""
    path = SHARED_DATA / sub
    if not path.exists():
        missing(f"{path} not found: put the project's shared/ folder beside the repository")
    return path


def chromium() -> Path:
    """Debian's Chromium for the browser test, or skip (fail in CI) without it."""
    if os.environ.get("FORECAST_SKIP_BROWSER"):
        missing("FORECAST_SKIP_BROWSER is set")
    if not CHROMIUM.is_file():
        missing(
            f"{CHROMIUM} not found: `apt-get install chromium` (or set FORECAST_CHROMIUM to a"
            " Chromium binary) to run the browser test"
        )
    return CHROMIUM
