"""Audits of a valid evidence log: what it holds (``evidence_summary``) and the facts that look
entered twice (``duplicate_facts``).

These are warnings, not input errors: the log loads and fits either way, but a fact entered twice is
counted twice by the likelihood, so the analyst should look at each group found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from forecast.data.evidence import Evidence, dated_to_the_day
from forecast.data.inputs import Inputs
from forecast.data.rules import split_urls
from forecast.data.scenario import Scenario
from forecast.data.target import Target

_INDICATOR_KINDS = ("indicator", "count", "rating")
# a note holding this marks a row the analyst reviewed as a fact of its own (with the reason after
# it), as a linter's suppression comment does: it joins no duplicate group
DISTINCT_TAG = "[distinct fact"


@dataclass(frozen=True)
class FactRow:
    """One evidence row of a ``DuplicateFact``, located as ``file:row`` (the file's name in the
    log's folder, the row as a spreadsheet counts it); ``value`` as written (a rating's level)."""

    file: str
    row: int
    kind: str
    target: str
    value: str


@dataclass(frozen=True)
class DuplicateFact:
    """Evidence rows that look like one fact entered more than once (see ``duplicate_facts``).

    ``urls``: the source URLs the rows share (as first written); ``date``: the shared day
    (``YYYY-MM-DD``) or, when a row is dated by month, the shared month (``YYYY-MM``);
    ``family``: the factor, outcome or ``outcome:candidate`` the rows bear on.
    """

    urls: tuple[str, ...]
    date: str
    family: str
    rows: tuple[FactRow, ...]


@dataclass(frozen=True)
class EvidenceSummary:
    """What an evidence log holds: row and file counts, rows by kind, the first and last date
    (``YYYY-MM-DD``; a month-dated row counts as the first of its month), and the facts that look
    entered twice."""

    rows: int
    files: int
    rows_by_kind: dict[str, int]
    date_span: tuple[str | None, str | None]
    duplicate_facts: tuple[DuplicateFact, ...]


def evidence_summary(inputs: Inputs) -> EvidenceSummary:
    """Summarize the loaded evidence of ``inputs`` (row counts, date span, possible duplicates)."""
    fr = inputs.evidence.frame
    counts = fr["kind"].value_counts().sort_index()
    span = (
        (fr["date"].min().date().isoformat(), fr["date"].max().date().isoformat())
        if len(fr)
        else (None, None)
    )
    return EvidenceSummary(
        rows=len(fr),
        files=len(inputs.evidence.files),
        rows_by_kind={str(k): int(v) for k, v in counts.items()},
        date_span=span,
        duplicate_facts=tuple(duplicate_facts(inputs.scenario, inputs.evidence)),
    )


def normalize_url(url: str) -> str:
    """``url`` as compared for duplicates: surrounding whitespace and a trailing ``/`` of the path
    dropped, scheme and host lower-cased (``HTTPS://Example.org/a/`` -> ``https://example.org/a``).
    Path, query and fragment keep their case (servers may tell them apart)."""
    parts = urlsplit(url.strip())
    return urlunsplit(
        (
            parts.scheme.lower(),
            parts.netloc.lower(),
            parts.path.rstrip("/"),
            parts.query,
            parts.fragment,
        )
    )


def fact_key(scenario: Scenario, row: Mapping) -> tuple[str, str | None, int | None]:
    """What a row says a fact is *about*: rows with different keys are never the same fact.

    The key is (target family, forecaster, horizon). The family is the latent quantity the row
    informs: an event's factor; for an indicator, count or rating row, the factor its indicator
    measures (a truce sentence coded as a zero-count month, a ``very_low`` rating and a -3 event
    on the factor all move that one factor); for a row on an outcome (forecast, resolution,
    likelihood ratio, outcome-coded event), the outcome, or ``outcome:candidate`` when a candidate
    is named (a page listing two states' statuses states two facts). Forecasts by different
    forecasters (platforms) quoted on one page are different facts, and so are one question's
    probabilities at two horizons.
    """
    kind, target = row["kind"], row["target"]
    outcome, candidate = _text(row.get("outcome")), _text(row.get("candidate"))
    if outcome is not None:  # forecast, resolution, likelihood ratio, an outcome-coded event
        family = str(Target(outcome, candidate))
    elif kind in _INDICATOR_KINDS:
        family = scenario.indicators[target].factor
    else:  # an event on a factor (or a frame without the outcome column: the target as written)
        family = target
    horizon = row.get("horizon_months")
    return family, _text(row.get("forecaster")), None if _missing(horizon) else int(horizon)


def duplicate_facts(scenario: Scenario, evidence: Evidence) -> list[DuplicateFact]:
    """Groups of evidence rows that look like one fact entered more than once.

    Two rows are the same fact when they

    - share a source URL (a ``source_url`` cell may list several, separated by ``;``; any one in
      common counts, compared by ``normalize_url``),
    - fall on the same date: the same month if either row is dated by month (``YYYY-MM``, e.g. a
      monthly rating), else the same day, and
    - have the same ``fact_key`` (target family, forecaster, horizon),

    unless a row's note holds ``[distinct fact: <why>]``: the analyst has looked and says it states
    a fact of its own (a month's level and the ceasefire that ended it, on one page).

    Why: the likelihood counts every row, so one sentence entered as a zero-count month, a
    ``very_low`` rating and a -3 event on the same factor is counted three times, and the factor
    is pulled three times as far as the source warrants. Rows linked through a shared row (a
    month-dated rating matching events on two days of its month) form one group. Groups are
    ordered by date, then by their first row.
    """
    fr = evidence.frame
    if fr.empty:
        return []
    records = fr.to_dict("records")
    keys = [fact_key(scenario, r) for r in records]
    monthly = [not dated_to_the_day(r["day_known"]) for r in records]
    written: dict[str, str] = {}  # normalized URL -> first spelling seen
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if DISTINCT_TAG in (_text(r.get("note")) or ""):
            continue
        month = (r["date"].year, r["date"].month)
        for url in split_urls(r["source_url"]):
            norm = normalize_url(url)
            written.setdefault(norm, url.strip())
            bucket = buckets[(keys[i], norm, month)]
            if i not in bucket:
                bucket.append(i)
    parent = list(range(len(records)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    shared: dict[int, set[str]] = defaultdict(set)  # any member -> URLs that linked it
    for (_, norm, _), members in buckets.items():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                if monthly[a] or monthly[b] or records[a]["date"] == records[b]["date"]:
                    parent[root(a)] = root(b)
                    shared[a].add(norm)
                    shared[b].add(norm)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(records)):
        groups[root(i)].append(i)
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: (Path(records[i]["file"]).name, records[i]["row"]))
        first = records[members[0]]
        day = first["date"].date()
        urls = sorted(set().union(*(shared[i] for i in members)))
        found.append(
            DuplicateFact(
                urls=tuple(written[u] for u in urls),
                date=f"{day:%Y-%m}" if any(monthly[i] for i in members) else day.isoformat(),
                family=keys[members[0]][0],
                rows=tuple(_fact_row(scenario, records[i]) for i in members),
            )
        )
    found.sort(key=lambda g: (g.date, g.rows[0].file, g.rows[0].row))
    return found


def _fact_row(scenario: Scenario, r: Mapping) -> FactRow:
    v = float(r["value"])
    if r["kind"] == "rating":
        levels = scenario.indicators[r["target"]].levels or ()
        value = levels[int(v)] if 0 <= int(v) < len(levels) else repr(v)
    else:
        value = str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return FactRow(Path(r["file"]).name, int(r["row"]), r["kind"], r["target"], value)


def _missing(v: object) -> bool:
    """``None``, NaN or ``pd.NA`` (how the frame spells an empty optional cell)."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def _text(v: object) -> str | None:
    return None if _missing(v) or v == "" else str(v)
