"""``forecast check`` on the shipped scenario and on corrupted copies of it.

On bad input the command exits 2 and prints every problem as ``<file>:<row>: <field>: ...`` on
stderr, never a Python traceback.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.cli.app import unwrap
from forecast.data.errors import InputError
from forecast.data.inputs import load_inputs
from forecast.data.scenario_file import load_scenario

SCENARIO = "israel_russia"
TOML = f"priors/{SCENARIO}.toml"
DATA = f"data/{SCENARIO}"
FORECAST = Path(sys.executable).parent / "forecast"  # the installed console script


@pytest.fixture
def project(repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped priors/ and data/ in tmp_path, which is also the working folder
    (so that the file names in messages are the short relative ones a user sees)."""
    for sub in ("priors", "data"):
        shutil.copytree(repo_root / sub, tmp_path / sub)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_check(*args: str):
    result = CliRunner().invoke(app, ["check", *args])
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def lines_of(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines()]


def assert_reported(stderr: str, expected: list[str]) -> None:
    """Each expected problem starts a line of stderr (one problem per line, never wrapped)."""
    lines = lines_of(stderr)
    for exp in expected:
        assert any(ln.startswith(exp) for ln in lines), f"no line starts {exp!r}:\n{stderr}"


# --- the shipped scenario -----------------------------------------------------------------------


def test_check_shipped_scenario(repo_root: Path) -> None:
    result = run_check("--root", str(repo_root))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out = " ".join(result.stdout.split())
    assert "inputs are valid" in out
    s = load_scenario(repo_root / TOML)
    for name in [*s.outcome_names, *s.factor_names, *s.indicators]:
        assert name in out
    assert "249 in 5 file(s)" in out


def test_check_shipped_scenario_json(repo_root: Path) -> None:
    result = run_check("--root", str(repo_root), "--scenario", SCENARIO, "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    s = load_scenario(repo_root / TOML)
    assert summary["outcomes"] == s.outcome_names
    assert summary["factors"] == s.factor_names
    assert summary["evidence_rows"] == 249
    assert summary["duplicate_facts"] == []
    assert summary["rows_by_kind"] == {
        "count": 22,
        "event": 186,
        "indicator": 15,
        "rating": 13,
        "resolution": 13,
    }


def test_check_mini_scenario(mini_root: Path) -> None:
    result = run_check("--scenario", "mini", "--root", str(mini_root))
    assert result.exit_code == 0, result.stderr
    for name in ("deal", "bases_kept", "calm"):
        assert name in result.stdout


def test_version_prints_the_installed_version_and_nothing_runs() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version", "check", "--root", "/nonexistent"])
    assert result.exit_code == 0, result.output
    assert result.output == f"forecast {version('forecast')}\n"


def test_update_offers_the_samplers_as_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["update", "--runs", str(tmp_path), "--sampler", "stan"])
    assert result.exit_code == 2
    assert "Invalid value for '--sampler'" in result.output
    assert "'stan' is not one of 'nutpie'," in result.output and "'pymc'" in result.output
    assert not list(tmp_path.iterdir())  # nothing ran


