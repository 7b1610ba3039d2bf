"""``forecast evidence import``: measured exports (ACLED, UCDP, a dated series, crowd histories) →
sourced evidence files, on the real files of ``../shared/data`` (read in place, never copied into
the repository). Each expected value is computed here from the export with the ``csv`` module,
independently of the importer. No MCMC."""

from __future__ import annotations

import calendar
import csv
import json
import math
import shutil
import string
import tomllib
from decimal import Decimal
from pathlib import Path

import needs
import pytest
from conftest import lock_held_elsewhere, toml_dumps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecast.cli import app
from forecast.data.errors import InputError
from forecast.data.importing import (
    IMPORT_KINDS,
    RowChange,
    import_evidence,
    load_mapping,
    parse_mapping,
)
from forecast.data.inputs import load_inputs
from forecast.data.scenario_file import load_scenario

ACLED_TYPES = "acled_country_month_eventtype_mideast_2021_2024.csv"
ACLED_TOTALS = "acled_country_month_mideast_2021_2024.csv"
UCDP = "ucdp_acd_mideast_conflict_years_peacesciencer.csv"
KILLED = "lebanon_killed_monthly_360info_acled.csv"
TYPES = ["Battles", "Explosions/Remote violence"]

# A scenario with an indicator of each likelihood and an outcome with a candidate, spanning the
# exports' months (2021-2024 ACLED, 2023-24 UCDP and 360info, a 2023 Metaculus question).
SCENARIO = """
name = "imp"
title = "Import test scenario"
start = "2022-01"
end = "2025-12"
horizons = [6, 12]

[event_signal]
gain = { value = 1.0, rationale = "r", source = "s" }
noise = { value = 1.0, rationale = "r", source = "s" }

[forecast_noise]
bias_sd = { value = 0.5, rationale = "r", source = "s" }
noise_scale = { value = 0.5, rationale = "r", source = "s" }

[factors.militancy]
label = "Militancy"
initial = { mean = 0.0, sd = 1.0, rationale = "r", source = "s" }
volatility = { value = 0.3, rationale = "r", source = "s" }

[indicators.lebanon_events]
label = "ACLED events in Lebanon"
factor = "militancy"
sign = "+"
likelihood = "count"
baseline = { value = 88.0, rationale = "r", source = "s" }

[indicators.israel_fatalities]
label = "ACLED fatalities in Israel"
factor = "militancy"
sign = "+"
likelihood = "count"
baseline = { value = 30.0, rationale = "r", source = "s" }

[indicators.lebanon_killed]
label = "Killed in Lebanon"
factor = "militancy"
sign = "+"
likelihood = "count"
baseline = { value = 30.0, rationale = "r", source = "s" }

[indicators.killed_log]
label = "Killed in Lebanon (log)"
factor = "militancy"
sign = "+"
likelihood = "normal"
transform = "log"
center = { value = 4.0, rationale = "r", source = "s" }
spread = { value = 1.0, rationale = "r", source = "s" }

[indicators.conflict_level]
label = "UCDP intensity"
factor = "militancy"
sign = "+"
likelihood = "rating"
levels = ["none", "minor", "war"]

[outcomes.deal]
label = "Deal"
kind = "event"
base_rate = { monthly = 0.01, logit_sd = 1.0, rationale = "r", source = "s" }
candidate_spread = { value = 1.0, rationale = "r", source = "s" }
[outcomes.deal.candidates.lebanon]
label = "Lebanon"
[outcomes.deal.loadings.militancy]
sign = "-"
scale = 1.0
rationale = "r"
source = "s"

[outcomes.calm]
label = "Calm"
kind = "state"
measure = "lebanon_killed"
condition = "below"
threshold = { value = 10, rationale = "r", source = "s" }
window = { value = 3, rationale = "r", source = "s" }
"""

runner = CliRunner()


@pytest.fixture
def events() -> Path:
    return needs.shared_data("events")


