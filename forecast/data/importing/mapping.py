"""The mapping file: which rows of which export feed which indicator or outcome of a scenario.

Each ``[sources.<name>]`` table is checked against its kind's model (``AcledSource``,
``UcdpSource``, ``SeriesSource``, ``CrowdSource``) and, given the scenario, against its target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr, ValidationError, field_validator

from forecast.data.errors import InputError, Problem
from forecast.data.scenario import (
    MONTH_RE,
    NAME_PATTERN,
    Name,
    Scenario,
    Text,
    _Strict,
)
from forecast.data.scenario_file import parse_toml, read_toml_text, toml_location, toml_message
from forecast.data.target import Target

IMPORT_KINDS = ("acled", "ucdp", "series", "crowd")
Aggregate = Literal["sum", "max", "min", "mean"]
Cell = StrictStr | StrictInt | StrictFloat


class _Source(_Strict):
    """Keys every source table has: what to read, the provenance its rows carry, and where
    they go."""

    kind: str
    file: Text  # relative to the mapping file's folder, or absolute
    source: Text
    source_url: Text
    target: Text
    start: str | None = None  # first month to import (YYYY-MM)
    end: str | None = None  # last month to import (YYYY-MM)

    @field_validator("start", "end")
    @classmethod
    def _month(cls, v: str | None) -> str | None:
        if v is not None:
            m = MONTH_RE.match(v)
            if not m or not 1 <= int(m.group(2)) <= 12:
                raise ValueError(f"expected a month as YYYY-MM, got {v!r}")
        return v


class _Filtered(_Source):
    """A table read row by row: rows whose ``filter`` columns hold one of the given values."""

    filter: dict[str, Cell | list[Cell]] = Field(default_factory=dict)
    levels: dict[str, Name] | None = None  # rating targets: export value -> level


class AcledSource(_Source):
    """ACLED-style country-month counts (columns country, month, [event_type,] events,
    fatalities) → one count row a month."""

    kind: Literal["acled"]
    country: Text
    event_type: list[Text] | None = None
    measure: Literal["events", "fatalities"] = "events"

    @field_validator("event_type", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


class UcdpSource(_Filtered):
    """UCDP-style conflict-years → one row a year (``aggregate`` of the matching conflicts)."""

    kind: Literal["ucdp"]
    value_column: Text = "intensity_level"
    year_column: Text = "year"
    month: int = 12
    aggregate: Aggregate = "max"
    key_column: Text | None = None  # named in each row's key; default conflict_id if present

    @field_validator("month")
    @classmethod
    def _calendar_month(cls, v: int) -> int:
        if not 1 <= v <= 12:
            raise ValueError(f"a calendar month 1..12, got {v}")
        return v


class SeriesSource(_Filtered):
    """Any dated numeric column (dates YYYY-MM or YYYY-MM-DD) → one row per date."""

    kind: Literal["series"]
    date_column: Text
    value_column: Text
    aggregate: Aggregate | None = None  # rows sharing a date: an error unless aggregated
    observed_until_column: Text | None = None  # count targets: last day the count covers


class CrowdSource(_Source):
    """A crowd probability history (platform, id, date, prob_yes) → forecast rows."""

    kind: Literal["crowd"]
    source_url: Text | None = None  # default: the question's url in the questions file
    questions: Text | None = None  # question file: close_date (and url) of the question
    platform: Text
    id: StrictStr | StrictInt
    close_date: date | None = None
    forecaster: Text | None = None  # default: the platform
    every: Literal["day", "month"] = "day"  # keep the last point of each day or month
    invert: bool = False  # the question's yes is the outcome's no


SOURCE_MODELS: dict[str, type[_Source]] = {
    "acled": AcledSource,
    "ucdp": UcdpSource,
    "series": SeriesSource,
    "crowd": CrowdSource,
}
TOP_KEYS = ("scenario", "sources")


@dataclass(frozen=True)
class ImportMapping:
    """A checked mapping file: its path, the scenario it names (if any) and its sources by name."""

    file: Path
    scenario: str | None
    sources: dict[str, _Source]

    def path_of(self, relative: str) -> Path:
        """A file named in the mapping: relative to the mapping file's folder, or absolute."""
        return (self.file.parent / relative).expanduser()


def read_mapping_toml(path: Path) -> dict:
    """The mapping file's TOML as a dict; ``InputError`` (located) if unreadable or malformed."""
    return parse_toml(read_toml_text(path), str(path))