def test_check_subprocess_shipped(repo_root: Path) -> None:
    proc = subprocess.run(
        [str(FORECAST), "check", "--root", str(repo_root)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    for name in load_scenario(repo_root / TOML).outcome_names:
        assert name in out


# --- corrupted copies: (corruption, expected "file:row: field:" line starts) --------------------


def _edit(path: str, old: str, new: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    assert old in text, (path, old)
    Path(path).write_text(text.replace(old, new, 1), encoding="utf-8")


def _rows(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write_rows(path: str, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _set_cell(path: str, row: int, column: str, value: str) -> None:
    """Set one cell; ``row`` is the spreadsheet row number (header = 1)."""
    rows = _rows(path)
    rows[row - 1][rows[0].index(column)] = value
    _write_rows(path, rows)


def bad_dates() -> list[str]:
    _set_cell(f"{DATA}/events.csv", 2, "date", "24/02/2022")
    _set_cell(f"{DATA}/events.csv", 3, "date", "2022-02-30")
    return [
        f"{DATA}/events.csv:2: date: not a real date (YYYY-MM-DD or YYYY-MM): '24/02/2022'",
        f"{DATA}/events.csv:3: date: not a real date (YYYY-MM-DD or YYYY-MM): '2022-02-30'",
    ]


def dates_out_of_range() -> list[str]:
    _set_cell(f"{DATA}/ratings.csv", 2, "date", "2021-10")
    _set_cell(f"{DATA}/ratings.csv", 4, "date", "2028-12-31")
    return [
        f"{DATA}/ratings.csv:2: date: 2021-10-01 is outside the scenario span 2022-01..2027-12",
        f"{DATA}/ratings.csv:4: date: 2028-12-31 is outside the scenario span 2022-01..2027-12",
    ]


def non_numbers() -> list[str]:
    _set_cell(f"{DATA}/indicators.csv", 3, "value", "n/a")
    _set_cell(f"{DATA}/counts.csv", 9, "value", "one")
    _set_cell(f"{DATA}/events.csv", 4, "value", "strong")
    return [
        f"{DATA}/indicators.csv:3: value: not a number: 'n/a'",
        f"{DATA}/counts.csv:9: value: not a number: 'one'",
        f"{DATA}/events.csv:4: value: an event is a signed strength -3..-1 or 1..3, got 'strong'",
    ]


def unknown_targets_and_kinds() -> list[str]:
    ev, res = f"{DATA}/events.csv", f"{DATA}/resolutions.csv"
    _set_cell(ev, 5, "kind", "evnt")
    _set_cell(ev, 6, "target", "iran")
    _set_cell(res, 2, "target", "accords_expansion:narnia")
    _set_cell(res, 3, "kind", "resolved")
    _set_cell(f"{DATA}/ratings.csv", 7, "target", "hezbollah_attacks")
    return [
        f"{ev}:5: kind: unknown kind 'evnt'",
        f"{ev}:6: target: unknown factor or outcome 'iran'",
        f"{res}:2: target: outcome 'accords_expansion' has no candidate 'narnia'",
        f"{res}:3: kind: unknown kind 'resolved'",
        f"{DATA}/ratings.csv:7: target: indicator 'hezbollah_attacks' is a count indicator, "
        "not rating",
    ]


def duplicate_rows() -> list[str]:
    ev = f"{DATA}/events.csv"
    rows = _rows(ev)
    _write_rows(ev, [*rows, rows[6]])
    return [f"{ev}:{len(rows) + 1}: (row): duplicate row: the same as {ev}:7"]


def short_and_long_rows() -> list[str]:
    rat = f"{DATA}/ratings.csv"
    rows = _rows(rat)
    rows[4] = rows[4][:4]
    rows[5] = [*rows[5], "extra"]
    _write_rows(rat, rows)
    return [
        f"{rat}:5: (row): has 4 fields but the header has 10",
        f"{rat}:6: (row): has 11 fields but the header has 10",
    ]


def empty_file() -> list[str]:
    Path(f"{DATA}/counts.csv").write_bytes(b"")
    return [f"{DATA}/counts.csv:(file): file: empty file: expected a header row"]


def wrong_encodings() -> list[str]:
    ind = Path(f"{DATA}/indicators.csv")
    ind.write_bytes(ind.read_text(encoding="utf-8").encode("utf-16"))
    rat = Path(f"{DATA}/ratings.csv")
    lines = rat.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",high,", b",h\xe9gh,", 1)  # latin-1
    rat.write_bytes(b"\n".join(lines))
    return [
        f"{DATA}/indicators.csv:(file): encoding: looks like UTF-16 (or binary): save the file "
        "as UTF-8",
        f"{DATA}/ratings.csv:3: value: not UTF-8 (byte 0xe9); save the file as UTF-8",
    ]


def missing_scenario_file() -> list[str]:
    Path(TOML).unlink()
    return [f"{TOML}:(file): file: No such file or directory"]


def missing_evidence_folder() -> list[str]:
    shutil.rmtree(DATA)
    return [f"{DATA}:(dir): directory: evidence folder not found"]


def malformed_toml() -> list[str]:
    _edit(TOML, "horizons = [6, 12, 24]", "horizons = [6, 12, 24")
    return [f"{TOML}:(toml): syntax: malformed TOML:"]


def invalid_toml_values() -> list[str]:
    _edit(TOML, 'start = "2022-01"', 'start = "2022-1"')
    _edit(
        TOML,
        "[factors.iran_hostility.volatility]\nvalue = 0.35",
        "[factors.iran_hostility.volatility]\nvalue = -0.35",
    )
    _edit(TOML, "[outcomes.israel_iran_thaw.base_rate]", "[outcomes.israel_iran_thaw.base_rat]")
    return [
        f"{TOML}:(top): start: expected a month as YYYY-MM, got '2022-1'",
        f"{TOML}:factors.iran_hostility.volatility: value: Input should be greater than 0",
        f"{TOML}:outcomes.israel_iran_thaw: base_rat: unknown key",
    ]


def overlapping_counts() -> list[str]:
    cnt = f"{DATA}/counts.csv"
    _set_cell(cnt, 4, "exposure_days", "8")  # undo the one-day fix (see data/.../README.md)
    return [
        f"{cnt}:5: date: counted period 2024-07-29..2024-08-04 overlaps the period "
        f"2024-07-22..2024-07-29 of {cnt}:4 (same target 'hezbollah_attacks'; a day may be "
        "counted only once)"
    ]


def many_at_once() -> list[str]:
    expected = []
    for corrupt in (
        bad_dates,
        dates_out_of_range,
        unknown_targets_and_kinds,
        short_and_long_rows,
        duplicate_rows,
        empty_file,
    ):
        expected += corrupt()
    return expected


CORRUPTIONS: list[Callable[[], list[str]]] = [
    bad_dates,
    dates_out_of_range,
    non_numbers,
    unknown_targets_and_kinds,
    duplicate_rows,
    short_and_long_rows,
    empty_file,
    wrong_encodings,
    missing_scenario_file,
    missing_evidence_folder,
    malformed_toml,
    invalid_toml_values,
    overlapping_counts,
    many_at_once,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__)
def test_check_reports_every_problem(project: Path, corrupt: Callable[[], list[str]]) -> None:
    expected = corrupt()
    result = run_check("--root", ".")
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert_reported(result.stderr, expected)
    with pytest.raises(InputError) as info:
        load_inputs(SCENARIO, ".")
    n = len(info.value.problems)
    assert n >= len(expected)
    assert lines_of(result.stderr)[-1] == f"{n} problem(s) found; nothing was run."


def _subprocess_check(root: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [str(FORECAST), "check", "--root", str(root)],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=300,
        check=False,
    )


def test_check_subprocess_reports_problems(project: Path) -> None:
    expected = many_at_once() + wrong_encodings()
    proc = _subprocess_check(Path("."))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_reported(proc.stderr, expected)


def test_check_subprocess_bad_root(tmp_path: Path) -> None:
    proc = _subprocess_check(Path("nowhere"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert lines_of(proc.stderr) == [
        f"nowhere/{TOML}:(file): file: No such file or directory",
        "1 problem(s) found; nothing was run.",
    ]


def test_check_prints_each_problem_on_one_line(project: Path) -> None:
    """Long problems are not wrapped at the console width (80 columns in a pipe)."""
    many_at_once()
    with pytest.raises(InputError) as info:
        load_inputs(SCENARIO, ".")
    proc = _subprocess_check(Path("."))
    err = lines_of(proc.stderr)
    for p in info.value.problems:
        assert str(p) in err, str(p)


def test_help_text_is_wrapped_by_the_terminal_not_the_source():
    """Docstring paragraphs become one line each (the terminal wraps them); example lines stay."""
    doc = "First line.\n\n    A paragraph\n    across lines.\n\n    Examples:\n      a\n      b\n"
    assert unwrap(doc) == "First line.\n\nA paragraph across lines.\n\nExamples:\n  a\n  b"
    wide = {"terminal_width": 200, "env": {"COLUMNS": "200"}}
    result = CliRunner().invoke(app, ["--help"], **wide)
    assert "and the change since the run before." in result.output  # was broken after "since"
    update = CliRunner().invoke(app, ["update", "--help"], **wide)
    assert "(same months, terms and sources), that run's posterior" in update.output
    assert "\n   forecast update --runs runs --seed 1" in update.output.replace("│", "")
