"""What a valid evidence row is: the columns, the kinds, the value formats, and the checker that
validates one row's fields against a scenario and turns them into a tidy record
(``forecast.data.evidence`` reads files and whole logs with it)."""

from __future__ import annotations

import math
import re
from datetime import date
from urllib.parse import urlsplit

import pandas as pd

from forecast.data.months import month_end
from forecast.data.scenario import Scenario
from forecast.data.target import Target

REQUIRED = ("date", "kind", "target", "value", "source", "source_url")
OPTIONAL = ("horizon_months", "exposure_days", "forecaster", "published", "note")
COLUMNS = REQUIRED + OPTIONAL
KINDS = ("indicator", "count", "rating", "event", "forecast", "resolution", "likelihood_ratio")
DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$", re.ASCII)
NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?$", re.ASCII)
WHOLE_RE = re.compile(r"^\d{1,9}$", re.ASCII)
URL_SPLIT_RE = re.compile(r"\s*;\s*")
MAX_EVENT_STRENGTH = 3
MAX_HORIZON_MONTHS = 1200


def _parse_date(text: str) -> date | None:
    """``YYYY-MM-DD`` or ``YYYY-MM`` (the first of the month); ``None`` if not a real date."""
    m = DATE_RE.match(text)
    if not m:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _number(text: str) -> float | None:
    """A plain decimal number (``12``, ``-0.5``, ``1e3``); ``None`` for anything else."""
    if not NUMBER_RE.match(text):
        return None
    v = float(text)
    return v if math.isfinite(v) else None


def _is_whole(v: float) -> bool:
    return v == int(v)


def _is_url(u: str) -> bool:
    if not u or any(c.isspace() or ord(c) < 32 for c in u):
        return False
    try:
        parts = urlsplit(u)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def split_urls(text: str) -> list[str]:
    """The URLs of a ``source_url`` cell, split on ``;`` (with or without spaces around it)."""
    return URL_SPLIT_RE.split(text.strip())


