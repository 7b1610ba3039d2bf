"""Reading one export: the rows it gives, with where each came from, and located problems.

``_Reader`` holds what every kind of export shares (the clean table, filters, the date range, the
note, an indicator row); ``forecast.data.importing.readers`` reads each kind with it.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from forecast.data.errors import Problem
from forecast.data.importing.mapping import ImportMapping, _Filtered, _Source
from forecast.data.months import month_end, month_label
from forecast.data.rules import COLUMNS, NUMBER_RE
from forecast.data.scenario import Scenario
from forecast.data.table import read_table


@dataclass(frozen=True)
class _Row:
    """One evidence row made from an export, with where it came from."""

    cells: dict[str, str]  # evidence column -> text
    key: str  # the natural key in the note (``Lebanon 2023-10``)
    lines: tuple[int, ...]  # the export rows it was made from
    fields: dict[str, str]  # evidence column -> the export column it came from


@dataclass
class _Read:
    """What reading one export gave: rows, rows left out (reason -> count) and problems."""

    rows: list[_Row] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)


def _decimal(text: str) -> Decimal | None:
    if not NUMBER_RE.match(text):
        return None
    d = Decimal(text)
    return d if d.is_finite() else None


def _text(d: Decimal) -> str:
    """A number written exactly and the same way every time: ``59``, ``0.9735``, ``2.5``."""
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _same(cell: str, want: object) -> bool:
    """An export cell equals a mapping value: as text, or as numbers (``666.0`` is ``666``)."""
    if cell == str(want):
        return True
    a, b = _decimal(cell), _decimal(str(want))
    return a is not None and b is not None and a == b


def _aggregate(how: str, values: list[Decimal]) -> Decimal:
    if how == "sum":
        return sum(values, Decimal(0))
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return sum(values, Decimal(0)) / len(values)


class _Reader:
    """Turns one source's export into rows; problems go to ``out.problems``."""

    def __init__(self, name: str, src: _Source, mapping: ImportMapping, scenario: Scenario):
        self.name, self.src, self.mapping, self.s = name, src, mapping, scenario
        self.path = mapping.path_of(src.file)
        self.file = str(self.path)
        self.out = _Read()
        self.where = f"sources.{name}"

    # located problems
    def at_export(self, line: int | str, column: str, message: str) -> None:
        self.out.problems.append(Problem(self.file, line, column, message))

    def at_mapping(self, key: str, message: str) -> None:
        self.out.problems.append(Problem(str(self.mapping.file), self.where, key, message))

    def table(self) -> list[tuple[int, dict[str, str]]]:
        """The export's clean rows as (line, {column: text}); a file without data rows is a
        problem (columns the mapping names are checked by ``columns_present``)."""
        rows = read_table(self.path, (), self.out.problems)
        if rows is None:
            return []
        if not rows:
            self.at_export("(file)", "rows", "no data rows")
            return []
        return [(r.row, r.cells) for r in rows if r.clean]

    def columns_present(self, rows, wanted: dict[str, str]) -> bool:
        """Whether the export has every column in ``wanted`` (mapping key -> column)."""
        header = list(rows[0][1]) if rows else []
        ok = True
        for key, col in wanted.items():
            if col not in header:
                self.at_mapping(
                    key, f"no column {col!r} in {self.file} (columns: {', '.join(header)})"
                )
                ok = False
        return ok

    def filtered(self, rows, filters: dict[str, list]) -> list[tuple[int, dict[str, str]]]:
        """The rows whose every filter column holds one of its values; a value no row holds is a
        mapping problem (a typo must not silently import nothing)."""
        header = list(rows[0][1]) if rows else []
        for col in filters:
            if col not in header:
                self.at_mapping(
                    "filter" if col not in ("country", "event_type") else col,
                    f"no column {col!r} in {self.file} (columns: {', '.join(header)})",
                )
                return []
        for col, wanted in filters.items():
            for w in wanted:
                if not any(_same(rec[col], w) for _, rec in rows):
                    key = col if col in ("country", "event_type") else f"filter.{col}"
                    self.at_mapping(key, f"no row of {self.file} has {col} = {w!r}")
        return [
            (line, rec)
            for line, rec in rows
            if all(any(_same(rec[c], w) for w in ws) for c, ws in filters.items())
        ]

    def in_range(self, d: date) -> bool:
        """Whether a row dated ``d`` is imported: inside the mapping's start..end and the
        scenario's span (rows outside are counted, not errors: an export covers more)."""
        month = month_label(d)
        src = self.src
        if (src.start and month < src.start) or (src.end and month > src.end):
            self.out.skipped["outside the mapping's start..end"] += 1
            return False
        if not self.s.start_date <= d <= self.s.end_date:
            self.out.skipped["outside the scenario span"] += 1
            return False
        return True

    def note(self, key: str) -> str:
        return f"import {self.name}: {self.path.name} {key}"

    def indicator_row(
        self,
        d: date,
        date_text: str,
        key: str,
        value: Decimal,
        value_text: str,
        lines: tuple[int, ...],
        fields: dict[str, str],
        exposure_end: date | None = None,
    ) -> _Row | None:
        """An indicator, count or rating row on the target (a rating's value through ``levels``)."""
        ind = self.s.indicators[self.src.target]
        kind = {"normal": "indicator", "count": "count", "rating": "rating"}[ind.likelihood]
        cells = dict.fromkeys(COLUMNS, "")
        cells.update(
            date=date_text,
            kind=kind,
            target=self.src.target,
            source=self.src.source,
            source_url=self.src.source_url or "",
            note=self.note(key),
        )
        if kind == "rating":
            levels = getattr(self.src, "levels", None) or {}
            level = next((lv for v, lv in levels.items() if _same(value_text, v)), None)
            if level is None:
                self.at_export(
                    lines[0],
                    fields["value"],
                    f"{value_text!r} has no level in the mapping's levels"
                    f" ({', '.join(levels)}; import {self.name})",
                )
                return None
            cells["value"] = level
        else:
            cells["value"] = _text(value)
        if kind == "count":
            end = exposure_end or month_end(d)
            cells["exposure_days"] = str((end - d).days + 1)
        return _Row(cells, key, lines, fields)