@pytest.fixture
def questions() -> Path:
    return needs.shared_data("questions")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the ``imp`` scenario and an empty evidence folder."""
    (tmp_path / "priors").mkdir()
    (tmp_path / "priors" / "imp.toml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "data" / "imp").mkdir(parents=True)
    return tmp_path


def acled(events: Path, **over) -> dict:
    return {
        "kind": "acled",
        "file": str(events / ACLED_TYPES),
        "source": "ACLED country-month events (acledr export)",
        "source_url": "https://acleddata.com/",
        "country": "Lebanon",
        "event_type": TYPES,
        "measure": "events",
        "target": "lebanon_events",
        **over,
    }


def ucdp(events: Path, **over) -> dict:
    return {
        "kind": "ucdp",
        "file": str(events / UCDP),
        "source": "UCDP/PRIO Armed Conflict Dataset (peacesciencer)",
        "source_url": "https://ucdp.uu.se/downloads/",
        "filter": {"conflict_id": 426},
        "levels": {"1": "minor", "2": "war"},
        "target": "conflict_level",
        **over,
    }


def killed(file: Path, **over) -> dict:
    return {
        "kind": "series",
        "file": str(file),
        "source": "360info: people killed in Lebanon per month (ACLED)",
        "source_url": "https://github.com/360-info/report-gaza-1year",
        "date_column": "month",
        "value_column": "killed_in_month",
        "observed_until_column": "last_obs_date",
        "target": "lebanon_killed",
        **over,
    }


def crowd(questions: Path, **over) -> dict:
    return {
        "kind": "crowd",
        "file": str(questions / "crowd_series_dev.csv"),
        "questions": str(questions / "questions_dev.csv"),
        "source": "Metaculus: 400 or more deaths in Israel-Hezbollah conflict before 2024?",
        "platform": "metaculus",
        "id": 19375,
        "target": "deal:lebanon",
        **over,
    }


def write_mapping(root: Path, sources: dict, name: str = "map.toml", **top) -> Path:
    path = root / name
    path.write_text(toml_dumps({"scenario": "imp", **top, "sources": sources}), encoding="utf-8")
    return path


def rows_of(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows as dicts, read with the ``csv`` module (an import file or an export)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


export_rows = rows_of


def run(mapping: Path, root: Path, **kw):
    return import_evidence(mapping, root=root, **kw)


def invoke(*args: str):
    res = runner.invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    return res


def month_days(month: str) -> int:
    y, m = map(int, month.split("-"))
    return calendar.monthrange(y, m)[1]


# --- each kind on the real exports --------------------------------------------------------------


def test_acled_events_are_summed_over_the_chosen_types(project, events):
    m = write_mapping(project, {"acled_lebanon": acled(events)})
    res = run(m, project)
    expected: dict[str, int] = {}
    for rec in export_rows(events / ACLED_TYPES):
        if rec["country"] == "Lebanon" and rec["event_type"] in TYPES and rec["month"] >= "2022":
            expected[rec["month"]] = expected.get(rec["month"], 0) + int(rec["events"])
    out = rows_of(project / "data" / "imp" / "import_acled_lebanon.csv")
    assert [r["date"] for r in out] == sorted(expected)  # one row a month, 2022-01..2024-09
    assert len(out) == 33
    for r in out:
        assert r["kind"] == "count" and r["target"] == "lebanon_events"
        assert int(r["value"]) == expected[r["date"]]
        assert int(r["exposure_days"]) == month_days(r["date"])
        assert r["source"] == "ACLED country-month events (acledr export)"
        assert r["source_url"] == "https://acleddata.com/"
        assert r["note"] == f"import acled_lebanon: {ACLED_TYPES} Lebanon {r['date']}"
    assert {r["date"]: r["value"] for r in out}["2024-09"] == "1749"  # 2 battles + 1747
    (s,) = res.sources
    assert (s.status, s.rows, s.added) == ("created", 33, 33)
    assert s.skipped == {"outside the scenario span": 12}  # 2021, before the scenario starts


def test_acled_fatalities_of_all_types(project, events):
    src = acled(
        events,
        file=str(events / ACLED_TOTALS),
        country="Israel",
        measure="fatalities",
        target="israel_fatalities",
    )
    del src["event_type"]
    run(write_mapping(project, {"israel": src}), project)
    expected = {
        r["month"]: r["fatalities"]
        for r in export_rows(events / ACLED_TOTALS)
        if r["country"] == "Israel" and r["month"] >= "2022"
    }
    out = rows_of(project / "data" / "imp" / "import_israel.csv")
    assert {r["date"]: r["value"] for r in out} == expected
    assert len(out) == 33


def test_ucdp_years_become_ratings_through_the_level_map(project, events):
    run(write_mapping(project, {"hezbollah": ucdp(events)}), project)
    expected = {
        f"{r['year']}-12": {"1": "minor", "2": "war"}[r["intensity_level"][0]]
        for r in export_rows(events / UCDP)
        if r["conflict_id"] == "426.0" and r["year"] >= "2022"
    }
    out = rows_of(project / "data" / "imp" / "import_hezbollah.csv")
    assert expected and {r["date"]: r["value"] for r in out} == expected
    assert {r["kind"] for r in out} == {"rating"}
    assert out[0]["note"].startswith(f"import hezbollah: {UCDP} ")
    assert out[0]["note"].endswith(" conflict_id 426")


@pytest.mark.parametrize("aggregate", ["max", "min"])
def test_ucdp_several_conflicts_a_year_are_aggregated(project, events, aggregate):
    # every conflict with Israel on side A
    src = ucdp(events, filter={"gwno_a": 666}, aggregate=aggregate)
    run(write_mapping(project, {"israel_a": src}), project)
    by_year: dict[str, list] = {}
    for r in export_rows(events / UCDP):
        if r["gwno_a"] == "666.0" and r["year"] >= "2022":
            by_year.setdefault(r["year"], []).append(r)
    out = {r["date"]: r for r in rows_of(project / "data" / "imp" / "import_israel_a.csv")}
    assert set(out) == {f"{y}-12" for y in by_year}
    assert any(len(rs) > 1 for rs in by_year.values())  # the case under test occurs
    for y, rs in by_year.items():
        top = {"max": max, "min": min}[aggregate](int(float(r["intensity_level"])) for r in rs)
        assert out[f"{y}-12"]["value"] == {1: "minor", 2: "war"}[top]
        ids = sorted({str(int(float(r["conflict_id"]))) for r in rs}, key=int)
        assert out[f"{y}-12"]["note"].endswith(f"{y} conflict_id {'+'.join(ids)}")


def test_series_counts_cover_the_observed_days(project, events):
    run(write_mapping(project, {"killed": killed(events / KILLED)}), project)
    src = export_rows(events / KILLED)
    out = rows_of(project / "data" / "imp" / "import_killed.csv")
    assert [(r["date"], r["value"]) for r in out] == [
        (r["month"], r["killed_in_month"]) for r in src
    ]
    days = {r["date"]: int(r["exposure_days"]) for r in out}
    assert days["2024-09"] == 27  # last_obs_date 2024-09-27: a partial month
    assert days["2024-02"] == 29 and days["2023-10"] == 31


def test_series_on_a_normal_indicator(project, events):
    src = killed(events / KILLED, target="killed_log")
    del src["observed_until_column"]
    run(write_mapping(project, {"killed_log": src}), project)
    out = rows_of(project / "data" / "imp" / "import_killed_log.csv")
    assert {r["kind"] for r in out} == {"indicator"}
    assert {r["exposure_days"] for r in out} == {""}
    assert [r["value"] for r in out] == [r["killed_in_month"] for r in export_rows(events / KILLED)]


def crowd_points(questions: Path, platform: str, qid: str) -> list[tuple[str, int, str]]:
    """(day, file order, prob_yes) of a question's crowd points, read with csv."""
    pts = [
        (r["date"][:10], i, r["prob_yes"])
        for i, r in enumerate(export_rows(questions / "crowd_series_dev.csv"))
        if r["platform"] == platform and r["id"] == qid
    ]
    return sorted(pts)


