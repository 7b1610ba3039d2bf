"""Resolved forecasting questions and the crowd's probability history for each, validated.

A question file has one row per binary question (``platform``, ``id``, ``title``, ``topic_tags``,
dates, ``resolution``); a crowd file has one row per crowd probability (``platform``, ``id``,
``date``, ``prob_yes``). Both are the format of ``../shared/data/questions/``; other columns are
ignored. Bad input is reported as ``<file>:<row>: <field>: <message>``, every problem at once, with
``<row>`` the row a spreadsheet shows (``forecast.data.table``).

Rules, beyond the columns being there:

- Question dates (``open_date``, ``close_date``, ``resolve_date``, ``lead_ref_date``) are
  ``YYYY-MM-DD`` or empty; close, resolve and lead reference dates may not precede the open date.
- Crowd dates are ``YYYY-MM-DD``, optionally with a time (``YYYY-MM-DD HH:MM[:SS[.f]]``, ``T``
  also accepted as separator, with an optional ``Z`` or ``+HH:MM`` offset, converted to UTC); a
  crowd point belongs to the UTC day it was made on.
- ``prob_yes`` is a plain decimal number in [0, 1]; every crowd point names a question of the
  question file.
- A crowd series may be listed in any order: it is sorted by time (per question, stable, so rows
  at the same time keep their file order). A row that repeats the point before it in that order
  (same question, time and probability) is dropped. Several different probabilities at the same
  time are accepted only in a series listed in time order, where they are that day's successive
  updates and the last row counts (the dev files list Metaculus updates this way, dated to the
  day); in a series out of time order their order is unknown, and each is an error.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.errors import InputError, Problem
from forecast.data.rules import NUMBER_RE
from forecast.data.table import Row, read_table

QUESTION_COLUMNS = ("platform", "id", "title", "topic_tags", "resolution")
CROWD_COLUMNS = ("platform", "id", "date", "prob_yes")
QUESTION_DATES = ("open_date", "close_date", "resolve_date", "lead_ref_date")
REFERENCE_COLUMNS = ("lead_ref_date", "resolve_date", "close_date")  # in order of preference
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
STAMP_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?$",
    re.ASCII,
)


@dataclass(frozen=True)
class Questions:
    """Questions keyed ``platform:id`` and their crowd series, both as tidy frames.

    ``questions`` columns: key, title, tags (tuple of topic tags), open (date or NaT), close
    (the scheduled close, or NaT), reference (the file's date to count leads from: for a question
    that resolved early, the day of the event), end (the last day the question was open: the
    earliest of close, resolution and reference), resolved (when the outcome was known at the
    latest: the later of the resolution date and the reference), resolution (0/1 or NaN if
    unresolved).
    ``crowd`` columns: key, date (the UTC day), p — sorted by key then time.
    """

    questions: pd.DataFrame
    crowd: pd.DataFrame

    def crowd_at(self, key: str, when: pd.Timestamp) -> tuple[float, pd.Timestamp | None]:
        """The crowd's last probability for ``key`` dated on or before ``when`` (NaN if none).

        "Last" is the latest date, whatever the frame's order; among points of that date the one
        listed last (a loaded series lists a day's points in time order).
        """
        s = self.crowd[(self.crowd["key"] == key) & (self.crowd["date"] <= when)]
        if s.empty:
            return np.nan, None
        last = s[s["date"] == s["date"].max()].iloc[-1]
        return float(last["p"]), last["date"]

    def subset(self, keys) -> Questions:
        """The given questions and their crowd points."""
        keys = set(keys)
        return Questions(
            self.questions[self.questions["key"].isin(keys)].reset_index(drop=True),
            self.crowd[self.crowd["key"].isin(keys)].reset_index(drop=True),
        )


def _day(text: str) -> date | None:
    """A ``YYYY-MM-DD`` calendar date; ``None`` for anything else."""
    if not DAY_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _stamp(text: str) -> pd.Timestamp | None:
    """A crowd point's time as a naive UTC timestamp (see the module docstring for the forms);
    ``None`` if it is not one of them or not a real date and time."""
    if not STAMP_RE.match(text):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return pd.Timestamp(t)


def _key(rec: dict[str, str]) -> str | None:
    """``platform:id``, or ``None`` if either is empty."""
    if not rec["platform"] or not rec["id"]:
        return None
    return f"{rec['platform']}:{rec['id']}"


def _question(rec: dict[str, str]) -> tuple[dict | None, list[tuple[str, str]]]:
    """One question row's record (``None`` if it has a problem) and its problems as ``(field,
    message)``. Date columns the file does not have count as empty."""
    bad: list[tuple[str, str]] = []
    res_text = rec["resolution"]
    if res_text not in ("0", "1", ""):
        bad.append(("resolution", f"must be 0, 1 or empty, got {res_text!r}"))
    dates: dict[str, date | None] = {}
    for col in QUESTION_DATES:
        text = rec.get(col)
        dates[col] = _day(text) if text else None
        if text and dates[col] is None:
            bad.append((col, f"not a date (YYYY-MM-DD): {text!r}"))
    ref_col = next((c for c in REFERENCE_COLUMNS if rec.get(c)), None)
    if ref_col is None:
        msg = "needs a date to count leads from (lead_ref_date, resolve_date or close_date)"
        bad.append(("resolve_date", msg))
    opened = dates["open_date"]
    for col in ("close_date", "resolve_date", "lead_ref_date"):
        d = dates[col]
        if opened is not None and d is not None and d < opened:
            bad.append((col, f"{d.isoformat()} is before the question opened ({opened})"))
    if bad:
        return None, bad
    assert ref_col is not None
    ref = dates[ref_col]
    assert ref is not None
    resolve = dates["resolve_date"]
    closes = [dates[c] for c in ("close_date", "resolve_date", "lead_ref_date") if dates[c]]
    record = {
        "key": _key(rec),
        "title": rec["title"],
        "tags": tuple(t.strip() for t in rec["topic_tags"].split(",") if t.strip()),
        "open": pd.Timestamp(opened),  # NaT if none
        "close": pd.Timestamp(dates["close_date"]),  # NaT if none
        "reference": pd.Timestamp(ref),
        "end": pd.Timestamp(min(closes)),
        "resolved": pd.Timestamp(max(ref, resolve) if resolve is not None else ref),
        "resolution": float(res_text) if res_text else np.nan,
    }
    return record, bad


def _probability(text: str) -> float | None:
    """A plain decimal number in [0, 1] (no sign, NaN, inf, hex or thousands separators)."""
    if text.startswith("-") or not NUMBER_RE.match(text):
        return None  # "-0" too: a probability is written without a minus sign
    p = float(text)  # >= 0: no minus sign
    return p if p <= 1.0 else None


def _crowd_series(name: str, points: list[dict], problems: list[Problem]) -> list[dict]:
    """The points sorted by question, then time (stable: file order within a time); a point that
    repeats the one before it dropped; different probabilities at one time reported unless the
    question's series was listed in time order (see the module docstring)."""
    by_key: dict[str, list[dict]] = defaultdict(list)
    for pt in points:
        by_key[pt["key"]].append(pt)
    kept = []
    for key in sorted(by_key):
        series = by_key[key]
        in_order = all(a["time"] <= b["time"] for a, b in pairwise(series))
        first_at: dict[pd.Timestamp, dict] = {}
        prev: dict | None = None
        for pt in sorted(series, key=lambda pt: pt["time"]):
            if prev is not None and (prev["time"], prev["p"]) == (pt["time"], pt["p"]):
                continue  # the same point listed again
            first = first_at.setdefault(pt["time"], pt)
            if not in_order and first["p"] != pt["p"]:
                problems.append(
                    Problem(
                        name,
                        pt["row"],
                        "prob_yes",
                        f"{key} has another probability at {pt['text']} ({first['p']:g}, row "
                        f"{first['row']}), and its series is not in time order, so which came "
                        "last is unknown: list the series in time order or keep one value",
                    )
                )
            kept.append(pt)
            prev = pt
    return kept