class _RowChecker:
    """Validates one row's fields against the scenario and returns its tidy record."""

    def __init__(self, scenario: Scenario):
        self.s = scenario

    def check(self, rec: dict[str, str], add) -> dict | None:
        """Report every problem of the row through ``add(field, message)``; ``None`` if any."""
        s = self.s
        out: dict = {}
        ok = True
        d = _parse_date(rec["date"])
        if d is None:
            add("date", f"not a real date (YYYY-MM-DD or YYYY-MM): {rec['date']!r}")
            ok = False
        elif not s.start_date <= d <= s.end_date:
            add("date", f"{d.isoformat()} is outside the scenario span {s.start}..{s.end}")
            ok = False
            d = None
        else:
            out["date"] = pd.Timestamp(d)
            out["month"] = s.month_index(d)
            out["day_known"] = DATE_RE.match(rec["date"]).group(3) is not None
        for key in ("source", "source_url"):
            if not rec[key]:
                add(key, "required: every row names its source")
                ok = False
        if rec["source_url"]:
            bad = [u for u in split_urls(rec["source_url"]) if not _is_url(u)]
            if bad:
                add(
                    "source_url",
                    f"not an http(s) URL: {bad[0]!r} (separate several URLs with ' ; ')",
                )
                ok = False
        kind = rec["kind"]
        if kind not in KINDS:
            add("kind", f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
            return None
        ok = self._target_value(kind, rec, out, add) and ok
        ok = self._source(kind, rec, add) and ok
        ok = self._horizon(kind, rec, out, add) and ok
        ok = self._exposure(kind, rec, d, out, add) and ok
        if kind == "forecast" and not rec["forecaster"]:
            add("forecaster", "required for forecast rows (who made the forecast)")
            ok = False
        out["forecaster"] = rec["forecaster"] or None
        ok = self._published(rec, d, out, add) and ok
        return out if ok else None

    def _source(self, kind: str, rec: dict[str, str], add) -> bool:
        """A row of an indicator with declared sources belongs to one of them at most."""
        ind = self.s.indicators.get(rec["target"]) if kind in ("indicator", "count") else None
        if ind is None or not ind.sources:
            return True
        try:
            ind.source_of(rec["source"])
        except ValueError as exc:
            add("source", str(exc))
            return False
        return True

    def _published(self, rec: dict[str, str], d: date | None, out: dict, add) -> bool:
        """``published``: empty, or a date (a month means its last day) not before the row's."""
        out["published"] = pd.NaT
        text = rec["published"]
        if not text:
            return True
        p = _parse_date(text)
        if p is None:
            add("published", f"not a real date (YYYY-MM-DD or YYYY-MM): {text!r}")
            return False
        if DATE_RE.match(text).group(3) is None:
            p = month_end(p)
        if d is not None and p < d:
            add("published", f"{p.isoformat()} is before the row's date {d.isoformat()}")
            return False
        out["published"] = pd.Timestamp(p)
        return True

    def _target_value(self, kind: str, rec: dict[str, str], out: dict, add) -> bool:
        out.update(outcome=None, candidate=None)
        if kind in ("indicator", "count", "rating"):
            return self._indicator_value(kind, rec["target"], rec["value"], out, add)
        if kind == "event":
            target, value_text = rec["target"], rec["value"]
            if target not in self.s.factors and not self._outcome_event(target, out, add):
                return False
            v = _number(value_text)
            if v is None or not _is_whole(v) or v == 0 or abs(v) > MAX_EVENT_STRENGTH:
                add("value", f"an event is a signed strength -3..-1 or 1..3, got {value_text!r}")
                return False
            out["value"] = v
            return True
        return self._outcome_value(kind, rec["target"], rec["value"], out, add)

    def _indicator_value(self, kind: str, target: str, value_text: str, out: dict, add) -> bool:
        """An indicator row: its target must be an indicator of the row's likelihood, its value
        a level (rating), a whole number >= 0 (count) or a number (> 0 if log-transformed)."""
        s = self.s
        ind = s.indicators.get(target)
        want = {"indicator": "normal", "count": "count", "rating": "rating"}[kind]
        if ind is None:
            known = ", ".join(n for n, i in s.indicators.items() if i.likelihood == want)
            add("target", f"unknown {want} indicator {target!r} (known: {known or 'none'})")
            return False
        if ind.likelihood != want:
            add("target", f"indicator {target!r} is a {ind.likelihood} indicator, not {kind}")
            return False
        if kind == "rating":
            assert ind.levels is not None
            if value_text not in ind.levels:
                add("value", f"{value_text!r} is not a level of {target} ({', '.join(ind.levels)})")
                return False
            out["value"] = float(ind.levels.index(value_text))
            return True
        v = _number(value_text)
        if v is None:
            add("value", f"not a number: {value_text!r}")
            return False
        if kind == "count" and (v < 0 or not _is_whole(v)):
            add("value", f"a count must be a whole number >= 0, got {value_text!r}")
            return False
        if kind == "indicator" and ind.transform == "log" and v <= 0:
            add("value", f"must be > 0 for a log-transformed indicator, got {value_text!r}")
            return False
        out["value"] = v
        return True

    def _outcome_value(self, kind: str, target: str, value_text: str, out: dict, add) -> bool:
        """A forecast, resolution or likelihood-ratio row: the target is an outcome[:candidate]
        with a hazard, the value a probability, 0/1 or a ratio > 0."""
        found = self._outcome_target(
            target,
            add,
            unknown="unknown outcome {outcome!r} (known: {outcomes})",
            state="{outcome!r} is a state outcome; give evidence on its measure {measure!r}",
        )
        if found is None:
            return False
        outcome, candidate = found
        o = self.s.outcomes[outcome]
        out.update(outcome=outcome, candidate=candidate)
        v = _number(value_text)
        if kind == "resolution":
            if value_text not in ("0", "1"):
                add("value", f"a resolution is 1 (true as of date) or 0, got {value_text!r}")
                return False
            if o.candidates and not candidate and value_text == "1" and o.kind == "event":
                add("target", "say which candidate happened (outcome:candidate)")
                return False
        elif kind == "forecast" and (v is None or not 0 < v < 1):
            add("value", f"a probability strictly between 0 and 1, got {value_text!r}")
            return False
        elif kind == "likelihood_ratio" and (v is None or v <= 0):
            add("value", f"a likelihood ratio must be a number > 0, got {value_text!r}")
            return False
        assert v is not None
        out["value"] = v
        return True

    def _outcome_event(self, target: str, out: dict, add) -> bool:
        """An event on an outcome (outcome-coded news) reads the drift of that outcome's hazard:
        the outcome must have a hazard (event or persistence) and the scenario an outcome drift."""
        found = self._outcome_target(
            target,
            add,
            unknown="unknown factor or outcome {target!r} (factors: {factors};"
            " outcomes: {outcomes})",
            state="{outcome!r} is a state outcome with no hazard; code the news as an event on the"
            " factor its measure {measure!r} reads",
        )
        if found is None:
            return False
        if self.s.outcome_drift is None:
            add(
                "target",
                f"news on outcome {found[0]!r} reads the outcome's own drift: the scenario needs"
                " an [outcome_drift] table (volatility, reversion)",
            )
            return False
        out.update(outcome=found[0], candidate=found[1])
        return True

    def _outcome_target(self, target: str, add, *, unknown: str, state: str) -> Target | None:
        """``outcome[:candidate]`` checked against the scenario, or None after reporting why not
        (``unknown`` and ``state`` are the messages, formatted with the names)."""
        s = self.s
        try:
            found = Target.parse(target)
        except ValueError as exc:
            add("target", str(exc))
            return None
        outcome, candidate = found
        o = s.outcomes.get(outcome)
        names = {"target": target, "outcome": outcome, "factors": ", ".join(s.factors)}
        names["outcomes"] = ", ".join(s.outcomes)
        if o is None:
            add("target", unknown.format(**names))
            return None
        if candidate is not None and candidate not in o.candidates:
            known = ", ".join(o.candidates) or "none"
            add("target", f"outcome {outcome!r} has no candidate {candidate!r} (known: {known})")
            return None
        if o.kind == "state":
            add("target", state.format(measure=o.measure, **names))
            return None
        return found

    def _horizon(self, kind: str, rec: dict[str, str], out: dict, add) -> bool:
        out["horizon_months"] = None
        h = rec["horizon_months"]
        if kind in ("forecast", "likelihood_ratio"):
            if not WHOLE_RE.match(h) or not 0 < int(h) <= MAX_HORIZON_MONTHS:
                add(
                    "horizon_months",
                    f"required for {kind}: whole months 1..{MAX_HORIZON_MONTHS}, got {h!r}",
                )
                return False
            out["horizon_months"] = int(h)
        elif h:
            add("horizon_months", f"not used by kind {kind!r}")
            return False
        return True

    def _exposure(self, kind: str, rec: dict[str, str], d: date | None, out: dict, add) -> bool:
        out["exposure_days"] = None
        e = rec["exposure_days"]
        if kind != "count":
            if e:
                add("exposure_days", f"not used by kind {kind!r}")
                return False
            return True
        if e:
            ev = _number(e)
            if ev is None or ev <= 0 or not _is_whole(ev):
                add("exposure_days", f"a whole number of days > 0, got {e!r}")
                return False
            if d is not None and ev > (self.s.end_date - d).days + 1:
                add("exposure_days", "the counted period runs past the scenario's end")
                return False
            out["exposure_days"] = ev
        elif d is not None:
            out["exposure_days"] = float((month_end(d) - d).days + 1)
        return True