def horizon(day: str, close: str) -> int:
    from datetime import date

    days = (date.fromisoformat(close) - date.fromisoformat(day)).days
    return max(1, math.floor(days / (365.25 / 12) + 0.5))


def test_crowd_history_thinned_to_the_last_point_of_each_month(project, questions):
    res = run(write_mapping(project, {"q400": crowd(questions, every="month")}), project)
    last: dict[str, tuple[str, str]] = {}
    points = crowd_points(questions, "metaculus", "19375")
    before_close = [pt for pt in points if pt[0] < "2023-12-31"]  # closes 2023-12-31
    for day, _, p in before_close:
        last[day[:7]] = (day, p)
    assert res.sources[0].skipped == {
        "earlier points of the same month": len(before_close) - 3,
        "on or after the question's close": len(points) - len(before_close),
    }
    out = rows_of(project / "data" / "imp" / "import_q400.csv")
    assert [(r["date"], r["value"]) for r in out] == sorted(last.values())
    assert len(out) == 3
    for r in out:
        assert r["kind"] == "forecast" and r["target"] == "deal:lebanon"
        assert r["forecaster"] == "metaculus"
        assert r["source_url"] == "https://www.metaculus.com/questions/19375"  # from questions
        assert int(r["horizon_months"]) == horizon(r["date"], "2023-12-31")
        assert r["note"] == f"import q400: crowd_series_dev.csv metaculus:19375 {r['date']}"
    assert [r["horizon_months"] for r in out] == ["2", "1", "1"]


