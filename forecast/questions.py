"""Resolved forecasting questions and the crowd's probability history for each, validated.

A question file has one row per binary question (``platform``, ``id``, ``title``, ``topic_tags``,
dates, ``resolution``); a crowd file has one row per crowd probability (``platform``, ``id``,
``date``, ``prob_yes``). Both are the format of ``../shared/data/questions/``. Bad rows are
reported as ``<file>:<row>: <field>: <message>``, every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.errors import InputError, Problem

QUESTION_COLUMNS = ("platform", "id", "title", "topic_tags", "resolution")
CROWD_COLUMNS = ("platform", "id", "date", "prob_yes")


@dataclass(frozen=True)
class Questions:
    """Questions keyed ``platform:id`` and their crowd series, both as tidy frames.

    ``questions`` columns: key, title, tags (tuple of topic tags), open (date or NaT),
    reference (the date leads count back from), resolved (when the outcome was known at the
    latest: the resolution date, else the reference), resolution (0/1 or NaN if unresolved).
    ``crowd`` columns: key, date, p — sorted by key then date.
    """

    questions: pd.DataFrame
    crowd: pd.DataFrame

    def crowd_at(self, key: str, when: pd.Timestamp) -> tuple[float, pd.Timestamp | None]:
        """The crowd's last probability for ``key`` dated on or before ``when`` (NaN if none)."""
        s = self.crowd[(self.crowd["key"] == key) & (self.crowd["date"] <= when)]
        if s.empty:
            return float("nan"), None
        last = s.iloc[-1]
        return float(last["p"]), last["date"]

    def subset(self, keys) -> Questions:
        """The given questions and their crowd points."""
        keys = set(keys)
        return Questions(
            self.questions[self.questions["key"].isin(keys)].reset_index(drop=True),
            self.crowd[self.crowd["key"].isin(keys)].reset_index(drop=True),
        )


def _read_csv(path: Path, required: tuple[str, ...], problems: list[Problem]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(str(path), 0, "file", "not found"))
        return pd.DataFrame()
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        problems.append(Problem(str(path), 0, "file", f"not a readable UTF-8 CSV file ({e})"))
        return pd.DataFrame()
    for col in required:
        if col not in frame.columns:
            problems.append(Problem(str(path), 1, col, "required column is missing"))
    return frame


def _date(text: str) -> pd.Timestamp | None:
    """A date or timestamp as a naive UTC day (``None`` if unparseable); empty → NaT."""
    if not text.strip():
        return pd.NaT
    try:
        ts = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        return None
    if ts is pd.NaT:
        return pd.NaT
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _reference(row: dict) -> tuple[str, str]:
    """The column and text of the date leads count back from: the recorded lead reference if the
    file has one, else the resolution date, else the close date."""
    for col in ("lead_ref_date", "resolve_date", "close_date"):
        if row.get(col, "").strip():
            return col, row[col]
    return "resolve_date", ""


def load_questions(questions_file: str | Path, crowd_file: str | Path) -> Questions:
    """Read and validate a question file and its crowd file; raises ``InputError``."""
    qpath, cpath = Path(questions_file), Path(crowd_file)
    problems: list[Problem] = []
    qf = _read_csv(qpath, QUESTION_COLUMNS, problems)
    cf = _read_csv(cpath, CROWD_COLUMNS, problems)
    if problems:
        raise InputError(problems)

    records = []
    seen: dict[str, int] = {}
    for i, row in enumerate(qf.to_dict("records")):
        line = i + 2
        bad = len(problems)
        key = f"{row['platform'].strip()}:{row['id'].strip()}"
        if not row["platform"].strip() or not row["id"].strip():
            problems.append(Problem(qpath.name, line, "id", "platform and id are required"))
        elif key in seen:
            problems.append(
                Problem(qpath.name, line, "id", f"duplicate question {key} (row {seen[key]})")
            )
        seen.setdefault(key, line)
        res_text = row["resolution"].strip()
        if res_text not in ("0", "1", ""):
            problems.append(
                Problem(qpath.name, line, "resolution", f"must be 0, 1 or empty, got {res_text!r}")
            )
        col, text = _reference(row)
        ref = _date(text)
        if ref is None or ref is pd.NaT:
            problems.append(
                Problem(
                    qpath.name,
                    line,
                    col,
                    "needs a date to count leads from (lead_ref_date, resolve_date or close_date), "
                    f"got {text!r}",
                )
            )
        resolved = _date(row.get("resolve_date", ""))
        if resolved is None and col != "resolve_date":
            problems.append(
                Problem(qpath.name, line, "resolve_date", f"not a date: {row['resolve_date']!r}")
            )
        opened = _date(row.get("open_date", ""))
        if opened is None:
            problems.append(
                Problem(qpath.name, line, "open_date", f"not a date: {row['open_date']!r}")
            )
        if len(problems) > bad:
            continue
        tags = tuple(t.strip() for t in row["topic_tags"].split(",") if t.strip())
        records.append(
            {
                "key": key,
                "title": row["title"].strip(),
                "tags": tags,
                "open": opened,
                "reference": ref,
                "resolved": ref if resolved is pd.NaT or resolved is None else max(ref, resolved),
                "resolution": float(res_text) if res_text else np.nan,
            }
        )

    points = []
    for i, row in enumerate(cf.to_dict("records")):
        line = i + 2
        key = f"{row['platform'].strip()}:{row['id'].strip()}"
        when = _date(row["date"])
        if when is None or when is pd.NaT:
            problems.append(Problem(cpath.name, line, "date", f"not a date: {row['date']!r}"))
            continue
        try:
            p = float(row["prob_yes"])
        except ValueError:
            p = float("nan")
        if not 0.0 <= p <= 1.0:
            problems.append(
                Problem(cpath.name, line, "prob_yes", f"must be in [0, 1], got {row['prob_yes']!r}")
            )
            continue
        points.append({"key": key, "date": when, "p": p})
    if problems:
        raise InputError(problems)
    questions = pd.DataFrame(
        records,
        columns=["key", "title", "tags", "open", "reference", "resolved", "resolution"],
    )
    crowd = pd.DataFrame(points, columns=["key", "date", "p"])
    crowd = crowd.sort_values(["key", "date"], kind="stable").reset_index(drop=True)
    return Questions(questions, crowd)
