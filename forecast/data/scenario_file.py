"""Reading a scenario file (``priors/<name>.toml``): TOML text to a validated ``Scenario``.

All problems in a file are collected and raised together as one ``InputError`` whose problems are
located by dotted key path (``outcomes.deal.loadings``) and key. Checks run in two passes: first
the structure of every table (unknown or missing keys, types, ranges: the schema in
``forecast.data.scenario``), then, once the structure is valid, the rules that span several tables
(names that refer to factors or indicators, what each likelihood or outcome kind requires,
identification).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from forecast.data.errors import InputError, Problem, one_line
from forecast.data.scenario import NAME_HELP, NAME_PATTERN, Outcome, Scenario

BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")  # TOML keys that need no quotes


def _cross_check(s: Scenario) -> list[tuple[str, str, str]]:
    """Checks that span several keys; returns (key path, field, message) triples."""
    errs: list[tuple[str, str, str]] = []
    if s.start_date >= s.end_date:
        errs.append(("(top)", "end", f"must be after start {s.start}"))
    signed = _check_indicators(s, errs) | _check_outcomes(s, errs)
    _check_dynamics(s, errs)
    for fname in s.factors:
        if fname not in signed:
            errs.append(
                (
                    "factors",
                    fname,
                    "needs at least one indicator or one loading with sign '+' or '-' "
                    "(otherwise the factor's direction is not identified)",
                )
            )
    return errs


def _check_indicators(s: Scenario, errs: list[tuple[str, str, str]]) -> set[str]:
    """What each likelihood requires, and sources; returns the factors an indicator signs."""
    signed: set[str] = set()
    for iname, ind in s.indicators.items():
        path = f"indicators.{iname}"
        if ind.factor not in s.factors:
            errs.append((path, "factor", f"unknown factor {ind.factor!r}"))
        else:
            signed.add(ind.factor)
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
    return signed


def _check_outcomes(s: Scenario, errs: list[tuple[str, str, str]]) -> set[str]:
    """What each outcome kind requires; returns the factors a signed loading names."""
    signed: set[str] = set()
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
            _check_state_outcome(s, o, path, errs)
        if o.candidates and o.candidate_spread is None:
            errs.append((path, "candidate_spread", "required when an outcome has candidates"))
        if o.candidate_spread is not None and not o.candidates:
            errs.append((path, "candidate_spread", "given but the outcome has no candidates"))
        for fname, ld in o.loadings.items():
            if fname not in s.factors:
                errs.append((f"{path}.loadings", fname, f"unknown factor {fname!r}"))
            elif ld.sign != "free":
                signed.add(fname)
    return signed


def _check_state_outcome(
    s: Scenario, o: Outcome, path: str, errs: list[tuple[str, str, str]]
) -> None:
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


def _check_dynamics(s: Scenario, errs: list[tuple[str, str, str]]) -> None:
    """Learned reversions, the correlated block and the heavy-tailed factors."""
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
    heavy = s.innovations.factors if s.innovations is not None else None
    if heavy is not None:
        if not heavy or len(set(heavy)) != len(heavy):
            errs.append(("innovations", "factors", "need at least one factor, each once"))
        for fname in heavy:
            if fname not in s.factors:
                errs.append(("innovations", "factors", f"unknown factor {fname!r}"))


def toml_location(loc: tuple[int | str, ...]) -> tuple[str, str]:
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


def toml_message(e: dict) -> str:
    """A pydantic error in the words of a TOML file (its keys, its types)."""
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
    raw = parse_toml(text, file)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            where, field = toml_location(e["loc"])
            problems.append(Problem(file, where, field, toml_message(e)))
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
    return parse_scenario(read_toml_text(Path(path)), str(path))


def read_toml_text(path: Path) -> str:
    """A TOML file's text; ``InputError`` located at the file if it is a directory, cannot be
    read or is not UTF-8 text (a leading BOM is dropped)."""
    file = str(path)
    if path.is_dir():
        raise InputError([Problem(file, "(file)", "file", "is a directory, not a TOML file")])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(file, "(file)", "file", exc.strerror or str(exc))]) from None
    text, where = decode_utf8(data)
    if text is None:
        raise InputError([Problem(file, "(file)", "encoding", f"not UTF-8 text: {where}")])
    return text


def parse_toml(text: str, file: str) -> dict:
    """TOML text as a dict; ``InputError`` at ``file`` if it is malformed."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise InputError(
            [Problem(file, "(toml)", "syntax", "malformed TOML: values nested too deeply")]
        ) from None
    except ValueError as exc:  # TOMLDecodeError, or an integer longer than Python converts
        raise InputError([Problem(file, "(toml)", "syntax", f"malformed TOML: {exc}")]) from None
