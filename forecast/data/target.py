"""Forecast targets: an outcome as a whole, or one of its candidates, written ``outcome:candidate``.

Evidence rows, forecast tables, posterior coordinates and the command line all name targets this
way; ``Target`` is the one place that parses and prints the text.
"""

from __future__ import annotations

from typing import NamedTuple


class Target(NamedTuple):
    """An outcome, or one candidate of it (``candidate`` None: the outcome as a whole).

    A tuple, so ``outcome, candidate = target`` unpacks it and it compares equal to the pair.
    """

    outcome: str
    candidate: str | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """``outcome`` or ``outcome:candidate`` as a target; ValueError naming the text if it is
        neither (an empty part, or more than one ``:``)."""
        outcome, sep, candidate = text.partition(":")
        if not outcome or (sep and not candidate) or ":" in candidate:
            raise ValueError(f"not a target {text!r}: write outcome or outcome:candidate")
        return cls(outcome, candidate or None)

    def __str__(self) -> str:
        return self.outcome if self.candidate is None else f"{self.outcome}:{self.candidate}"