def test_crowd_history_daily_and_inverted(project, questions):
    src = crowd(questions, invert=True, forecaster="metaculus_community", close_date="2023-12-31")
    del src["questions"]
    src["source_url"] = "https://www.metaculus.com/questions/19375"
    run(write_mapping(project, {"q400": src}), project)
    last: dict[str, str] = {}
    for day, _, p in crowd_points(questions, "metaculus", "19375"):
        if day < "2023-12-31":
            last[day] = p  # the last listed point of a day counts
    out = rows_of(project / "data" / "imp" / "import_q400.csv")
    assert [r["date"] for r in out] == sorted(last)
    for r in out:
        assert Decimal(r["value"]) == 1 - Decimal(last[r["date"]])
        assert r["forecaster"] == "metaculus_community"
        assert int(r["horizon_months"]) == horizon(r["date"], "2023-12-31")
    # whole months are rounded, not truncated: 2023-10-12 is 80 days (2.6 months) before
    assert {r["date"]: r["horizon_months"] for r in out}["2023-10-12"] == "3"


def test_start_and_end_limit_the_months(project, events):
    m = write_mapping(project, {"a": acled(events, start="2024-01", end="2024-06")})
    (s,) = run(m, project).sources
    out = rows_of(project / "data" / "imp" / "import_a.csv")
    assert [r["date"] for r in out] == [f"2024-0{i}" for i in range(1, 7)]
    assert s.skipped == {"outside the mapping's start..end": 45 - 6}  # 2021-01..2024-09


def test_a_crowd_source_without_questions_file_needs_close_and_url(project, questions):
    src = crowd(questions)
    del src["questions"]
    m = write_mapping(project, {"q": src})
    with pytest.raises(InputError) as exc:
        run(m, project)
    assert [ln.split(": ")[0] + ": " + ln.split(": ")[1] for ln in problems_of(exc)] == [
        f"{m}:sources.q: close_date",
        f"{m}:sources.q: source_url",
    ]


# --- idempotency, longer exports, changed values ------------------------------------------------


def all_four(project: Path, events: Path, questions: Path) -> Path:
    return write_mapping(
        project,
        {
            "acled_lebanon": acled(events),
            "hezbollah": ucdp(events),
            "killed": killed(events / KILLED),
            "q400": crowd(questions, every="month"),
        },
    )


