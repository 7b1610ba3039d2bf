"""Property-based tests: randomly corrupted evidence and scenario files never crash the loaders.

Whatever the corruption, loading either succeeds or raises ``InputError`` whose every problem
names a file, a location and a field, and prints on one line. Any other exception is a bug.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.data.errors import InputError
from forecast.data.evidence import load_evidence
from forecast.data.rules import COLUMNS, KINDS
from forecast.data.scenario import Scenario
from forecast.data.scenario_file import load_scenario

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ROOT = Path(__file__).resolve().parent / "fixtures" / "mini"
MINI_TOML = (ROOT / "priors" / "mini.toml").read_bytes()
MINI_CSV = (ROOT / "data" / "mini" / "evidence.csv").read_bytes()
SCENARIO = load_scenario(ROOT / "priors" / "mini.toml")


def _esc(text: str) -> bytes:
    """Text to bytes; lone surrogates \\udc80-\\udcff become the raw (invalid UTF-8) bytes."""
    return text.encode("utf-8", errors="surrogateescape")


# Values chosen to hit edge cases: numbers, dates, names, URLs, CSV and encoding trouble.
# fmt: off
NASTY = [
    "", " ", "0", "-0", "1", "-1", "2", "3", "4", "-4", "0.5", "1.5", "1e999", "-1e999", "1e300",
    "nan", "NaN", "inf", "-inf", "1_0", "0x10", "1,5", "\u00b2", "\u0663", "\uff11", "9" * 5000,
    "2022-02-30", "2022-13", "2022-00", "0000-01", "0001-01-01", "9999-12-31", "2022-1-1",
    "2021-12-31", "2025-01-01", "2024-12-31", "2022-02", "2022-02-10", "\u0662\u0660\u0662-01",
    "deal", "deal:", ":", "deal:alpha", "deal:alpha:beta", "deal:gamma", "calm", "bases_kept",
    "attacks", "stockpile", "attack_level", "tension", "appetite", "low", "medium", "high",
    "https://", "http://[::1", "https://a.org/x ; https://b.org/y", "https://a.org/x;", "ftp://x",
    "javascript:alert(1)", "https://a.org/\x00", " ; ", ";", '"', '""', "'", "\n", "\r", "\r\n",
    "\x00", "\udce9", "\udcff\udcfe", "\ufeff", "\t", "\u2028", "x" * 200_000, *KINDS, *COLUMNS,
]
# fmt: on
nasty = st.sampled_from(NASTY) | st.text(max_size=12)


def check_error(exc: InputError) -> None:
    """Every problem is located: file, where (row or key path), field, message; one line each."""
    assert exc.problems
    for p in exc.problems:
        assert isinstance(p.file, str) and p.file, p
        assert isinstance(p.where, int | str), p
        assert (p.where >= 1) if isinstance(p.where, int) else p.where.strip(), p
        assert isinstance(p.field, str) and p.field.strip(), p
        assert isinstance(p.message, str) and p.message.strip(), p
        line = str(p)
        assert "\n" not in line and "\r" not in line, line
        assert line.startswith(f"{p.file}:{p.where}: "), line


def load_or_input_error(load: Callable[[], object]) -> object | None:
    try:
        return load()
    except InputError as exc:
        check_error(exc)
        return None


# --- byte- and line-level corruptions, shared by both formats -----------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


@st.composite
def byte_edit(draw: st.DrawFn, data: bytes) -> bytes:
    n = len(data)
    i = draw(st.integers(0, n))
    j = draw(st.integers(i, min(n, i + 40)))
    op = draw(
        st.sampled_from(
            ["delete", "duplicate", "insert_text", "insert_bytes", "replace_byte", "truncate"]
        )
    )
    if op == "delete":
        return data[:i] + data[j:]
    if op == "duplicate":
        return data[:j] + data[i:j] + data[j:]
    if op == "insert_text":
        return data[:i] + _esc(draw(nasty)) + data[i:]
    if op == "insert_bytes":
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if op == "replace_byte" and i < n:
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    return data[:i]


@st.composite
def line_edit(draw: st.DrawFn, data: bytes) -> bytes:
    lines = _lines(data)
    k = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["shuffle", "duplicate", "delete", "swap", "crlf", "blank"]))
    if op == "shuffle":
        lines = draw(st.permutations(lines))
    elif op == "duplicate":
        lines.insert(draw(st.integers(0, len(lines))), lines[k])
    elif op == "delete":
        del lines[k]
    elif op == "swap":
        m = draw(st.integers(0, len(lines) - 1))
        lines[k], lines[m] = lines[m], lines[k]
    elif op == "crlf":
        return data.replace(b"\n", b"\r\n")
    else:
        lines.insert(k, b"")
    return b"\n".join(lines)


# --- CSV-specific corruptions -------------------------------------------------------------------


@st.composite
def csv_field_edit(draw: st.DrawFn, data: bytes) -> bytes:
    """Naive field surgery (the mini log has no quoted fields): swap, drop, add, re-delimit."""
    rows = [ln.split(b",") for ln in _lines(data)]
    k = draw(st.integers(0, len(rows) - 1))
    width = max(len(r) for r in rows)
    c1, c2 = draw(st.integers(0, width - 1)), draw(st.integers(0, width - 1))
    op = draw(
        st.sampled_from(
            [
                "swap",
                "swap_everywhere",
                "drop_column",
                "drop_cell",
                "add_column",
                "add_cell",
                "delimiter",
                "delimiter_one_line",
                "set_cell",
            ]
        )
    )
    if op == "swap" and max(c1, c2) < len(rows[k]):
        rows[k][c1], rows[k][c2] = rows[k][c2], rows[k][c1]
    elif op == "swap_everywhere":
        for r in rows:
            if max(c1, c2) < len(r):
                r[c1], r[c2] = r[c2], r[c1]
    elif op == "drop_column":
        rows = [r[:c1] + r[c1 + 1 :] for r in rows]
    elif op == "drop_cell":
        rows[k] = rows[k][:c1] + rows[k][c1 + 1 :]
    elif op == "add_column":
        extra = _esc(draw(nasty))
        rows = [[*r[:c1], extra, *r[c1:]] for r in rows]
    elif op == "add_cell":
        rows[k].insert(c1, _esc(draw(nasty)))
    elif op in ("delimiter", "delimiter_one_line"):
        sep = draw(st.sampled_from([b";", b"\t", b"|", b" ", b", ", b",,"]))
        if op == "delimiter":
            return b"\n".join(sep.join(r) for r in rows)
        rows[k] = [sep.join(rows[k])]
    elif c1 < len(rows[k]):
        rows[k][c1] = _esc(draw(nasty))
    return b"\n".join(b",".join(r) for r in rows)


@st.composite
def csv_cells(draw: st.DrawFn) -> bytes:
    """The mini log re-written through ``csv`` (proper quoting) after replacing a few cells."""
    rows = list(csv.reader(io.StringIO(MINI_CSV.decode(), newline="")))
    for _ in range(draw(st.integers(1, 6))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][c] = draw(nasty)
    buf = io.StringIO()
    csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(rows)
    return _esc(buf.getvalue())


# fmt: off
NUMBERS = [
    "0", "-0", "-1", "0.5", "1.5", "4", "1e300", "1e999", "nan", "\u00b2", "\u0663", "9" * 5000,
    "1e-300", "", "3000000", "1e10", "99999999999",
]
# fmt: on
# fmt: off
DATES = [
    "2022-02-29", "2024-02-29", "2024-12", "2024-12-31", "2021-12-31", "2025-01-01", "0000-01",
    "9999-12-31", "2022-1", "2022-05-00", "", "\u0662\u0660\u0662\u0662-05",
]
# fmt: on
# fmt: off
TARGETS = [
    "stockpile", "attacks", "attack_level", "tension", "appetite", "deal", "deal:alpha",
    "deal:beta", "deal:", "deal:gamma", "bases_kept", "calm", "nope", "",
]
# fmt: on
POOLS = {
    "date": DATES,
    "kind": [*KINDS, "Count", ""],
    "target": TARGETS,
    "value": [*NUMBERS, "low", "medium", "high", "0.2", "0.99", "1", "3", "-3"],
    "source": ["", " "],
    "source_url": ["https://a.org/x ; https://b.org/y", "https://a.org/x;", "x", "http://", ""],
    "horizon_months": NUMBERS,
    "exposure_days": NUMBERS,
    "forecaster": ["crowd", ""],
    "published": ["2023-03-20", "2022-08", "2022-09-31", "soon", ""],
    "note": ["a note", "line\nbreak"],
}
# Columns to corrupt, weighted toward those that feed arithmetic.
# fmt: off
HOT_COLUMNS = [
    *COLUMNS, "date", "value", "value", "horizon_months", "exposure_days", "exposure_days",
    "target",
]
# fmt: on
TARGETS_OF = {
    "indicator": ["stockpile"],
    "count": ["attacks"],
    "rating": ["attack_level"],
    "event": ["tension", "appetite"],
    "forecast": ["deal", "deal:alpha", "bases_kept"],
    "resolution": ["deal:beta", "deal", "bases_kept"],
    "likelihood_ratio": ["deal", "deal:alpha", "bases_kept"],
}


@st.composite
def evidence_row(draw: st.DrawFn) -> list[str]:
    """A valid row of a random kind with one or two cells replaced by near misses or junk."""
    kind = draw(st.sampled_from(KINDS))
    row = {
        "date": draw(st.sampled_from(["2022-09", "2023-03-15", "2024-12-01"])),
        "kind": kind,
        "target": draw(st.sampled_from(TARGETS_OF[kind])),
        "value": {"rating": "low", "resolution": "0", "forecast": "0.3"}.get(kind, "2"),
        "source": "Src",
        "source_url": "https://a.org/x",
        "horizon_months": "6" if kind in ("forecast", "likelihood_ratio") else "",
        "exposure_days": "7" if kind == "count" else "",
        "forecaster": "crowd" if kind == "forecast" else "",
        "published": "",
        "note": "",
    }
    for _ in range(draw(st.integers(0, 2))):
        col = draw(st.sampled_from(HOT_COLUMNS))
        row[col] = draw(st.sampled_from(POOLS[col]) | st.sampled_from(POOLS[col]) | nasty)
    return [row[c] for c in COLUMNS]


@st.composite
def csv_rows(draw: st.DrawFn) -> bytes:
    """The mini log plus one to five generated rows."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        draw(st.lists(evidence_row(), min_size=1, max_size=5))
    )
    return MINI_CSV + _esc(buf.getvalue())


