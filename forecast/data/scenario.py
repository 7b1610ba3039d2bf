"""Scenario files (``priors/<name>.toml``): factors, indicators, outcomes, loadings and priors.

Every number in a scenario carries a ``rationale`` and a ``source``. A file is parsed into typed,
frozen objects; all problems in a file are collected and raised together as one ``InputError``
whose problems are located by dotted key path (``outcomes.deal.loadings``) and key. Checks run in
two passes: first the structure of every table (unknown or missing keys, types, ranges), then,
once the structure is valid, the rules that span several tables (names that refer to factors or
indicators, what each likelihood or outcome kind requires, identification).
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from forecast.data.errors import InputError, Problem, one_line
from forecast.data.months import month_end, month_label, month_start
from forecast.data.target import Target

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Sign = Literal["+", "-", "free"]
BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")  # TOML keys that need no quotes
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
MIN_YEAR, MAX_YEAR = 1900, 2200  # a scenario's months must lie in this span
NAME_HELP = "lowercase letters, digits and _, starting with a letter, at most 64 characters"
# Forecast horizons are at most ten years ahead: no evidence the model takes speaks to diplomacy
# further out, and the projection's memory grows with the longest horizon (draws x targets x
# months; [6, 100000] needed 21 GiB after the whole fit), so a typo must fail in `forecast check`.
MAX_HORIZON_MONTHS = 120
# Numbers are strict: a TOML boolean (``true`` is an int in Python) or a quoted "1.5" is refused
# rather than read as 1 or 1.5; integers are accepted where a float is expected.
Float = StrictFloat
Int = StrictInt


class _Strict(BaseModel):
    # inf and nan are valid TOML floats but never a valid prior parameter
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class _Sourced(_Strict):
    rationale: Text
    source: Text


class Number(_Sourced):
    """A single sourced number."""

    value: Float


class PositiveNumber(_Sourced):
    value: Float = Field(gt=0)


class NormalPrior(_Sourced):
    """A Normal prior: mean and standard deviation, with its reasons."""

    mean: Float
    sd: Float = Field(gt=0)


class BaseRate(_Sourced):
    """Prior on an outcome's baseline monthly hazard: median rate and spread on the logit scale."""

    monthly: Float = Field(gt=0, lt=1)
    logit_sd: Float = Field(gt=0)


class Loading(_Sourced):
    """How an outcome depends on a factor: a sign fixed by theory (or ``free``), a prior scale."""

    sign: Sign
    scale: Float = Field(gt=0)


class Reversion(_Sourced):
    """Monthly autoregressive coefficient of a factor: 1 is a random walk, < 1 mean-reverting.

    With ``sd`` the coefficient is learned: a Beta prior with mean ``value`` and this sd (a
    factor's only; the outcome drift's reversion stays fixed).
    """

    value: Float = Field(gt=0, le=1)
    sd: Float | None = Field(default=None, gt=0)

    def beta(self) -> tuple[float, float]:
        """(a, b) of the Beta prior with mean ``value`` and sd ``sd``."""
        assert self.sd is not None
        m = self.value
        n = m * (1.0 - m) / self.sd**2 - 1.0
        return m * n, (1.0 - m) * n


class Factor(_Strict):
    """A latent factor on a standardized scale that moves monthly: f[t] = r f[t-1] + vol z[t].

    ``reversion`` (optional) is r, the monthly pull toward 0 (1.0, a pure random walk, when
    omitted); with r < 1 the factor is stationary with sd vol / sqrt(1 - r^2). A learned
    reversion (``reversion.sd``) keeps that stationary sd, the factor's unit, at the value the
    scenario's numbers give and lets the monthly volatility follow: vol(r) = sd * sqrt(1 - r^2).

    ``loading_scale`` (optional) is the HalfNormal scale of the factor's pooled loading strength;
    when it is omitted the model uses 1.0.
    """

    label: Text
    description: str = ""
    initial: NormalPrior
    volatility: PositiveNumber  # monthly innovation sd (at the prior's reversion if learned)
    reversion: Reversion | None = None
    # HalfNormal scale of the pooled loading strength tau[k]. Optional: a factor that no outcome
    # loads on does not need it, and when it is omitted the model uses 1.0.
    loading_scale: PositiveNumber | None = None