def test_importing_again_changes_nothing(project, events, questions):
    m = all_four(project, events, questions)
    first = run(m, project)
    files = sorted((project / "data" / "imp").glob("import_*.csv"))
    assert len(files) == 4 and set(first.written) == set(files)
    before = {f: (f.read_bytes(), f.stat().st_ino, f.stat().st_mtime_ns) for f in files}
    again = run(m, project)
    assert {f: (f.read_bytes(), f.stat().st_ino, f.stat().st_mtime_ns) for f in files} == before
    assert again.written == ()
    for s in again.sources:
        assert s.status == "unchanged"
        assert (s.added, s.changed, s.removed) == (0, 0, 0)
        assert s.unchanged_rows == s.rows > 0
    res = invoke("evidence", "import", str(m), "--root", str(project))
    assert res.exit_code == 0, res.output
    assert "Nothing changed." in res.output


def truncated(src: Path, dest_dir: Path, keep) -> Path:
    """A copy of ``src`` (same file name) keeping the header and the rows ``keep`` accepts."""
    dest_dir.mkdir(exist_ok=True)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    dest = dest_dir / src.name
    dest.write_text(lines[0] + "".join(ln for ln in lines[1:] if keep(ln)), encoding="utf-8")
    return dest


@pytest.mark.parametrize("kind", ["series", "acled"])
def test_a_longer_export_adds_only_the_new_rows(project, events, kind):
    exports = project / "exports"
    if kind == "series":
        short = truncated(events / KILLED, exports, lambda ln: ln[:7] <= "2024-03")
        src, name = killed(short), "killed"
    else:
        short = truncated(events / ACLED_TYPES, exports, lambda ln: ln.split(",")[1] <= "2023-12")
        src, name = acled(events, file=str(short)), "acled_lebanon"
    m = write_mapping(project, {name: src})
    first = run(m, project).sources[0]
    out = project / "data" / "imp" / f"import_{name}.csv"
    old = out.read_text(encoding="utf-8").splitlines()
    shutil.copyfile(events / short.name, short)  # the export grows to its full length
    second = run(m, project).sources[0]
    new = out.read_text(encoding="utf-8").splitlines()
    n_new = len(new) - len(old)
    assert n_new > 0
    assert new[: len(old)] == old  # every old row kept, byte for byte, in place
    assert (second.status, second.added, second.changed, second.removed) == (
        "updated",
        n_new,
        0,
        0,
    )
    assert second.unchanged_rows == first.rows == len(old) - 1


def test_a_changed_value_is_reported_and_written(project, events):
    exports = project / "exports"
    edited = truncated(events / KILLED, exports, lambda ln: True)
    edited.write_text(
        edited.read_text(encoding="utf-8").replace(
            "2024-01,2024-01-31,235,65", "2024-01,2024-01-31,235,66"
        ),
        encoding="utf-8",
    )
    m = write_mapping(project, {"killed": killed(edited)})
    run(m, project)
    shutil.copyfile(events / KILLED, edited)  # the source corrected its January figure
    s = run(m, project).sources[0]
    assert (s.status, s.added, s.changed, s.removed, s.unchanged_rows) == ("updated", 0, 1, 0, 11)
    assert s.changes == (RowChange("2024-01", "value", "66", "65"),)
    out = {r["date"]: r["value"] for r in rows_of(project / "data" / "imp" / "import_killed.csv")}
    assert out["2024-01"] == "65"
    edited.write_text(
        edited.read_text(encoding="utf-8").replace(",235,65", ",235,67"), encoding="utf-8"
    )
    res = invoke("evidence", "import", str(m), "--root", str(project))
    assert res.exit_code == 0, res.output
    assert "killed 2024-01: value 65 -> 67" in res.output


# --- located errors -----------------------------------------------------------------------------


