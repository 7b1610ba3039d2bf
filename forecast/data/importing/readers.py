"""One reader per export kind (``acled``, ``ucdp``, ``series``, ``crowd``): export rows →
evidence rows on the source's target, through a ``_Reader``."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from forecast.data.errors import Problem
from forecast.data.importing.mapping import AcledSource, CrowdSource, SeriesSource, UcdpSource
from forecast.data.importing.rows import (
    _aggregate,
    _decimal,
    _filters,
    _grouped,
    _key_text,
    _natural,
    _Reader,
    _Row,
    _single_values,
    _text,
)
from forecast.data.months import month_end, month_label
from forecast.data.questions import CROWD_COLUMNS, _probability, _stamp
from forecast.data.rules import COLUMNS, _parse_date
from forecast.data.scenario import MONTH_RE
from forecast.data.table import read_table

DAYS_PER_MONTH = 365.25 / 12


def _read_acled(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, AcledSource)
    rows = r.table()
    need = {"country": "country", "measure": src.measure}
    if src.event_type:
        need["event_type"] = "event_type"
    if not rows or not r.columns_present(rows, need):
        return
    if "month" not in rows[0][1]:
        r.at_export(1, "month", "missing required column")
        return
    filters: dict[str, list] = {"country": [src.country]}
    if src.event_type:
        filters["event_type"] = list(src.event_type)
    by_month: dict[str, list[tuple[int, Decimal]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, rec in r.filtered(rows, filters):
        month = rec["month"]
        m = MONTH_RE.match(month)
        if not m or not 1 <= int(m.group(2)) <= 12:
            r.at_export(line, "month", f"not a month (YYYY-MM): {month!r}")
            continue
        ident = (month, rec.get("event_type", ""))
        if ident in seen:
            r.at_export(
                line,
                "month",
                f"repeats row {seen[ident]} (same country, month and event type)",
            )
            continue
        seen[ident] = line
        v = _decimal(rec[src.measure])
        if v is None:
            r.at_export(line, src.measure, f"not a number: {rec[src.measure]!r}")
            continue
        by_month.setdefault(month, []).append((line, v))
    for month, parts in sorted(by_month.items()):
        d = date(int(month[:4]), int(month[5:7]), 1)
        if not r.in_range(d):
            continue
        lines = tuple(line for line, _ in parts)
        total = sum((v for _, v in parts), Decimal(0))
        row = r.indicator_row(
            d,
            month,
            f"{src.country} {month}",
            total,
            _text(total),
            lines,
            {"date": "month", "value": src.measure, "exposure_days": "month"},
        )
        if row is not None:
            r.out.rows.append(row)


def _read_ucdp(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, UcdpSource)
    rows = r.table()
    need = {"value_column": src.value_column, "year_column": src.year_column}
    if src.key_column is not None:
        need["key_column"] = src.key_column
    if not rows or not r.columns_present(rows, need):
        return
    key_column = src.key_column or ("conflict_id" if "conflict_id" in rows[0][1] else None)

    def year_of(line: int, rec: dict[str, str]) -> tuple[date, str] | None:
        y = _decimal(rec[src.year_column])
        if y is None or y != y.to_integral_value() or not 1 <= y <= 9999:
            r.at_export(line, src.year_column, f"not a year: {rec[src.year_column]!r}")
            return None
        first = date(int(y), src.month, 1)
        return first, month_label(first)

    groups = _grouped(
        r,
        r.filtered(rows, _filters(src)),
        year_of,
        src.value_column,
        src.aggregate,
        src.year_column,
    )
    for text, (d, parts) in sorted(groups.items()):
        if not r.in_range(d):
            continue
        value = _aggregate(src.aggregate, [v for _, _, v, _ in parts])
        key = f"{d.year}"
        if key_column is not None:
            ids = sorted({_key_text(rec[key_column]) for _, _, _, rec in parts}, key=_natural)
            key += f" {key_column} {'+'.join(ids)}"
        raw = parts[0][1] if len(parts) == 1 else _text(value)
        row = r.indicator_row(
            d,
            text,
            key,
            value,
            raw,
            tuple(line for line, *_ in parts),
            {"date": src.year_column, "value": src.value_column},
        )
        if row is not None:
            r.out.rows.append(row)


def _read_series(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, SeriesSource)
    rows = r.table()
    need = {"date_column": src.date_column, "value_column": src.value_column}
    if src.observed_until_column is not None:
        need["observed_until_column"] = src.observed_until_column
    if not rows or not r.columns_present(rows, need):
        return

    def date_of(line: int, rec: dict[str, str]) -> tuple[date, str] | None:
        text = rec[src.date_column]
        d = _parse_date(text)
        if d is None:
            r.at_export(line, src.date_column, f"not a date (YYYY-MM or YYYY-MM-DD): {text!r}")
            return None
        return d, text

    groups = _grouped(
        r,
        r.filtered(rows, _filters(src)),
        date_of,
        src.value_column,
        src.aggregate,
        src.date_column,
    )
    words = _single_values(src)
    for text, (d, parts) in sorted(groups.items()):
        if not r.in_range(d):
            continue
        value = _aggregate(src.aggregate or "sum", [v for _, _, v, _ in parts])
        lines = tuple(line for line, *_ in parts)
        until = None
        if src.observed_until_column is not None:
            col = src.observed_until_column
            ends = {rec[col] for *_, rec in parts}
            until = _parse_date(next(iter(ends))) if len(ends) == 1 else None
            last = month_end(d)
            if until is None or not d <= until <= last or len(ends) != 1:
                r.at_export(
                    lines[0],
                    col,
                    f"not a date from {d} to {last} (the month the count covers):"
                    f" {', '.join(sorted(ends))!r} (import {r.name})",
                )
                continue
        raw = parts[0][1] if len(parts) == 1 else _text(value)
        fields = {"date": src.date_column, "value": src.value_column}
        fields["exposure_days"] = src.observed_until_column or src.date_column
        row = r.indicator_row(d, text, f"{words} {text}".strip(), value, raw, lines, fields, until)
        if row is not None:
            r.out.rows.append(row)


def _read_crowd(r: _Reader) -> None:
    src = r.src
    assert isinstance(src, CrowdSource)
    question = _crowd_question(r, src)
    if question is None:
        return
    close, url = question
    points = _crowd_points(r, src)
    if points is None:
        return
    forecaster = src.forecaster or src.platform
    for day, line, text in _last_per_period(r, src, points, close):
        days = (close - day).days
        p = Decimal(text)
        value = Decimal(1) - p if src.invert else p
        cells = dict.fromkeys(COLUMNS, "")
        key = f"{src.platform}:{src.id} {day.isoformat()}"
        cells.update(
            date=day.isoformat(),
            kind="forecast",
            target=src.target,
            value=_text(value),
            source=src.source,
            source_url=url,
            horizon_months=str(max(1, math.floor(days / DAYS_PER_MONTH + 0.5))),
            forecaster=forecaster,
            note=r.note(key),
        )
        fields = {"date": "date", "value": "prob_yes", "horizon_months": "date"}
        r.out.rows.append(_Row(cells, key, (line,), fields))


def _crowd_question(r: _Reader, src: CrowdSource) -> tuple[date, str] | None:
    """The question's close date and URL, from the mapping or its questions file (None after
    reporting what is missing)."""
    qid = str(src.id)
    close, url = src.close_date, src.source_url
    if src.questions is not None:
        qpath = r.mapping.path_of(src.questions)
        qrows = read_table(qpath, ("platform", "id"), r.out.problems)
        found = [
            (q.row, q.cells)
            for q in qrows or []
            if q.clean and q.cells["platform"] == src.platform and q.cells["id"] == qid
        ]
        if qrows is not None and not found:
            r.at_mapping("id", f"no question {src.platform}:{qid} in {qpath}")
            return None
        if found:
            qline, q = found[0]
            text = q.get("close_date", "")
            if close is None and text:
                close = _parse_date(text)
                if close is None or len(text) != 10:
                    r.out.problems.append(
                        Problem(str(qpath), qline, "close_date", f"not a date: {text!r}")
                    )
                    return None
            url = url or q.get("url") or None
    if close is None:
        r.at_mapping("close_date", "required: the question's close (or a questions file giving it)")
    if not url:
        r.at_mapping("source_url", "required (or a questions file with the question's url)")
    if close is None or not url:
        return None
    return close, url


def _crowd_points(r: _Reader, src: CrowdSource) -> list[tuple] | None:
    """The question's valid points in the export as (time, line, probability text); None after
    reporting that it has none."""
    qid = str(src.id)
    rows = read_table(r.path, CROWD_COLUMNS, r.out.problems)
    points = []
    for line, rec, clean in rows or []:
        if not clean or rec["platform"] != src.platform or rec["id"] != qid:
            continue
        when, p = _stamp(rec["date"]), _probability(rec["prob_yes"])
        if when is None:
            r.at_export(line, "date", f"not a date (YYYY-MM-DD[ HH:MM[:SS]]): {rec['date']!r}")
        if p is None:
            r.at_export(line, "prob_yes", f"not a probability in [0, 1]: {rec['prob_yes']!r}")
        if when is not None and p is not None:
            points.append((when, line, rec["prob_yes"]))
    if rows is not None and not points and not r.out.problems:
        r.at_mapping("id", f"no crowd point of {src.platform}:{qid} in {r.file}")
        return None
    return points


def _last_per_period(r: _Reader, src: CrowdSource, points: list[tuple], close: date) -> list:
    """Points before the close and in range; of those, the last of each day (or month) counts:
    sorted by time, file order within a time. Returns (day, line, text), by day."""
    last: dict[str, tuple] = {}
    for when, line, text in sorted(points, key=lambda p: (p[0], p[1])):
        day = when.date()
        if (close - day).days <= 0:
            r.out.skipped["on or after the question's close"] += 1
            continue
        if not r.in_range(day):
            continue
        period = day.isoformat() if src.every == "day" else month_label(day)
        if period in last:
            r.out.skipped[f"earlier points of the same {src.every}"] += 1
        last[period] = (day, line, text)
    return sorted(last.values())


READERS: dict[str, Callable[[_Reader], None]] = {
    "acled": _read_acled,
    "ucdp": _read_ucdp,
    "series": _read_series,
    "crowd": _read_crowd,
}