class SourceOffset(_Sourced):
    """A source that measures an indicator on a level of its own (Alma counts more attacks than
    ITIC): the rows whose ``source`` text contains ``match`` (case-insensitive) are offset from
    the reference rows (those of no declared source) by ``sd * raw``, raw ~ Normal(0, 1), on the
    log rate for counts and in standardized units for normal indicators."""

    match: Text
    sd: Float = Field(gt=0)


class Indicator(_Strict):
    """An observed quantity that measures one factor (Normal series, monthly counts or ratings).

    ``sources`` (count and normal indicators only) gives a source its own level; the rows of no
    declared source are the reference, whose level the intercept and the indicator's numbers
    (``baseline``, ``center``) describe.
    """

    label: Text
    factor: Name
    sign: Literal["+", "-"]
    likelihood: Literal["normal", "count", "rating"]
    unit: str = ""
    description: str = ""
    transform: Literal["identity", "log"] = "identity"
    center: Number | None = None  # normal: typical transformed value
    spread: PositiveNumber | None = None  # normal: typical sd of transformed values
    baseline: PositiveNumber | None = None  # count: typical count per month at factor 0
    levels: tuple[Name, ...] | None = None  # rating: ordered level names, low to high
    loading_scale: PositiveNumber | None = None  # HalfNormal scale of |loading| (model default)
    sources: dict[Name, SourceOffset] = Field(default_factory=dict)  # count, normal

    def source_of(self, text: str) -> str | None:
        """The declared source a row's ``source`` text belongs to (``None``: the reference).

        Raises ``ValueError`` when the text matches several: a row belongs to one source at most.
        """
        low = text.casefold()
        found = [n for n, src in self.sources.items() if src.match.casefold() in low]
        if len(found) > 1:
            names = ", ".join(f"{n} ({self.sources[n].match!r})" for n in found)
            raise ValueError(
                f"matches several sources the scenario declares for its indicator: {names}; a "
                "row belongs to one source at most, so make its source text or their match "
                "texts more specific"
            )
        return found[0] if found else None


class Candidate(_Strict):
    """One way an outcome can happen (e.g. a state that might join the Abraham Accords)."""

    label: Text
    offset: NormalPrior | None = (
        None  # prior on the candidate's logit offset (default N(0, spread))
    )


class Outcome(_Strict):
    """A latent outcome.

    ``event``: happens at some month (P that it has happened by the horizon);
    ``persistence``: a state that holds until an ending event (P that it still holds at the
    horizon);
    ``state``: a predicate on a projected measure (P that the measure is below/above a threshold for
    ``window`` consecutive months at some point by the horizon).
    """

    label: Text
    kind: Literal["event", "persistence", "state"]
    description: str = ""
    base_rate: BaseRate | None = None
    candidate_spread: PositiveNumber | None = None
    candidates: dict[Name, Candidate] = Field(default_factory=dict)
    loadings: dict[Name, Loading] = Field(default_factory=dict)
    measure: Name | None = None
    condition: Literal["below", "above"] | None = None
    threshold: Number | None = None
    window: PositiveNumber | None = None


class EventSignal(_Strict):
    """How coded news events (direction x strength) translate into factor innovations.

    ``month_noise`` (optional) is the sd of a coder effect shared by every event on the same
    target in the same month: however many events coders found, a month's reading of the
    innovation is no more precise than ``month_noise`` allows (coverage, not the world, sets the
    number of events).
    """

    gain: PositiveNumber
    noise: PositiveNumber
    month_noise: PositiveNumber | None = None