def corrupted(base: bytes, *edits: Callable[[bytes], st.SearchStrategy[bytes]]):
    @st.composite
    def strategy(draw: st.DrawFn) -> bytes:
        data = base
        for _ in range(draw(st.integers(1, 4))):
            edit = draw(st.sampled_from(edits))
            data = draw(edit(data))
        return data

    return strategy()


@pytest.fixture(scope="module")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_evidence")


def _load_evidence(directory: Path, data: bytes) -> None:
    (directory / "evidence.csv").write_bytes(data)
    ev = load_or_input_error(lambda: load_evidence(directory, SCENARIO))
    if ev is not None:
        assert set(ev.frame["kind"]) <= set(KINDS)
        assert ev.frame["value"].notna().all()


@FUZZ
@given(data=corrupted(MINI_CSV, byte_edit, line_edit, csv_field_edit))
def test_corrupted_evidence_gives_located_errors(evidence_dir: Path, data: bytes) -> None:
    _load_evidence(evidence_dir, data)


@FUZZ
@given(data=st.one_of(csv_cells(), corrupted(MINI_CSV, csv_field_edit)))
def test_corrupted_evidence_cells_give_located_errors(evidence_dir: Path, data: bytes) -> None:
    _load_evidence(evidence_dir, data)


@FUZZ
@given(data=csv_rows())
def test_generated_evidence_rows_give_located_errors(evidence_dir: Path, data: bytes) -> None:
    _load_evidence(evidence_dir, data)