def problems_of(exc: pytest.ExceptionInfo) -> list[str]:
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("change", "where", "expected"),
    [
        ({"colour": "red"}, "sources.src: colour:", "unknown key"),
        ({"target": "nope"}, "sources.src: target:", "unknown count indicator 'nope'"),
        ({"target": "killed_log"}, "sources.src: target:", "acled imports need a count indicator"),
        ({"target": "conflict_level"}, "sources.src: target:", "need a count indicator"),
        ({"kind": "acledd"}, "sources.src: kind:", "one of acled, ucdp, series, crowd"),
        ({"measure": "deaths"}, "sources.src: measure:", "'events' or 'fatalities'"),
        ({"file": "no_such.csv"}, "sources.src: file:", "no such file"),
        ({"country": "Lebanonn"}, "sources.src: country:", "no row of"),
        ({"event_type": ["Battles", "Shelling"]}, "sources.src: event_type:", "'Shelling'"),
        ({"start": "2024-13"}, "sources.src: start:", "YYYY-MM"),
    ],
)
def test_mapping_errors_name_the_mapping_table_and_key(project, events, change, where, expected):
    m = write_mapping(project, {"src": acled(events, **change)})
    with pytest.raises(InputError) as exc:
        run(m, project)
    lines = problems_of(exc)
    assert any(ln.startswith(f"{m}:{where}") and expected in ln for ln in lines), lines
    assert not list((project / "data" / "imp").glob("import_*.csv"))
    res = invoke("evidence", "import", str(m), "--root", str(project))
    assert res.exit_code == 2
    assert f"{m}:{where}" in res.stderr and "no evidence file was changed" in res.stderr


@pytest.mark.parametrize(
    ("change", "where", "expected"),
    [
        ({"target": "deal:syria"}, "sources.src: target:", "no candidate 'syria'"),
        ({"target": "calm"}, "sources.src: target:", "state outcome"),
        ({"target": "lebanon_events"}, "sources.src: target:", "unknown outcome"),
        ({"id": 1}, "sources.src: id:", "no question metaculus:1"),
        ({"every": "week"}, "sources.src: every:", "'day' or 'month'"),
    ],
)
def test_crowd_mapping_errors_are_located(project, questions, change, where, expected):
    m = write_mapping(project, {"src": crowd(questions, **change)})
    with pytest.raises(InputError) as exc:
        run(m, project)
    assert any(ln.startswith(f"{m}:{where}") and expected in ln for ln in problems_of(exc))


def test_every_mapping_problem_is_reported_at_once(project, events, questions):
    m = write_mapping(
        project,
        {"a": acled(events, target="killed_log"), "b": crowd(questions, target="deal:syria")},
        colour="red",
    )
    with pytest.raises(InputError) as exc:
        run(m, project)
    lines = problems_of(exc)
    assert [ln.split(": ")[0] for ln in lines] == [
        f"{m}:(top)",
        f"{m}:sources.a",
        f"{m}:sources.b",
    ], lines