def load_questions(questions_file: str | Path, crowd_file: str | Path) -> Questions:
    """Read and validate a question file and its crowd file; raises ``InputError``."""
    qpath, cpath = Path(questions_file), Path(crowd_file)
    problems: list[Problem] = []
    qrows = read_table(qpath, QUESTION_COLUMNS, problems)
    crows = read_table(cpath, CROWD_COLUMNS, problems) or []
    records, seen = _question_records(str(qpath), qrows or [], problems)
    known = seen if qrows is not None else None
    points = _crowd_points(str(cpath), crows, known, str(qpath), problems)
    kept = _crowd_series(str(cpath), points, problems)
    if problems:
        raise InputError(problems)
    questions = pd.DataFrame(records, columns=QUESTION_FRAME_COLUMNS)
    crowd = pd.DataFrame(
        [{"key": pt["key"], "date": pt["time"].normalize(), "p": pt["p"]} for pt in kept],
        columns=["key", "date", "p"],
    )
    return Questions(questions, crowd)


QUESTION_FRAME_COLUMNS = [
    "key",
    "title",
    "tags",
    "open",
    "close",
    "reference",
    "end",
    "resolved",
    "resolution",
]


def _question_records(
    qname: str, qrows: list[Row], problems: list[Problem]
) -> tuple[list[dict], dict[str, int]]:
    """The valid question rows as records, and the row of each question key seen; problems
    (a missing or duplicate key, a bad field) are appended to ``problems``."""
    records = []
    seen: dict[str, int] = {}
    for row, rec, clean in qrows:
        key = _key(rec)
        if key is None:
            problems.append(Problem(qname, row, "id", "platform and id are required"))
        elif key in seen:
            problems.append(
                Problem(qname, row, "id", f"duplicate question {key} (row {seen[key]})")
            )
        else:
            seen[key] = row
        if clean:  # (a row with undecodable cells is reported already)
            out, bad = _question(rec)
            problems += [Problem(qname, row, field, msg) for field, msg in bad]
            if out is not None:
                records.append(out)
    return records, seen


def _crowd_points(
    cname: str, crows: list[Row], known: dict[str, int] | None, qname: str, problems: list[Problem]
) -> list[dict]:
    """The crowd file's valid points (key, time, probability, row, date text); a point of a
    question not in ``known`` (None: the question file could not be read) is a problem."""
    points = []
    for row, rec, clean in crows:
        if not clean:
            continue
        key, when, p = _key(rec), _stamp(rec["date"]), _probability(rec["prob_yes"])
        if key is None:
            problems.append(Problem(cname, row, "id", "platform and id are required"))
        elif known is not None and key not in known:
            problems.append(
                Problem(cname, row, "id", f"no question {key} in the question file {qname}")
            )
        if when is None:
            why = "not a date (YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS] with an optional UTC offset)"
            problems.append(Problem(cname, row, "date", f"{why}: {rec['date']!r}"))
        if p is None:
            why = f"must be a probability in [0, 1], got {rec['prob_yes']!r}"
            problems.append(Problem(cname, row, "prob_yes", why))
        if key is not None and when is not None and p is not None:
            points.append({"key": key, "time": when, "p": p, "row": row, "text": rec["date"]})
    return points