class OutcomeDrift(_Strict):
    """Each outcome's own drift of its logit hazard, apart from the factors: what outcome-coded
    news (an event row on an outcome) reads. An AR(1) path per outcome that has news, its
    innovation sd ``volatility`` (logit units a month) and its monthly ``reversion`` toward 0."""

    volatility: PositiveNumber
    reversion: Reversion


class Correlation(_Sourced):
    """Factors whose monthly innovations may correlate, with an LKJ(eta) prior on their
    correlation matrix (eta 1: uniform; larger: closer to independent)."""

    factors: tuple[Name, ...]
    eta: Float = Field(gt=0)


class ForecastNoise(_Strict):
    """Priors on crowd/expert forecast sources: bias and noise on the logit scale, pooled."""

    bias_sd: PositiveNumber
    noise_scale: PositiveNumber


class Vintage(_Sourced):
    """The last day of data the scenario's numbers were chosen with. A backtest origin before it
    would see hindsight through the scenario (initial levels, indicator centres, candidate
    offsets), so the backtest keeps the scenario's fits out there."""

    as_of: date


class Scenario(_Strict):
    """A whole scenario: what the model is built from."""

    name: Name
    title: Text
    description: str = ""
    start: str
    end: str
    horizons: tuple[Int, ...]
    vintage: Vintage | None = None  # none: every number may hold hindsight
    event_signal: EventSignal
    outcome_drift: OutcomeDrift | None = None  # needed only by news on outcomes
    correlation: Correlation | None = None  # none: factor innovations are independent
    forecast_noise: ForecastNoise
    factors: dict[Name, Factor]
    indicators: dict[Name, Indicator] = Field(default_factory=dict)
    outcomes: dict[Name, Outcome]

    @field_validator("start", "end")
    @classmethod
    def _month(cls, v: str) -> str:
        m = MONTH_RE.match(v)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"expected a month as YYYY-MM, got {v!r}")
        if not MIN_YEAR <= int(m.group(1)) <= MAX_YEAR:
            raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}, got {v!r}")
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(h <= 0 for h in v) or list(v) != sorted(set(v)):
            raise ValueError("horizons must be positive whole months in increasing order")
        if v[-1] > MAX_HORIZON_MONTHS:
            raise ValueError(
                f"horizons must be at most {MAX_HORIZON_MONTHS} months (ten years), got {v[-1]}"
            )
        return v

    # --- derived, read-only views -------------------------------------------------------------
    @property
    def start_date(self) -> date:
        """First day of the scenario's first month (month index 0)."""
        return month_start(self.start)

    @property
    def end_date(self) -> date:
        """Last day of the scenario's last month: evidence may not be dated after it."""
        return month_end(self.end)

    @property
    def factor_names(self) -> list[str]:
        return list(self.factors)

    @property
    def outcome_names(self) -> list[str]:
        return list(self.outcomes)

    def month_index(self, d: date) -> int:
        """Months since the scenario's start month."""
        return (d.year - self.start_date.year) * 12 + d.month - self.start_date.month

    def month_start(self, t: int) -> date:
        """First day of month index ``t``."""
        return month_start(self.start, t)

    def month_labels(self, n: int) -> list[str]:
        """``YYYY-MM`` labels of the first ``n`` months (the model's ``month`` coordinate)."""
        return [month_label(self.month_start(t)) for t in range(n)]

    def targets(self) -> list[Target]:
        """Every forecast target: each outcome as a whole, then each of its candidates."""
        out: list[Target] = []
        for name, o in self.outcomes.items():
            out.append(Target(name))
            out.extend(Target(name, c) for c in o.candidates)
        return out


