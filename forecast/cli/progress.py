"""Progress of long work on stderr: on a terminal a live line with the phase, its elapsed time and,
for "k of N" phases, an estimate of the time left; elsewhere (cron logs, pipes) one line per phase
stamped with the UTC time, so a log says when each step happened and how long it took."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from forecast.data.errors import one_line

K_OF_N = re.compile(r"\b(\d+) of (\d+)\b")
# a counted step that did no work (a hindcast origin read from its cache) says so; it takes no
# time, so it must not make the steps still to do look quick
REUSED = re.compile(r"\breused\b")


def _group(message: str) -> str:
    """The phase a message belongs to: for counted steps, the words before the first number and
    the count ("origin 2023-04: fitted (4 of 38 done)" -> "origin  of 38"); else the message."""
    m = K_OF_N.search(message)
    return message if m is None else f"{re.split(r'[0-9]', message, maxsplit=1)[0]} of {m[2]}"


def eta(elapsed: float, k: int, n: int, reused: int = 0) -> float | None:
    """Seconds left after ``k`` of ``n`` equal steps, ``reused`` of them without work, took
    ``elapsed`` seconds (None before a step that did work)."""
    worked = k - reused
    return elapsed / worked * (n - k) if worked > 0 and k <= n else None


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


class Phases:
    """Callable with each phase's message; ``start`` and ``stop`` bracket the work."""

    def __init__(
        self,
        console: Console,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.clock, self.now = clock, now
        self.group: str | None = None
        self.since = self.last = clock()
        self.reused = 0  # counted steps of this phase that did no work
        self.progress: Progress | None = None
        self.task = None
        if self.live:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("[cyan]{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.task = self.progress.add_task("starting", total=None)

    def start(self) -> None:
        self.since = self.last = self.clock()
        if self.progress is not None:
            self.progress.start()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def text(self, message: str) -> str:
        """The message with the time left appended when it counts steps ("k of N")."""
        m = K_OF_N.search(message)
        left = eta(self.clock() - self.since, int(m[1]), int(m[2]), self.reused) if m else None
        return message if left is None else f"{message}, about {_seconds(left)} left"

    def __call__(self, message: str) -> None:
        message = one_line(message)
        group, now = _group(message), self.clock()
        if group != self.group:
            # a new phase starts now; counted steps ("1 of 9 done") started at the last message
            self.group, self.since = group, self.last if K_OF_N.search(message) else now
            self.reused = 0
            if self.progress is not None:
                self.progress.reset(self.task)
        if K_OF_N.search(message) and REUSED.search(message):
            self.reused += 1
            self.since += now - self.last  # its (short) time is not a step's time
        self.last = now
        text = self.text(message)
        if self.progress is not None:
            self.progress.update(self.task, description=escape(text))
        else:
            stamp = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            self.console.print(f"{stamp} {text}", markup=False, highlight=False)
