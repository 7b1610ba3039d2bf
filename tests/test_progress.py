"""Progress lines of long commands: a timestamped line per phase in logs, with the time left for
counted steps; a live line on a terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from forecast.cli.progress import Phases, eta


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def log_phases() -> tuple[Phases, Clock, io.StringIO]:
    buf = io.StringIO()
    clock = Clock()
    at = datetime(2026, 12, 2, 17, 40, 1, tzinfo=UTC)
    phases = Phases(Console(file=buf, width=200), live=False, clock=clock, now=lambda: at)
    return phases, clock, buf


def test_eta():
    assert eta(30.0, 1, 4) == pytest.approx(90.0)
    assert eta(30.0, 3, 3) == 0.0
    assert eta(30.0, 0, 3) is None
    assert eta(30.0, 3, 4, reused=2) == pytest.approx(30.0)  # one step did work in 30 s
    assert eta(30.0, 2, 4, reused=2) is None


def test_reused_steps_do_not_make_the_rest_look_quick():
    """A resumed hindcast reads most origins from its cache in no time: the estimate comes from
    the steps that were fitted (it said "about 0 s left" before)."""
    phases, clock, buf = log_phases()
    phases.start()
    phases("hindcast: 10 origins")
    for k in (1, 2, 3):
        clock.t += 0.1
        phases(f"origin 2023-0{k}: reused ({k} of 10 done)")
    clock.t += 100
    phases("origin 2023-04: fitted (4 of 10 done)")
    clock.t += 0.1
    phases("origin 2023-05: reused (5 of 10 done)")
    lines = buf.getvalue().splitlines()
    assert [line.endswith(f"reused ({k} of 10 done)") for k, line in enumerate(lines[1:4], 1)] == [
        True
    ] * 3  # no estimate before a step did work
    assert lines[4].endswith("fitted (4 of 10 done), about 10.0 min left")
    assert lines[5].endswith("reused (5 of 10 done), about 8.3 min left")


def test_log_lines_are_timestamped_and_counted_steps_say_the_time_left():
    phases, clock, buf = log_phases()
    phases.start()
    phases("2 scenario fits [/red] $x$")  # user-looking text is printed literally
    clock.t += 40
    phases("scenario fit 1 of 4 done")  # the step started at the previous message
    clock.t += 20
    phases("scenario fit 2 of 4 done")
    clock.t += 5
    phases("compiling model")
    clock.t += 50
    phases("calibration fit 1 of 200 done")
    assert buf.getvalue().splitlines() == [
        "2026-12-02T17:40:01Z 2 scenario fits [/red] $x$",
        "2026-12-02T17:40:01Z scenario fit 1 of 4 done, about 2.0 min left",
        "2026-12-02T17:40:01Z scenario fit 2 of 4 done, about 60 s left",
        "2026-12-02T17:40:01Z compiling model",
        "2026-12-02T17:40:01Z calibration fit 1 of 200 done, about 165.8 min left",
    ]


def test_on_a_terminal_the_line_is_live_and_leaves_nothing_behind():
    buf = io.StringIO()
    phases = Phases(Console(file=buf, force_terminal=True, width=100), clock=Clock())
    assert phases.live
    phases.start()
    phases("compiling model [bold]")
    assert phases.progress.tasks[0].description == "compiling model \\[bold]"
    phases.stop()
    assert "\n2026" not in buf.getvalue()  # no log lines


def test_quiet_prints_nothing():
    from forecast.cli.app import _phase_printer

    assert _phase_printer(True) == (None, None)
