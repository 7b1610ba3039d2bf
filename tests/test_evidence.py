"""Evidence logs: the shipped ones load, and every rule reports file:row: field (header = row 1)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from forecast.data.audit import duplicate_facts
from forecast.data.errors import InputError, Problem
from forecast.data.evidence import dated_to_the_day, load_evidence
from forecast.data.inputs import load_inputs
from forecast.data.rules import COLUMNS
from forecast.data.scenario import Scenario
from forecast.data.scenario_file import load_scenario

HEADER = ",".join(COLUMNS)
# A valid row of each family, to start from; the mini fixture holds header + 10 rows (rows 2-11).
NEXT_ROW = 12


@pytest.fixture(scope="module")
def mini(mini_root: Path) -> Scenario:
    return load_scenario(mini_root / "priors" / "mini.toml")


@pytest.fixture
def ev_dir(mini_copy: Path) -> Path:
    return mini_copy / "data" / "mini"


@pytest.fixture
def ev_file(ev_dir: Path) -> Path:
    return ev_dir / "evidence.csv"


def problems(directory: Path, scenario: Scenario) -> list[str]:
    with pytest.raises(InputError) as info:
        load_evidence(directory, scenario)
    for p in info.value.problems:
        assert p.file and str(p.where) and p.field and p.message, p
    return [str(p) for p in info.value.problems]


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.writelines(line + "\n" for line in lines)


def row(
    date: str = "2022-09",
    kind: str = "indicator",
    target: str = "stockpile",
    value: str = "50",
    source: str = "Src",
    source_url: str = "https://example.org/x",
    horizon_months: str = "",
    exposure_days: str = "",
    forecaster: str = "",
    published: str = "",
    note: str = "",
) -> str:
    """One CSV line with the standard columns (defaults: a valid normal-indicator row)."""
    fields = [
        date,
        kind,
        target,
        value,
        source,
        source_url,
        horizon_months,
        exposure_days,
        forecaster,
        published,
        note,
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue().removesuffix("\n")


# --- shipped evidence ---------------------------------------------------------------------------


def test_shipped_evidence_loads(repo_root: Path) -> None:
    inputs = load_inputs("israel_russia", repo_root)
    frame = inputs.evidence.frame
    assert [f.name for f in inputs.evidence.files] == [
        "counts.csv",
        "events.csv",
        "indicators.csv",
        "ratings.csv",
        "resolutions.csv",
    ]
    by_kind = frame["kind"].value_counts().to_dict()
    assert by_kind == {"event": 186, "rating": 13, "count": 22, "indicator": 15, "resolution": 13}
    events = frame[frame.kind == "event"]
    assert set(inputs.scenario.factors) <= set(events["target"])
    assert frame["value"].notna().all()
    assert frame["date"].is_monotonic_increasing


def test_shipped_evidence_enters_each_fact_once(repo_root: Path) -> None:
    """No fact is entered twice, and no outcome code is translated into a factor event: news coded
    for an outcome with a hazard (timeline codes O1, O3, O4) is an event on that outcome. O2 is a
    state outcome, a predicate on the Hezbollah attack count: its news is about the factor that
    count reads, so it stays an event on hezbollah_militancy."""
    inputs = load_inputs("israel_russia", repo_root)
    assert duplicate_facts(inputs.scenario, inputs.evidence) == []
    events = inputs.evidence.of_kind("event")
    code = events["note"].fillna("").str.extract(r"\[(?:from )?(O\d)[+-]1[]:]")[0]
    coded = {"O1": "accords_expansion", "O3": "israel_iran_thaw", "O4": "russia_keeps_syria_bases"}
    for o, outcome in coded.items():
        assert (events.loc[code == o, "target"] == outcome).all(), o
        assert (code == o).any(), o
    assert (events.loc[code == "O2", "target"] == "hezbollah_militancy").all()
    resolved = inputs.evidence.of_kind("resolution")
    happened = set(resolved.loc[resolved["value"] == 1, "source_url"])
    assert not events["source_url"].isin(happened).any()  # a resolution is not also news


def test_the_frame_says_whether_a_date_gave_its_day(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    append(ev_file, row(date="2022-05-01"), row(date="2022-06"))
    fr = load_evidence(ev_dir, mini).frame.set_index("row")
    assert dated_to_the_day(fr.loc[NEXT_ROW, "day_known"])
    assert not dated_to_the_day(fr.loc[NEXT_ROW + 1, "day_known"])
    assert fr.loc[NEXT_ROW, "date"] == fr.loc[NEXT_ROW + 1, "date"] - pd.offsets.MonthBegin(1)


def test_mini_evidence_loads(mini: Scenario, mini_root: Path) -> None:
    ev = load_evidence(mini_root / "data" / "mini", mini)
    f = ev.frame
    assert len(f) == 10
    assert sorted(f["row"]) == list(range(2, 12))
    counts = f[f.kind == "count"]
    assert list(counts["exposure_days"]) == [30.0, 31.0]  # given; defaults to the month's length
    rating = f[f.kind == "rating"].iloc[0]
    assert rating["value"] == 1.0  # index of "medium" in low < medium < high
    fc = f[f.kind == "forecast"].iloc[0]
    assert (fc["outcome"], fc["candidate"], fc["horizon_months"], fc["forecaster"]) == (
        "deal",
        "alpha",
        12,
        "crowd",
    )
    assert f.loc[f.kind == "event", "month"].item() == 1  # 2022-02 is month 1 after 2022-01


def _rewrite(src: Path, dst: Path) -> None:
    """Same rows, another spelling: BOM, every field quoted, CRLF line ends."""
    with src.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    dst.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))


@pytest.mark.parametrize("which", ["israel_russia", "mini"])
def test_evidence_round_trip(which: str, repo_root: Path, mini_root: Path, tmp_path: Path) -> None:
    """Rewriting every evidence file (BOM, quoting, CRLF) loads to the same evidence frame."""
    root = repo_root if which == "israel_russia" else mini_root
    before = load_inputs(which, root)
    out = tmp_path / "data" / which
    out.mkdir(parents=True)
    for f in before.evidence.files:
        _rewrite(f, out / f.name)
    after = load_evidence(out, before.scenario)
    cols = [c for c in before.evidence.frame.columns if c != "file"]
    pd.testing.assert_frame_equal(before.evidence.frame[cols], after.frame[cols])
    assert [Path(f).name for f in after.frame["file"]] == [
        Path(f).name for f in before.evidence.frame["file"]
    ]


# --- one bad row appended to the mini log: (row, expected "field: message" start) ---------------

ROW_RULES: dict[str, tuple[str, str]] = {
    "bad_date_format": (row(date="2022/09/01"), "date: not a real date"),
    "bad_date_text": (row(date="September 2022"), "date: not a real date"),
    "impossible_date": (
        row(date="2023-02-30"),
        "date: not a real date (YYYY-MM-DD or YYYY-MM): '2023-02-30'",
    ),
    "impossible_month": (row(date="2022-13"), "date: not a real date"),
    "blank_date": (row(date=""), "date: not a real date"),
    "date_before_start": (
        row(date="2021-12-31"),
        "date: 2021-12-31 is outside the scenario span 2022-01..2024-12",
    ),
    "date_after_end": (row(date="2025-01"), "date: 2025-01-01 is outside the scenario span"),
    "unknown_kind": (row(kind="indicatr"), "kind: unknown kind 'indicatr'"),
    "blank_kind": (row(kind=""), "kind: unknown kind ''"),
    "unknown_normal_indicator": (row(target="stock"), "target: unknown normal indicator 'stock'"),
    "unknown_count_indicator": (
        row(kind="count", target="atacks", value="3"),
        "target: unknown count indicator 'atacks'",
    ),
    "unknown_rating_indicator": (
        row(kind="rating", target="level", value="low"),
        "target: unknown rating indicator 'level'",
    ),
    "unknown_event_factor": (
        row(kind="event", target="tensions", value="1"),
        "target: unknown factor or outcome 'tensions' (factors: tension, appetite; outcomes:",
    ),
    "event_on_unknown_candidate": (
        row(kind="event", target="deal:gamma", value="1"),
        "target: outcome 'deal' has no candidate 'gamma'",
    ),
    "event_on_state_outcome": (
        row(kind="event", target="calm", value="-1"),
        "target: 'calm' is a state outcome with no hazard; code the news as an event on the"
        " factor its measure 'attacks' reads",
    ),
    "unknown_forecast_outcome": (
        row(kind="forecast", target="peace", value="0.5", horizon_months="6", forecaster="x"),
        "target: unknown outcome 'peace'",
    ),
    "unknown_resolution_candidate": (
        row(kind="resolution", target="deal:gamma", value="1"),
        "target: outcome 'deal' has no candidate 'gamma'",
    ),
    "empty_candidate": (
        row(kind="resolution", target="deal:", value="0"),
        "target: not a target 'deal:': write outcome or outcome:candidate",
    ),
    "unknown_lr_outcome": (
        row(kind="likelihood_ratio", target="dael", value="2", horizon_months="6"),
        "target: unknown outcome 'dael'",
    ),
    "count_row_on_normal_indicator": (
        row(kind="count", value="3"),
        "target: indicator 'stockpile' is a normal indicator, not count",
    ),
    "indicator_row_on_count_indicator": (
        row(target="attacks"),
        "target: indicator 'attacks' is a count indicator, not indicator",
    ),
    "rating_row_on_count_indicator": (
        row(kind="rating", target="attacks", value="low"),
        "target: indicator 'attacks' is a count indicator, not rating",
    ),
    "non_numeric_value": (row(value="lots"), "value: not a number: 'lots'"),
    "decimal_comma": (row(value="43,1"), "value: not a number: '43,1'"),
    "nan_value": (row(value="nan"), "value: not a number: 'nan'"),
    "infinite_value": (row(value="1e999"), "value: not a number: '1e999'"),
    "blank_value": (row(value=""), "value: not a number: ''"),
    "log_indicator_not_positive": (
        row(value="0"),
        "value: must be > 0 for a log-transformed indicator",
    ),
    "probability_above_one": (
        row(kind="forecast", target="deal", value="1.5", horizon_months="6", forecaster="x"),
        "value: a probability strictly between 0 and 1, got '1.5'",
    ),
    "probability_one": (
        row(kind="forecast", target="deal", value="1", horizon_months="6", forecaster="x"),
        "value: a probability strictly between 0 and 1",
    ),
    "probability_percent": (
        row(kind="forecast", target="deal", value="20%", horizon_months="6", forecaster="x"),
        "value: a probability strictly between 0 and 1",
    ),
    "negative_count": (
        row(kind="count", target="attacks", value="-1"),
        "value: a count must be a whole number >= 0, got '-1'",
    ),
    "fractional_count": (
        row(kind="count", target="attacks", value="2.5"),
        "value: a count must be a whole number >= 0, got '2.5'",
    ),
    "event_strength_4": (
        row(kind="event", target="tension", value="4"),
        "value: an event is a signed strength -3..-1 or 1..3, got '4'",
    ),
    "event_strength_minus_4": (
        row(kind="event", target="tension", value="-4"),
        "value: an event is a signed strength",
    ),
    "event_strength_0": (
        row(kind="event", target="tension", value="0"),
        "value: an event is a signed strength -3..-1 or 1..3, got '0'",
    ),
    "event_strength_fractional": (
        row(kind="event", target="tension", value="1.5"),
        "value: an event is a signed strength",
    ),
    "rating_not_a_level": (
        row(kind="rating", target="attack_level", value="extreme"),
        "value: 'extreme' is not a level of attack_level (low, medium, high)",
    ),
    "rating_level_wrong_case": (
        row(kind="rating", target="attack_level", value="Low"),
        "value: 'Low' is not a level of attack_level",
    ),
    "resolution_2": (
        row(kind="resolution", target="bases_kept", value="2"),
        "value: a resolution is 1 (true as of date) or 0, got '2'",
    ),
    "resolution_yes": (
        row(kind="resolution", target="bases_kept", value="yes"),
        "value: a resolution is 1",
    ),
    "likelihood_ratio_0": (
        row(kind="likelihood_ratio", target="deal", value="0", horizon_months="6"),
        "value: a likelihood ratio must be a number > 0, got '0'",
    ),
    "likelihood_ratio_negative": (
        row(kind="likelihood_ratio", target="deal", value="-2", horizon_months="6"),
        "value: a likelihood ratio must be a number > 0",
    ),
    "forecast_without_horizon": (
        row(kind="forecast", target="deal", value="0.3", forecaster="x"),
        "horizon_months: required for forecast: whole months 1..1200, got ''",
    ),
    "lr_without_horizon": (
        row(kind="likelihood_ratio", target="deal", value="2"),
        "horizon_months: required for likelihood_ratio",
    ),
    "horizon_zero": (
        row(kind="forecast", target="deal", value="0.3", horizon_months="0", forecaster="x"),
        "horizon_months: required for forecast",
    ),
    "horizon_fractional": (
        row(kind="forecast", target="deal", value="0.3", horizon_months="1.5", forecaster="x"),
        "horizon_months: required for forecast",
    ),
    "horizon_superscript_digit": (
        row(kind="forecast", target="deal", value="0.3", horizon_months="\u00b2", forecaster="x"),
        "horizon_months: required for forecast",
    ),
    "horizon_huge": (
        row(kind="forecast", target="deal", value="0.3", horizon_months="9" * 5000, forecaster="x"),
        "horizon_months: required for forecast",
    ),
    "horizon_on_indicator": (
        row(horizon_months="6"),
        "horizon_months: not used by kind 'indicator'",
    ),
    "forecast_without_forecaster": (
        row(kind="forecast", target="deal", value="0.3", horizon_months="6"),
        "forecaster: required for forecast rows",
    ),
    "exposure_on_indicator": (
        row(exposure_days="30"),
        "exposure_days: not used by kind 'indicator'",
    ),
    "exposure_on_event": (
        row(kind="event", target="tension", value="1", exposure_days="7"),
        "exposure_days: not used by kind 'event'",
    ),
    "exposure_zero": (
        row(date="2022-09-01", kind="count", target="attacks", value="3", exposure_days="0"),
        "exposure_days: a whole number of days > 0, got '0'",
    ),
    "exposure_fractional": (
        row(date="2022-09-01", kind="count", target="attacks", value="3", exposure_days="7.5"),
        "exposure_days: a whole number of days > 0",
    ),
    "exposure_huge": (
        row(date="2022-09-01", kind="count", target="attacks", value="3", exposure_days="1e300"),
        "exposure_days: the counted period runs past the scenario's end",
    ),
    "exposure_past_end": (
        row(date="2024-12-20", kind="count", target="attacks", value="3", exposure_days="13"),
        "exposure_days: the counted period runs past the scenario's end",
    ),
    "published_not_a_date": (row(published="soon"), "published: not a real date"),
    "published_impossible_day": (row(published="2022-09-31"), "published: not a real date"),
    "published_before_the_date": (
        row(date="2022-09-10", published="2022-09-09"),
        "published: 2022-09-09 is before the row's date 2022-09-10",
    ),
    "published_month_before_the_date": (
        row(date="2022-09-10", published="2022-08"),
        "published: 2022-08-31 is before the row's date 2022-09-10",
    ),
    "missing_source": (row(source=""), "source: required: every row names its source"),
    "missing_source_url": (row(source_url=""), "source_url: required: every row names its source"),
    "url_without_scheme": (
        row(source_url="example.org/a"),
        "source_url: not an http(s) URL: 'example.org/a'",
    ),
    "url_ftp": (
        row(source_url="ftp://example.org/a"),
        "source_url: not an http(s) URL: 'ftp://example.org/a'",
    ),
    "url_no_host": (row(source_url="https://"), "source_url: not an http(s) URL: 'https://'"),
    "url_with_space": (row(source_url="https://example.org/a b"), "source_url: not an http(s) URL"),
    "urls_comma_separated": (
        row(source_url="https://a.org/x, https://b.org/y"),
        "source_url: not an http(s) URL",
    ),
    "urls_second_bad": (
        row(source_url="https://a.org/x ; see above"),
        "source_url: not an http(s) URL: 'see above'",
    ),
    "urls_empty_part": (
        row(source_url="https://a.org/x ; ; https://b.org/y"),
        "source_url: not an http(s) URL: ''",
    ),
    "urls_trailing_separator": (
        row(source_url="https://a.org/x;"),
        "source_url: not an http(s) URL: ''",
    ),
    "resolution_on_state_outcome": (
        row(kind="resolution", target="calm", value="1"),
        "target: 'calm' is a state outcome; give evidence on its measure 'attacks'",
    ),
    "forecast_on_state_outcome": (
        row(kind="forecast", target="calm", value="0.5", horizon_months="6", forecaster="x"),
        "target: 'calm' is a state outcome",
    ),
    "resolution_1_without_candidate": (
        row(kind="resolution", target="deal", value="1"),
        "target: say which candidate happened (outcome:candidate)",
    ),
    "short_row": (
        "2022-09,indicator,stockpile,50,Src,https://example.org/x",
        "(row): has 6 fields but the header has 11",
    ),
    "long_row": (row() + ",extra", "(row): has 12 fields but the header has 11"),
    "unquoted_comma": (
        "2022-09,indicator,stockpile,50,Src, Inc.,https://example.org/x,,,,,",
        "(row): has 12 fields",
    ),
    "malformed_quotes": (
        '2022-09,indicator,"stock"pile,50,Src,https://example.org/x,,,,',
        "(row): malformed CSV",
    ),
}


@pytest.mark.parametrize("rule", list(ROW_RULES))
def test_each_row_rule_is_located(rule: str, mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    line, expected = ROW_RULES[rule]
    append(ev_file, line)
    errs = problems(ev_dir, mini)
    assert len(errs) == 1, errs
    assert errs[0].startswith(f"{ev_file}:{NEXT_ROW}: {expected}"), errs


VALID_ROWS = {
    "two_urls_spaced": row(source_url="https://a.org/x ; https://b.org/y"),
    "two_urls_tight": row(source_url="https://a.org/x;https://b.org/y"),
    "uppercase_scheme": row(source_url="HTTPS://a.org/x"),
    "resolution_0_without_candidate": row(kind="resolution", target="deal", value="0"),
    "resolution_candidate": row(kind="resolution", target="deal:alpha", value="0"),
    "negative_event": row(kind="event", target="appetite", value="-3"),
    "outcome_news": row(kind="event", target="deal", value="2"),
    "candidate_news": row(kind="event", target="deal:alpha", value="-1"),
    "persistence_news": row(kind="event", target="bases_kept", value="1"),
    "count_zero_with_exposure": row(
        date="2024-12-01", kind="count", target="attacks", value="0", exposure_days="31"
    ),
    "lr_on_candidate": row(
        kind="likelihood_ratio", target="deal:beta", value="0.5", horizon_months="24"
    ),
    "spaces_around_fields": " 2022-09 , indicator , stockpile , 50 , Src , https://a.org/x ,,,,,",
    "published_later": row(date="2022-09", published="2022-11-03"),
    "published_same_day": row(date="2022-09-10", published="2022-09-10"),
    "published_month": row(date="2022-09-10", published="2022-09"),
    "day_date": row(date="2024-12-31"),
    "exponent_value": row(value="5e1"),
}


@pytest.mark.parametrize("name", list(VALID_ROWS))
def test_valid_row_variants_load(name: str, mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    append(ev_file, VALID_ROWS[name])
    ev = load_evidence(ev_dir, mini)
    assert len(ev.frame) == 11
    assert ev.frame["row"].max() == NEXT_ROW


def test_published_is_the_day_a_row_became_public(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    append(
        ev_file,
        row(date="2022-09", published="2022-11-03"),
        row(date="2022-09-10", published="2022-09"),
        row(date="2022-09-10"),
    )
    frame = load_evidence(ev_dir, mini).frame.set_index("row")
    got = frame.loc[[NEXT_ROW, NEXT_ROW + 1, NEXT_ROW + 2], "published"]
    assert list(got[:2]) == [pd.Timestamp("2022-11-03"), pd.Timestamp("2022-09-30")]
    assert pd.isna(got.iloc[2])


def test_row_with_several_problems_reports_them_all(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    append(
        ev_file,
        row(
            date="2022-02-30",
            kind="forecast",
            target="deal:gamma",
            value="0.2",
            source="",
            source_url="www.x.org",
            exposure_days="3",
        ),
    )
    p = f"{ev_file}:{NEXT_ROW}:"
    assert problems(ev_dir, mini) == [
        f"{p} date: not a real date (YYYY-MM-DD or YYYY-MM): '2022-02-30'",
        f"{p} source: required: every row names its source",
        f"{p} source_url: not an http(s) URL: 'www.x.org' (separate several URLs with ' ; ')",
        f"{p} target: outcome 'deal' has no candidate 'gamma' (known: alpha, beta)",
        f"{p} horizon_months: required for forecast: whole months 1..1200, got ''",
        f"{p} exposure_days: not used by kind 'forecast'",
        f"{p} forecaster: required for forecast rows (who made the forecast)",
    ]


def test_problems_in_several_rows_and_files_are_all_reported(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    append(ev_file, row(date="2020-01"), row(value="x"))
    other = ev_dir / "more.csv"
    other.write_text(f"{HEADER}\n{row(kind='event', target='tension', value='9')}\n")
    assert problems(ev_dir, mini) == [
        f"{ev_file}:12: date: 2020-01-01 is outside the scenario span 2022-01..2024-12",
        f"{ev_file}:13: value: not a number: 'x'",
        f"{other}:2: value: an event is a signed strength -3..-1 or 1..3, got '9'",
    ]


def test_blank_lines_are_skipped_but_counted(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    append(ev_file, "", ",,,,,,,,,", row(value="x"))
    assert problems(ev_dir, mini) == [f"{ev_file}:14: value: not a number: 'x'"]


def test_row_numbers_count_records_not_lines(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    """A quoted note spanning two lines is one spreadsheet row."""
    append(ev_file, row(note="first line\nsecond line"), row(value="x"))
    assert problems(ev_dir, mini) == [f"{ev_file}:13: value: not a number: 'x'"]


# --- duplicates and overlapping count periods ---------------------------------------------------


def test_duplicate_row_names_first_occurrence(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    second = ev_file.read_text().splitlines()[1]
    append(ev_file, second)
    assert problems(ev_dir, mini) == [
        f"{ev_file}:12: (row): duplicate row: the same as {ev_file}:2"
    ]


def test_duplicate_row_across_files(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    other = ev_dir / "z_more.csv"
    other.write_text(HEADER + "\n" + row(value="1") + "\n" + ev_file.read_text().splitlines()[3])
    assert problems(ev_dir, mini) == [f"{other}:3: (row): duplicate row: the same as {ev_file}:4"]


def test_overlapping_count_periods(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    # row 5 counts 2022-04-01 .. 2022-04-30; row 6 counts May (no exposure: the whole month)
    append(
        ev_file,
        row(date="2022-04-15", kind="count", target="attacks", value="3", exposure_days="10"),
    )
    assert problems(ev_dir, mini) == [
        f"{ev_file}:12: date: counted period 2022-04-15..2022-04-24 overlaps the period "
        f"2022-04-01..2022-04-30 of {ev_file}:5 (same target 'attacks'; a day may be counted "
        "only once)"
    ]


def test_overlap_is_reported_on_the_later_period(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    """A row written last but starting first: the row of the later period is the one reported."""
    append(
        ev_file,
        row(date="2022-03-25", kind="count", target="attacks", value="3", exposure_days="10"),
    )
    (err,) = problems(ev_dir, mini)
    assert err.startswith(f"{ev_file}:5: date: counted period 2022-04-01..2022-04-30 overlaps")
    assert err.endswith(
        f"2022-03-25..2022-04-03 of {ev_file}:12 (same target 'attacks'; "
        "a day may be counted only once)"
    )


def test_one_day_overlap_and_adjacent_periods(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    # 2022-06-01 + 7 days ends 06-07; 06-08 + 7 is adjacent (fine); 06-14 shares 06-14 (not fine)
    append(
        ev_file,
        row(date="2022-06-01", kind="count", target="attacks", value="3", exposure_days="7"),
        row(date="2022-06-08", kind="count", target="attacks", value="3", exposure_days="7"),
        row(date="2022-06-14", kind="count", target="attacks", value="3", exposure_days="7"),
    )
    (err,) = problems(ev_dir, mini)
    assert err.startswith(
        f"{ev_file}:14: date: counted period 2022-06-14..2022-06-20 overlaps "
        f"the period 2022-06-08..2022-06-14 of {ev_file}:13"
    )


def with_sources(s: Scenario) -> Scenario:
    """The mini scenario with sources ``alma`` and ``itic`` declared for its count indicator and
    ``iaea`` for its normal one."""
    raw = s.model_dump()
    src = {"sd": 1.0, "rationale": "test", "source": "test"}
    raw["indicators"]["attacks"]["sources"] = {
        "alma": {"match": "Alma", **src},
        "itic": {"match": "ITIC", **src},
    }
    raw["indicators"]["stockpile"]["sources"] = {"iaea": {"match": "IAEA", **src}}
    return Scenario.model_validate(raw)


def test_a_row_of_two_declared_sources_is_located(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    append(
        ev_file,
        row(date="2022-09", kind="count", target="attacks", value="3", source="ITIC citing alma"),
        row(date="2022-10", kind="count", target="attacks", value="3", source="Alma"),
        row(source="IAEA, also ITIC"),  # the normal indicator has only iaea: one match
        row(date="2022-11", kind="count", target="attacks", value="x", source="Alma and ITIC"),
    )
    assert problems(ev_dir, with_sources(mini)) == [
        f"{ev_file}:12: source: matches several sources the scenario declares for its indicator:"
        " alma ('Alma'), itic ('ITIC'); a row belongs to one source at most, so make its source"
        " text or their match texts more specific",
        f"{ev_file}:15: value: not a number: 'x'",
        f"{ev_file}:15: source: matches several sources the scenario declares for its indicator:"
        " alma ('Alma'), itic ('ITIC'); a row belongs to one source at most, so make its source"
        " text or their match texts more specific",
    ]
    # without sources any source text will do
    assert problems(ev_dir, mini) == [f"{ev_file}:15: value: not a number: 'x'"]


def test_declared_sources_may_count_the_same_days(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    """Different sources may count the same days (that measures their offsets); one source may
    not count a day twice. Row 5 (the reference) counts 2022-04-01 .. 2022-04-30."""
    s = with_sources(mini)
    alma = dict(kind="count", target="attacks", value="90", source="Alma Center")
    append(ev_file, row(date="2022-04-01", exposure_days="30", **alma))
    assert len(load_evidence(ev_dir, s).frame) == 11
    append(ev_file, row(date="2022-04-20", exposure_days="5", **alma))
    assert problems(ev_dir, s) == [
        f"{ev_file}:13: date: counted period 2022-04-20..2022-04-24 overlaps the period "
        f"2022-04-01..2022-04-30 of {ev_file}:12 (same target 'attacks', source 'alma'; a day may "
        "be counted only once)"
    ]
    assert len(problems(ev_dir, mini)) == 2  # without sources, one series


def test_shipped_counts_have_no_overlap(repo_root: Path) -> None:
    ev = load_inputs("israel_russia", repo_root).evidence.of_kind("count")
    ends = ev["date"] + pd.to_timedelta(ev["exposure_days"], unit="D")
    assert (ev["date"].iloc[1:].to_numpy() >= ends.iloc[:-1].to_numpy()).all()
    itic = ev[ev["date"] == pd.Timestamp("2024-07-22")].iloc[0]
    assert itic["exposure_days"] == 7  # published 07-22..29, shortened to ..28 (see README)


# --- file-level problems ------------------------------------------------------------------------


def test_empty_file(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_bytes(b"")
    assert problems(ev_dir, mini) == [f"{ev_file}:(file): file: empty file: expected a header row"]


def test_whitespace_only_file(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text("\n  \r\n\n")
    assert problems(ev_dir, mini) == [f"{ev_file}:(file): file: empty file: expected a header row"]


def test_header_only_is_valid_and_empty(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(HEADER + "\n")
    ev = load_evidence(ev_dir, mini)
    assert len(ev.frame) == 0
    assert ev.last_month == 0
    assert list(ev.frame.columns)[:3] == ["file", "row", "date"]


def test_header_only_file_next_to_others(mini: Scenario, ev_dir: Path) -> None:
    (ev_dir / "empty_log.csv").write_text(HEADER)
    assert len(load_evidence(ev_dir, mini).frame) == 10


def test_required_columns_only(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(
        "date,kind,target,value,source,source_url\n"
        "2022-09,indicator,stockpile,50,Src,https://a.org/x\n"
    )
    assert len(load_evidence(ev_dir, mini).frame) == 1


def test_columns_in_any_order(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(
        "source_url,value,target,kind,date,source\n"
        "https://a.org/x,50,stockpile,indicator,2022-09,Src\n"
    )
    assert load_evidence(ev_dir, mini).frame["value"].item() == 50.0


def test_unknown_column_still_checks_rows(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(HEADER + ",comment\n" + row(value="x") + ",hi\n")
    assert problems(ev_dir, mini) == [
        f"{ev_file}:1: comment: unknown column",
        f"{ev_file}:2: value: not a number: 'x'",
    ]


def test_missing_required_column(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text("date,kind,target,value,source\n2022-09,indicator,stockpile,50,Src\n")
    assert problems(ev_dir, mini) == [f"{ev_file}:1: source_url: missing required column"]


def test_misspelled_column(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(HEADER.replace("target", "targte") + "\n" + row() + "\n")
    assert problems(ev_dir, mini) == [
        f"{ev_file}:1: targte: unknown column",
        f"{ev_file}:1: target: missing required column",
    ]


def test_duplicate_column(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(HEADER + ",note\n" + row() + ",\n")
    assert problems(ev_dir, mini) == [f"{ev_file}:1: note: column appears 2 times"]


def test_semicolon_delimited_file(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_text(HEADER.replace(",", ";") + "\n" + row().replace(",", ";") + "\n")
    errs = problems(ev_dir, mini)
    assert errs[0] == f"{ev_file}:1: {HEADER.replace(',', ';')}: unknown column"
    assert f"{ev_file}:1: date: missing required column" in errs


def test_not_utf8_names_row_and_column(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    lines = ev_file.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"Test source", b"Test source \xe9t\xe9")  # latin-1 accents
    ev_file.write_bytes(b"\n".join(lines))
    assert problems(ev_dir, mini) == [
        f"{ev_file}:3: source: not UTF-8 (byte 0xe9); save the file as UTF-8"
    ]


def test_not_utf8_in_header(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_bytes(b"d\xffate" + ev_file.read_bytes()[4:])
    errs = problems(ev_dir, mini)
    assert errs[0] == f"{ev_file}:1: (header): not UTF-8 (byte 0xff); save the file as UTF-8"


def test_many_encoding_problems_are_summarized(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    bad_rows = [row(value=str(v), source="caf\udce9") for v in range(40, 55)]  # 15 rows
    ev_file.write_bytes(
        (HEADER + "\n" + "\n".join(bad_rows) + "\n").encode("utf-8", "surrogateescape")
    )
    errs = problems(ev_dir, mini)
    assert errs[:10] == [
        f"{ev_file}:{i}: source: not UTF-8 (byte 0xe9); save the file as UTF-8"
        for i in range(2, 12)
    ]
    assert errs[10:] == [f"{ev_file}:(file): encoding: 5 more cells are not clean UTF-8 text"]


def test_nul_bytes(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    lines = ev_file.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"stockpile", b"stock\x00pile")
    ev_file.write_bytes(b"\n".join(lines))
    assert problems(ev_dir, mini) == [
        f"{ev_file}:3: target: contains a NUL byte (a binary or UTF-16 file?); save the file as "
        "UTF-8"
    ]


def test_bad_cell_under_a_blank_header_is_named(
    mini: Scenario, ev_dir: Path, ev_file: Path
) -> None:
    """A cell under a column with no name is located as "(blank)", as the header problem is."""
    lines = ev_file.read_bytes().split(b"\n")
    lines[0] += b","
    lines[1:] = [
        line + (b",x\x00" if i == 1 else b",") for i, line in enumerate(lines[1:], 1) if line
    ]
    ev_file.write_bytes(b"\n".join(lines) + b"\n")
    errs = problems(ev_dir, mini)
    assert f"{ev_file}:1: (blank): unknown column" in errs
    assert (
        f"{ev_file}:2: (blank): contains a NUL byte (a binary or UTF-16 file?); save the file as "
        "UTF-8"
    ) in errs


def test_utf16_file(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_bytes(ev_file.read_text().encode("utf-16"))
    assert problems(ev_dir, mini) == [
        f"{ev_file}:(file): encoding: looks like UTF-16 (or binary): save the file as UTF-8"
    ]


def test_binary_file(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.write_bytes(bytes(range(256)) * 4)
    assert problems(ev_dir, mini) == [
        f"{ev_file}:1: (header): contains a NUL byte (a binary or UTF-16 file?); save the file "
        "as UTF-8"
    ]


def test_bom_and_crlf_are_accepted(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    text = ev_file.read_text()
    ev_file.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert len(load_evidence(ev_dir, mini).frame) == 10


def test_missing_evidence_folder(mini: Scenario, tmp_path: Path) -> None:
    missing = tmp_path / "data" / "nope"
    assert problems(missing, mini) == [f"{missing}:(dir): directory: evidence folder not found"]


def test_evidence_path_is_a_file(mini: Scenario, ev_file: Path) -> None:
    assert problems(ev_file, mini) == [f"{ev_file}:(dir): directory: evidence folder not found"]


def test_folder_without_csv(mini: Scenario, ev_dir: Path, ev_file: Path) -> None:
    ev_file.rename(ev_dir / "evidence.txt")
    assert problems(ev_dir, mini) == [f"{ev_dir}:(dir): files: no *.csv evidence files"]


def test_entries_named_like_evidence_files_are_never_skipped(mini: Scenario, ev_dir: Path) -> None:
    """What looks like part of the log but cannot be read as a *.csv file is a located problem
    (its rows would silently be missing from every fit), never a skip or a traceback."""
    (ev_dir / "broken.csv").symlink_to(ev_dir / "does_not_exist")
    (ev_dir / "dir.csv").mkdir()
    (ev_dir / "FOO.CSV").write_text(HEADER + "\n")
    (ev_dir / "Bar.Csv").write_text(HEADER + "\n")
    (ev_dir / "loop.csv").symlink_to(ev_dir / "loop.csv")
    (ev_dir / "notes.txt").write_text("not evidence\n")  # other names are not the log's
    expected = [
        f"{ev_dir / 'Bar.Csv'}:(file): file: evidence files must end in lower-case .csv",
        f"{ev_dir / 'FOO.CSV'}:(file): file: evidence files must end in lower-case .csv",
        f"{ev_dir / 'broken.csv'}:(file): file: broken symbolic link",
        f"{ev_dir / 'dir.csv'}:(file): file: a directory, not a CSV file",
        f"{ev_dir / 'loop.csv'}:(file): file: ",
    ]
    for found in (problems(ev_dir, mini), _load_inputs_problems(ev_dir.parent.parent)):
        assert len(found) == len(expected), found
        for got, want in zip(found, expected, strict=True):
            assert got.startswith(want), (got, want)


def _load_inputs_problems(root: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_inputs("mini", root)
    return [str(p) for p in info.value.problems]


def test_bad_entries_are_reported_by_check(ev_dir: Path) -> None:
    from typer.testing import CliRunner

    from forecast.cli import EXIT_BAD_INPUT, app

    (ev_dir / "FOO.CSV").write_text(HEADER + "\n")
    (ev_dir / "x.csv").mkdir()
    root = ev_dir.parent.parent
    res = CliRunner().invoke(app, ["check", "-s", "mini", "--root", str(root)])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert f"{ev_dir / 'FOO.CSV'}:(file): file: evidence files must end in lower-case .csv" in (
        res.output
    )
    assert f"{ev_dir / 'x.csv'}:(file): file: a directory, not a CSV file" in res.output


def test_problem_prints_on_one_line_with_visible_escapes():
    p = Problem("a\nb.csv", 3, "so\turce", "bad\x00 value\r")
    assert str(p) == "a\\nb.csv:3: so\\turce: bad\\x00 value\\r"
    assert str(Problem("é.csv", "(file)", "ñ", "ok")) == "é.csv:(file): ñ: ok"


def test_input_error_needs_a_problem_and_lists_each_on_its_own_line():
    with pytest.raises(ValueError, match=r"^InputError needs at least one problem$"):
        InputError([])
    err = InputError([Problem("f", 2, "x", "m1"), Problem("f", 3, "y", "m2")])
    assert str(err) == "f:2: x: m1\nf:3: y: m2"