# --- TOML-specific corruptions ------------------------------------------------------------------


def _toml_ok(s: str) -> bool:
    """TOML text cannot hold lone surrogates (the writer escapes everything else)."""
    return not any("\ud800" <= c <= "\udfff" for c in s)


toml_scalars = st.one_of(
    st.sampled_from([v for v in NASTY if _toml_ok(v)]),
    st.text(max_size=12).filter(_toml_ok),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.dates(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["value", "rationale", "source", "x", "mean", "sd"])
            | st.text(max_size=6).filter(_toml_ok),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)


toml_numbers = st.one_of(
    st.sampled_from([0, -1, 0.5, 2.5, 1e308, 1e-308, 2**63 - 1, -(2**63)]),
    st.sampled_from([float("inf"), float("-inf"), float("nan")]),
    st.floats(),
    st.integers(-(2**63), 2**63 - 1),
)
# fmt: off
MONTHS = [
    "2022-00", "2022-13", "0000-01", "9999-12", "1899-12", "2201-01", "2030-01", "2021-12",
    "2022-1", "2022-01-01", "\u0662\u0660\u0662\u0662-01",
]
# fmt: on
# fmt: off
WORDS = [
    "tension", "appetite", "attacks", "attack_level", "stockpile", "deal", "calm", "x", "Tension",
    "", "+", "-", "free", "event", "persistence", "state", "normal", "count", "rating", "log",
    "identity", "below", "above",
]
# fmt: on


def _like(old: object, key: str) -> st.SearchStrategy:
    """A replacement value, usually of the same TOML type as ``old`` (to get past type checks)."""
    if isinstance(old, int | float) and not isinstance(old, bool):
        return toml_numbers | toml_numbers | toml_values
    if isinstance(old, str):
        return st.sampled_from(MONTHS if key in ("start", "end") else WORDS) | toml_values
    if isinstance(old, list):
        return st.lists(toml_numbers | st.sampled_from(WORDS), max_size=4) | toml_values
    return toml_values