def _cross_check(s: Scenario) -> list[tuple[str, str, str]]:
    """Checks that span several keys; returns (key path, field, message) triples."""
    errs: list[tuple[str, str, str]] = []
    if s.start_date >= s.end_date:
        errs.append(("(top)", "end", f"must be after start {s.start}"))
    factor_has_sign: dict[str, bool] = dict.fromkeys(s.factors, False)
    for iname, ind in s.indicators.items():
        path = f"indicators.{iname}"
        if ind.factor not in s.factors:
            errs.append((path, "factor", f"unknown factor {ind.factor!r}"))
        else:
            factor_has_sign[ind.factor] = True
        need = {"normal": ("center", "spread"), "count": ("baseline",), "rating": ("levels",)}
        for key in need[ind.likelihood]:
            if getattr(ind, key) is None:
                errs.append((path, key, f"required for likelihood {ind.likelihood!r}"))
        for key in ("center", "spread", "baseline", "levels"):
            if key not in need[ind.likelihood] and getattr(ind, key) is not None:
                errs.append((path, key, f"not used by likelihood {ind.likelihood!r}"))
        if ind.likelihood != "normal" and ind.transform != "identity":
            errs.append((path, "transform", "only normal indicators take a transform"))
        levels = ind.levels
        if levels is not None and (len(levels) < 2 or len(set(levels)) != len(levels)):
            errs.append((path, "levels", "need at least two distinct levels"))
        if ind.sources and ind.likelihood == "rating":
            errs.append((path, "sources", "only count and normal indicators take sources"))
        for sname, src in ind.sources.items():
            for other, o in ind.sources.items():
                if other != sname and src.match.casefold() in o.match.casefold():
                    errs.append(
                        (
                            f"{path}.sources.{sname}",
                            "match",
                            f"{src.match!r} occurs in the match text of source {other!r}, so "
                            "every row of that source would match both",
                        )
                    )
                    break
    for oname, o in s.outcomes.items():
        path = f"outcomes.{oname}"
        if o.kind in ("event", "persistence"):
            if o.base_rate is None:
                errs.append((path, "base_rate", f"required for kind {o.kind!r}"))
            if not o.loadings:
                errs.append((path, "loadings", "an event outcome needs at least one loading"))
            for key in ("measure", "condition", "threshold", "window"):
                if getattr(o, key) is not None:
                    errs.append((path, key, f"only state outcomes take {key!r}"))
        else:
            for key in ("measure", "condition", "threshold", "window"):
                if getattr(o, key) is None:
                    errs.append((path, key, "required for kind 'state'"))
            for key in ("base_rate", "candidate_spread"):
                if getattr(o, key) is not None:
                    errs.append((path, key, "state outcomes follow their measure, not a hazard"))
            if o.loadings or o.candidates:
                errs.append((path, "loadings", "state outcomes take no loadings or candidates"))
            if o.measure is not None:
                ind = s.indicators.get(o.measure)
                if o.measure not in s.factors and ind is None:
                    errs.append((path, "measure", f"unknown factor or indicator {o.measure!r}"))
                elif ind is not None and ind.likelihood == "rating":
                    errs.append((path, "measure", "a rating indicator cannot be a measure"))
            if o.window is not None and o.window.value != int(o.window.value):
                errs.append((path, "window", "must be a whole number of months"))
        if o.candidates and o.candidate_spread is None:
            errs.append((path, "candidate_spread", "required when an outcome has candidates"))
        if o.candidate_spread is not None and not o.candidates:
            errs.append((path, "candidate_spread", "given but the outcome has no candidates"))
        for fname, ld in o.loadings.items():
            if fname not in s.factors:
                errs.append((f"{path}.loadings", fname, f"unknown factor {fname!r}"))
            elif ld.sign != "free":
                factor_has_sign[fname] = True
    for fname, f in s.factors.items():
        r = f.reversion
        if (
            r is not None
            and r.sd is not None
            and (r.value >= 1.0 or r.sd**2 >= r.value * (1 - r.value))
        ):
            errs.append(
                (
                    f"factors.{fname}.reversion",
                    "sd",
                    "a learned reversion needs value < 1 and sd < sqrt(value * (1 - value))",
                )
            )
    if s.correlation is not None:
        cf = s.correlation.factors
        if len(cf) < 2 or len(set(cf)) != len(cf):
            errs.append(("correlation", "factors", "need at least two distinct factors"))
        for fname in cf:
            if fname not in s.factors:
                errs.append(("correlation", "factors", f"unknown factor {fname!r}"))
    for fname, ok in factor_has_sign.items():
        if not ok:
            errs.append(
                (
                    "factors",
                    fname,
                    "needs at least one indicator or one loading with sign '+' or '-' "
                    "(otherwise the factor's direction is not identified)",
                )
            )
    return errs