def parse_mapping(raw: dict, file: Path, scenario: Scenario | None = None) -> ImportMapping:
    """Check a mapping's tables (unknown or missing keys, types) and, given the scenario, that
    every target exists and suits its kind and that every named file exists; raises
    ``InputError`` with every problem, located at the mapping file, the table and the key."""
    name = str(file)
    problems: list[Problem] = []

    def add(where: str, key: str, message: str) -> None:
        problems.append(Problem(name, where, key, message))

    for key in raw:
        if key not in TOP_KEYS:
            add("(top)", key, "unknown key (a mapping has 'scenario' and [sources.<name>] tables)")
    scen = raw.get("scenario")
    if scen is not None and not (isinstance(scen, str) and re.match(NAME_PATTERN, scen)):
        add("(top)", "scenario", f"not a scenario name: {scen!r}")
    tables = raw.get("sources")
    if not isinstance(tables, dict) or not tables:
        add("(top)", "sources", "required: at least one [sources.<name>] table")
        tables = {}
    sources: dict[str, _Source] = {}
    for sname, table in tables.items():
        if not re.match(NAME_PATTERN, sname) or len(sname) > 64:
            add("sources", sname, "not a valid source name: use lowercase letters, digits and _")
            continue
        where = f"sources.{sname}"
        if not isinstance(table, dict):
            add("sources", sname, "expected a table")
            continue
        kind = table.get("kind")
        if not isinstance(kind, str) or kind not in SOURCE_MODELS:
            add(where, "kind", f"required: one of {', '.join(IMPORT_KINDS)} (got {kind!r})")
            continue
        try:
            sources[sname] = SOURCE_MODELS[kind].model_validate(table)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                w, key = toml_location(("sources", sname, *e["loc"]))
                problems.append(Problem(name, w, key, toml_message(e)))
    mapping = ImportMapping(file, scen if isinstance(scen, str) else None, sources)
    if scenario is not None:
        for sname, src in sources.items():
            for key, msg in _target_problems(src, scenario):
                add(f"sources.{sname}", key, msg)
            for key, rel in (("file", src.file), ("questions", getattr(src, "questions", None))):
                if rel is not None and not mapping.path_of(rel).is_file():
                    add(f"sources.{sname}", key, f"no such file: {mapping.path_of(rel)}")
    if problems:
        raise InputError(problems)
    return mapping


def load_mapping(path: str | Path, scenario: Scenario | None = None) -> ImportMapping:
    """Read and check a mapping file (see ``parse_mapping``)."""
    path = Path(path)
    return parse_mapping(read_mapping_toml(path), path, scenario)


def _target_problems(src: _Source, s: Scenario) -> list[tuple[str, str]]:
    """(key, message) for a target the scenario lacks or that does not suit the source's kind."""
    if isinstance(src, CrowdSource):
        try:
            outcome, candidate = Target.parse(src.target)
        except ValueError as exc:
            return [("target", str(exc))]
        o = s.outcomes.get(outcome)
        if o is None:
            return [("target", f"unknown outcome {outcome!r} (known: {', '.join(s.outcomes)})")]
        if o.kind == "state":
            return [("target", f"{outcome!r} is a state outcome: forecasts need a hazard")]
        if candidate and candidate not in o.candidates:
            known = ", ".join(o.candidates) or "none"
            return [("target", f"{outcome!r} has no candidate {candidate!r} (known: {known})")]
        return []
    allowed = {
        "acled": ("count",),
        "ucdp": ("normal", "rating"),
        "series": ("normal", "count", "rating"),
    }[src.kind]
    ind = s.indicators.get(src.target)
    want = " or ".join(allowed)
    if ind is None:
        known = ", ".join(n for n, i in s.indicators.items() if i.likelihood in allowed)
        return [("target", f"unknown {want} indicator {src.target!r} (known: {known or 'none'})")]
    if ind.likelihood not in allowed:
        return [
            (
                "target",
                f"{src.kind} imports need a {want} indicator; {src.target!r} is a"
                f" {ind.likelihood} indicator",
            )
        ]
    levels = getattr(src, "levels", None)
    if ind.likelihood == "rating":
        if levels is None:
            return [("levels", f"required for the rating indicator {src.target!r}")]
        assert ind.levels is not None
        bad = sorted(set(levels.values()) - set(ind.levels))
        if bad:
            return [
                ("levels", f"{bad[0]!r} is not a level of {src.target} ({', '.join(ind.levels)})")
            ]
    elif levels is not None:
        return [
            ("levels", f"only rating indicators take levels; {src.target!r} is {ind.likelihood}")
        ]
    return []