def _filters(src: _Filtered) -> dict[str, list]:
    return {c: (v if isinstance(v, list) else [v]) for c, v in src.filter.items()}


def _single_values(src: _Filtered) -> str:
    """The filter's one-value columns, as words of a row's natural key (``Lebanon``)."""
    words = []
    for v in src.filter.values():
        if not isinstance(v, list):
            words.append(_text(Decimal(str(v))) if not isinstance(v, str) else v)
    return " ".join(words)


def _grouped(
    r: _Reader,
    rows,
    date_of: Callable[[int, dict[str, str]], tuple[date, str] | None],
    value_column: str,
    aggregate: str | None,
    date_column: str,
) -> dict[str, tuple[date, list[tuple[int, str, Decimal, dict[str, str]]]]]:
    """Rows grouped by their date text: (date, [(line, value text, value, record)])."""
    groups: dict[str, tuple[date, list]] = {}
    for line, rec in rows:
        when = date_of(line, rec)
        if when is None:
            continue
        d, text = when
        raw = rec[value_column]
        v = _decimal(raw)
        if v is None:
            r.at_export(line, value_column, f"not a number: {raw!r} (import {r.name})")
            continue
        if text in groups and aggregate is None:
            first = groups[text][1][0][0]
            r.at_export(
                line,
                date_column,
                f"another row ({first}) has the date {text} and the mapping sets no aggregate"
                f" (sum, max, min or mean; import {r.name})",
            )
            continue
        groups.setdefault(text, (d, []))[1].append((line, raw, v, rec))
    return groups


def _key_text(cell: str) -> str:
    d = _decimal(cell)
    return _text(d) if d is not None else cell


def _natural(text: str) -> tuple:
    d = _decimal(text)
    return (0, d, "") if d is not None else (1, Decimal(0), text)


def _csv_text(rows: list[_Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow([row.cells[c] for c in COLUMNS])
    return buf.getvalue()