def _paths(d: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out.extend(_paths(v, (*prefix, k)))
    return out


# Keys that other keys depend on or that feed date and integer arithmetic: fuzzed more often.
# fmt: off
KEY_PATHS = [
    ("start",), ("end",), ("horizons",), ("outcomes", "calm", "window", "value"),
    ("outcomes", "calm", "threshold", "value"), ("outcomes", "calm", "measure"),
    ("outcomes", "calm", "kind"), ("outcomes", "deal", "kind"), ("outcomes", "bases_kept", "kind"),
    ("outcomes", "deal", "candidates"), ("outcomes", "deal", "loadings"),
    ("outcomes", "deal", "loadings", "tension", "sign"), ("indicators", "attacks", "likelihood"),
    ("indicators", "stockpile", "likelihood"), ("indicators", "attack_level", "levels"),
    ("indicators", "stockpile", "transform"), ("indicators", "attacks", "factor"),
    ("factors", "tension", "volatility", "value"), ("outcomes", "deal", "base_rate", "monthly"),
]
# fmt: on


@st.composite
def toml_structure(draw: st.DrawFn, dump: Callable[[dict], str]) -> bytes:
    """Parse the mini scenario, then delete, replace, add or rename keys anywhere; write it back."""
    doc = tomllib.loads(MINI_TOML.decode())
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        key_paths = [p for p in KEY_PATHS if p in paths]
        if key_paths and draw(st.booleans()):
            path = draw(st.sampled_from(key_paths))
        else:
            path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "add", "rename"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(_like(parent[key], key))
        elif op == "add":
            target = parent[key] if isinstance(parent[key], dict) else parent
            target[
                draw(st.sampled_from([*filter(_toml_ok, NASTY[:60]), "loading_scale", "label"]))
            ] = draw(toml_values)
        else:
            new = draw(st.sampled_from(["tension", "appetite", "deal", "calm", "Tension", "x"]))
            parent[new] = parent.pop(key)
        if not doc:
            break
    return dump(doc).encode("utf-8", errors="surrogateescape")


@st.composite
def toml_field_edits(draw: st.DrawFn, dump: Callable[[dict], str]) -> bytes:
    """One or two values replaced by others of (mostly) the same type, favouring ``KEY_PATHS``."""
    doc = tomllib.loads(MINI_TOML.decode())
    for _ in range(draw(st.integers(1, 2))):
        leaves = [p for p in _paths(doc) if not isinstance(_get(doc, p), dict)]
        hot = [p for p in KEY_PATHS if p in leaves]
        path = draw(
            st.sampled_from(hot) if hot and draw(st.booleans()) else st.sampled_from(leaves)
        )
        parent = _get(doc, path[:-1])
        parent[path[-1]] = draw(_like(parent[path[-1]], path[-1]))
    return dump(doc).encode("utf-8")


def _get(doc: dict, path: tuple) -> object:
    for k in path:
        doc = doc[k]
    return doc


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_scenario") / "mini.toml"


def _load_scenario(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    s = load_or_input_error(lambda: load_scenario(path))
    if s is not None:
        assert isinstance(s, Scenario)
        s.targets()  # derived views work on anything that validates
        assert s.start_date < s.end_date


@FUZZ
@given(data=corrupted(MINI_TOML, byte_edit, line_edit))
def test_corrupted_scenario_gives_located_errors(scenario_file: Path, data: bytes) -> None:
    _load_scenario(scenario_file, data)


def test_integer_too_long_to_convert_is_a_located_error(scenario_file: Path) -> None:
    """tomllib raises ValueError (not TOMLDecodeError) past Python's 4300-digit int limit."""
    text = MINI_TOML.decode().replace("[event_signal]", "huge = " + "9" * 5000, 1)
    scenario_file.write_text(text)
    with pytest.raises(InputError, match=r"\(toml\): syntax: malformed TOML: .*4300 digits"):
        load_scenario(scenario_file)


@FUZZ
@given(data=st.data())
def test_restructured_scenario_gives_located_errors(
    scenario_file: Path, dump_toml, data: st.DataObject
) -> None:
    doc = data.draw(toml_structure(dump_toml))
    if data.draw(st.booleans()):
        doc = data.draw(byte_edit(doc))
    _load_scenario(scenario_file, doc)


def test_nasty_values_cover_each_kind() -> None:
    assert set(KINDS) <= set(NASTY)


@FUZZ
@given(data=st.data())
def test_scenario_field_edits_give_located_errors(
    scenario_file: Path, dump_toml, data: st.DataObject
) -> None:
    _load_scenario(scenario_file, data.draw(toml_field_edits(dump_toml)))