@pytest.mark.parametrize(
    ("old", "new", "target", "expected"),
    [
        (",235,65", ",235,65.5", "lebanon_killed", "a count must be a whole number"),
        (",235,65", ",235,n/a", "lebanon_killed", "not a number: 'n/a'"),
        (",235,65", ",235,0", "killed_log", "must be > 0 for a log-transformed indicator"),
    ],
)
def test_an_export_row_that_fails_validation_is_located_at_the_export(
    project, events, old, new, target, expected
):
    bad = truncated(events / KILLED, project / "exports", lambda ln: True)
    bad.write_text(bad.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    src = killed(bad, target=target)
    if target == "killed_log":
        del src["observed_until_column"]
    with pytest.raises(InputError) as exc:
        run(write_mapping(project, {"killed": src}), project)
    # 2024-01 is the export's 5th row (header = row 1)
    assert any(
        ln.startswith(f"{bad}:5: killed_in_month: ") and expected in ln for ln in problems_of(exc)
    ), problems_of(exc)
    assert not (project / "data" / "imp" / "import_killed.csv").exists()


def test_a_count_overlapping_the_log_is_located_at_the_export(project, events):
    """A weekly count 2024-02-27..03-04 in the log overlaps two imported months: the February
    row comes first (the problem is the log's row, naming the export's row), the March row
    after it (the problem is the export's row)."""
    log = project / "data" / "imp" / "evidence.csv"
    log.write_text(
        "date,kind,target,value,source,source_url,horizon_months,exposure_days,forecaster,note\n"
        "2024-02-27,count,lebanon_events,5,Weekly count,https://example.org/w,,7,,\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        run(write_mapping(project, {"acled_lebanon": acled(events)}), project)
    export = events / ACLED_TYPES

    def first_row(month: str) -> int:
        return next(
            i
            for i, r in enumerate(export_rows(export), start=2)
            if r["country"] == "Lebanon" and r["month"] == month and r["event_type"] in TYPES
        )

    feb, mar = first_row("2024-02"), first_row("2024-03")
    at_log, at_export = problems_of(exc)
    assert at_log.startswith(f"{log}:2: date: counted period 2024-02-27..2024-03-04 overlaps")
    assert f"{export}:{feb} (import acled_lebanon Lebanon 2024-02)" in at_log
    assert at_export.startswith(f"{export}:{mar}: month: counted period 2024-03-01..2024-03-31")
    assert f"{log}:2" in at_export and f"with rows {mar + 1}" in at_export
    assert "import_acled_lebanon.csv" not in at_log + at_export


def test_a_hand_written_file_of_the_same_name_is_not_replaced(project, events):
    own = project / "data" / "imp" / "import_killed.csv"
    own.write_text(
        "date,kind,target,value,source,source_url,horizon_months,exposure_days,forecaster,note\n"
        "2023-10,count,lebanon_killed,60,My count,https://example.org/m,,31,,typed by hand\n",
        encoding="utf-8",
    )
    before = own.read_bytes()
    with pytest.raises(InputError) as exc:
        run(write_mapping(project, {"killed": killed(events / KILLED)}), project)
    assert problems_of(exc)[0].startswith(f"{own}:2: note: ")
    assert own.read_bytes() == before


def test_the_lock_is_respected(project, events):
    m = write_mapping(project, {"killed": killed(events / KILLED)})
    with lock_held_elsewhere(project / "data" / "imp"), pytest.raises(InputError) as exc:
        import_evidence(m, root=project, lock_timeout=0.2)
    assert ": lock: another process" in problems_of(exc)[0]
    assert not (project / "data" / "imp" / "import_killed.csv").exists()


# --- dry run, check, CLI ------------------------------------------------------------------------


def listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/"
        for p in sorted(folder.rglob("*"))
    }


def test_dry_run_writes_nothing(project, events, questions):
    m = all_four(project, events, questions)
    before = listing(project)
    res = run(m, project, dry_run=True)
    assert listing(project) == before  # no import file, no lock file
    assert res.written == () and [s.status for s in res.sources] == ["created"] * 4
    assert all(s.added == s.rows > 0 for s in res.sources)
    shutil.rmtree(project / "data")  # a scenario without an evidence folder yet: none is made
    cli = invoke("evidence", "import", str(m), "--root", str(project), "--dry-run")
    assert cli.exit_code == 0, cli.output
    assert "Dry run: nothing was written." in cli.output
    assert not (project / "data").exists()


def test_check_accepts_the_imported_evidence(project, events, questions):
    m = write_mapping(
        project,
        {
            "acled_lebanon": acled(events),
            "hezbollah": ucdp(events),
            "killed_log": {
                k: v
                for k, v in killed(events / KILLED, target="killed_log").items()
                if k != "observed_until_column"
            },
            "q400": crowd(questions, every="month"),
        },
    )
    run(m, project)
    res = invoke("check", "--scenario", "imp", "--root", str(project), "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["rows_by_kind"] == {"count": 33, "rating": 2, "indicator": 12, "forecast": 3}
    assert body["duplicate_facts"] == []
    inputs = load_inputs("imp", project)
    assert len(inputs.evidence.frame) == 50


def test_json_output(project, events):
    m = write_mapping(project, {"killed": killed(events / KILLED)})
    res = invoke("evidence", "import", str(m), "--root", str(project), "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["scenario"] == "imp" and body["dry_run"] is False
    (s,) = body["sources"]
    assert (s["name"], s["status"], s["rows"], s["added"]) == ("killed", "created", 12, 12)
    assert s["evidence_file"] == str(project / "data" / "imp" / "import_killed.csv")
    assert body["written"] == [s["evidence_file"]]


def test_scenario_option_overrides_the_mapping(project, events):
    m = write_mapping(project, {"killed": killed(events / KILLED)}, name="m.toml")
    m.write_text(m.read_text(encoding="utf-8").replace('"imp"', '"other"'), encoding="utf-8")
    res = invoke("evidence", "import", str(m), "--root", str(project))
    assert res.exit_code == 2 and "other.toml" in res.stderr  # the mapping's scenario
    res = invoke("evidence", "import", str(m), "--root", str(project), "--scenario", "imp")
    assert res.exit_code == 0, res.output


FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KEYS = [
    "kind",
    "file",
    "target",
    "country",
    "event_type",
    "measure",
    "start",
    "filter",
    "levels",
    "x",
]
VALUES = st.one_of(
    st.text(string.printable + "[/red]$é\x00", max_size=20),
    st.integers(-5, 3000),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3))
def test_fuzzed_mappings_give_located_errors_never_a_traceback(project, events, changes):
    mapping = project / "fuzz.toml"
    try:
        text = toml_dumps({"scenario": "imp", "sources": {"src": acled(events, **changes)}})
    except TypeError:
        return
    mapping.write_text(text, encoding="utf-8")
    res = invoke("evidence", "import", str(mapping), "--root", str(project), "--dry-run")
    assert res.exit_code in (0, 2), res.output


# --- the committed example ----------------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = Path(__file__).resolve().parents[1] / "imports" / "israel_russia_measured.toml"


def readme_toml_block(marker: str) -> str:
    """The ```toml block of the README that follows ``marker``."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index(marker) :]
    start = after.index("```toml\n") + len("```toml\n")
    return after[start : after.index("```", start)]


def test_the_readme_mapping_example_is_a_valid_mapping():
    """The README's example of every kind parses with no unknown or missing key."""
    raw = tomllib.loads(readme_toml_block("## Importing measured evidence"))
    mapping = parse_mapping(raw, README)
    assert sorted(s.kind for s in mapping.sources.values()) == sorted(IMPORT_KINDS)


def test_the_example_mapping_imports_into_the_readme_variant(
    repo_root, tmp_path, events, questions
):
    """The README's variant of the default scenario (its indicator block added to a copy of
    priors/israel_russia.toml) takes the committed example mapping, and ``check`` accepts it."""
    variant = "israel_russia_measured"
    (tmp_path / "priors").mkdir()
    base = (repo_root / "priors" / "israel_russia.toml").read_text(encoding="utf-8")
    assert 'name = "israel_russia"' in base
    block = readme_toml_block("What a variant scenario adds")
    (tmp_path / "priors" / f"{variant}.toml").write_text(
        base.replace('name = "israel_russia"', f'name = "{variant}"') + "\n" + block,
        encoding="utf-8",
    )
    shutil.copytree(repo_root / "data" / "israel_russia", tmp_path / "data" / variant)
    mapping = load_mapping(EXAMPLE, load_scenario(tmp_path / "priors" / f"{variant}.toml"))
    assert mapping.scenario == variant
    assert {s.kind for s in mapping.sources.values()} == {"acled", "crowd"}
    res = run(EXAMPLE, tmp_path)
    assert all(s.status == "created" and s.rows > 0 for s in res.sources)
    check = invoke("check", "--scenario", variant, "--root", str(tmp_path), "--format", "json")
    assert check.exit_code == 0, check.output
    assert json.loads(check.output)["rows_by_kind"]["forecast"] > 0