def _loc(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Pydantic error location -> (dotted key path of the table, key).

    List positions are attached to their key (``horizons[1]``); an invalid table key (pydantic's
    ``[key]`` marker) is reported as the key itself in its parent table.
    """
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int) and parts:
            parts[-1] += f"[{p}]"
        elif p == "[key]" and parts:
            continue
        else:
            p = str(p)
            parts.append(p if BARE_KEY_RE.match(p) else one_line(json.dumps(p, ensure_ascii=False)))
    if not parts:
        return "(top)", "(top)"
    return ".".join(parts[:-1]) or "(top)", parts[-1]


def _toml_type(v: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    if isinstance(v, list):
        return "an array"
    return names.get(type(v), "a date or time" if v is not None else "nothing")


def _message(e: dict) -> str:
    if e["type"] == "extra_forbidden":
        return "unknown key"
    if e["type"] == "missing":
        return "required key is missing"
    if e["type"] in ("model_type", "dict_type"):
        return f"expected a table, got {_toml_type(e['input'])}"
    ctx = e.get("ctx") or {}
    if e["type"] in ("float_type", "int_type"):  # strict numbers: see ``Float`` and ``Int``
        v = e["input"]
        want = "a whole number" if e["type"] == "int_type" else "a number"
        if isinstance(v, bool):
            return f"expected {want}, got a boolean ({str(v).lower()})"
        if isinstance(v, int | float):
            return f"expected {want}, got {_toml_type(v)} ({v!r})"
        return f"expected {want}, got {_toml_type(v)}"
    if e["type"] == "finite_number":
        return f"must be a finite number, got {e['input']!r}"
    if e["type"] == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return f"not a valid name {e['input']!r}: use {NAME_HELP}"
    return str(e["msg"]).removeprefix("Value error, ")


def parse_scenario(text: str, file: str) -> Scenario:
    """Parse scenario TOML text; raise ``InputError`` listing every problem found."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem(file, "(toml)", "syntax", f"malformed TOML: {exc}")]) from None
    except RecursionError:
        raise InputError(
            [Problem(file, "(toml)", "syntax", "malformed TOML: values nested too deeply")]
        ) from None
    except ValueError as exc:  # an integer longer than Python converts (4300 digits)
        raise InputError([Problem(file, "(toml)", "syntax", f"malformed TOML: {exc}")]) from None
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            where, field = _loc(e["loc"])
            problems.append(Problem(file, where, field, _message(e)))
        raise InputError(problems) from None
    errs = _cross_check(scenario)
    if errs:
        raise InputError([Problem(file, w, f, m) for w, f, m in errs])
    return scenario


def decode_utf8(data: bytes) -> tuple[str | None, str]:
    """Decode UTF-8 (a leading BOM is dropped); on failure return ``(None, where it fails)``."""
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, f"byte 0x{data[exc.start]:02x} at line {line}, column {col}"


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate ``priors/<name>.toml``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), "(file)", "file", exc.strerror or str(exc))]) from None
    text, where = decode_utf8(data)
    if text is None:
        raise InputError(
            [Problem(str(path), "(file)", "encoding", f"not UTF-8 text: {where}")]
        ) from None
    return parse_scenario(text, str(path))
