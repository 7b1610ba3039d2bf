"""Facts entered twice (``forecast.data.audit``) and ``forecast check``'s report of them.

Each test writes a small evidence log for the ``mini`` scenario (factors ``tension`` and
``appetite``; indicators ``stockpile``, ``attacks`` and ``attack_level`` measure ``tension``;
outcome ``deal`` has candidates ``alpha`` and ``beta``) and asks which rows look like one fact.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.data import (
    DuplicateFact,
    FactRow,
    duplicate_facts,
    evidence_summary,
    fact_key,
    load_inputs,
    load_scenario,
    normalize_url,
)

HEADER = "date,kind,target,value,source,source_url,horizon_months,exposure_days,forecaster,note"
URL = "https://example.org/news/1"


def row(
    date: str,
    kind: str,
    target: str,
    value: str,
    url: str = URL,
    *,
    horizon: str = "",
    forecaster: str = "",
    note: str = "",
) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(
        [date, kind, target, value, "Test source", url, horizon, "", forecaster, note]
    )
    return buf.getvalue()


@pytest.fixture
def log(mini_copy: Path):
    """``log(*rows)`` writes ``data/mini/evidence.csv`` (rows from 2) and returns the root."""

    def write(*rows: str) -> Path:
        path = mini_copy / "data" / "mini" / "evidence.csv"
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        return mini_copy

    return write


def groups(root: Path) -> list[DuplicateFact]:
    inputs = load_inputs("mini", root)
    return duplicate_facts(inputs.scenario, inputs.evidence)


def located(found: list[DuplicateFact]) -> list[list[int]]:
    """Each group as its row numbers."""
    return [[r.row for r in g.rows] for g in found]


# --- which rows are one fact --------------------------------------------------------------------


def test_same_url_day_and_factor_is_one_fact(log) -> None:
    root = log(
        row("2022-02-10", "event", "tension", "2"),
        row("2022-02-10", "event", "tension", "1"),
        row("2022-02-10", "event", "appetite", "1", "https://example.org/other"),
    )
    assert groups(root) == [
        DuplicateFact(
            urls=(URL,),
            date="2022-02-10",
            family="tension",
            rows=(
                FactRow("evidence.csv", 2, "event", "tension", "2"),
                FactRow("evidence.csv", 3, "event", "tension", "1"),
            ),
        )
    ]


def test_a_row_reviewed_as_a_distinct_fact_joins_no_group(log) -> None:
    reviewed = "[distinct fact: the month's level and the truce that ended it]"
    root = log(
        row("2022-02", "rating", "attack_level", "high"),
        row("2022-02-27", "event", "tension", "-3", note=f"truce signed {reviewed}"),
        row("2022-02-27", "event", "tension", "-2"),
    )
    assert located(groups(root)) == [[2, 4]]
    root = log(
        row("2022-02", "rating", "attack_level", "high"),
        row("2022-02-27", "event", "tension", "-3", note=f"truce signed {reviewed}"),
    )
    assert groups(root) == []


def test_outcome_news_and_a_resolution_of_that_outcome_are_one_fact(log) -> None:
    root = log(
        row("2022-05-03", "resolution", "deal:alpha", "1"),
        row("2022-05-03", "event", "deal:alpha", "3"),
        row("2022-05-03", "event", "deal", "2"),
    )
    assert located(groups(root)) == [[2, 3]]


def test_indicators_belong_to_the_factor_they_measure(log) -> None:
    """The brief's example: a zero-count month, a low rating and an event on the factor."""
    root = log(
        row("2022-05", "count", "attacks", "0"),
        row("2022-05", "rating", "attack_level", "low"),
        row("2022-05-12", "event", "tension", "-3"),
        row("2022-03", "indicator", "stockpile", "43.1"),
    )
    [g] = groups(root)
    assert g.family == "tension"
    assert g.date == "2022-05"
    assert [(r.row, r.kind, r.target, r.value) for r in g.rows] == [
        (2, "count", "attacks", "0"),
        (3, "rating", "attack_level", "low"),
        (4, "event", "tension", "-3"),
    ]


def test_different_family_is_not_one_fact(log) -> None:
    root = log(
        row("2022-02-10", "event", "tension", "2"),
        row("2022-02-10", "event", "appetite", "2"),
        row("2022-05", "rating", "attack_level", "high"),  # measures tension
        row("2022-05-20", "event", "appetite", "-1"),
        row("2022-07-04", "resolution", "bases_kept", "1"),
        row("2022-07-04", "event", "appetite", "1"),
    )
    assert groups(root) == []


def test_month_dated_rating_matches_a_day_in_its_month(log) -> None:
    root = log(
        row("2022-05", "rating", "attack_level", "high"),
        row("2022-05-20", "event", "tension", "2"),
        row("2022-06-01", "event", "tension", "1"),  # next month
    )
    assert located(groups(root)) == [[2, 3]]
    assert groups(root)[0].date == "2022-05"


def test_a_month_dated_row_links_days_of_its_month_into_one_group(log) -> None:
    root = log(
        row("2022-05-03", "event", "tension", "2"),
        row("2022-05", "rating", "attack_level", "high"),
        row("2022-05-20", "event", "tension", "1"),
    )
    assert located(groups(root)) == [[2, 3, 4]]


def test_different_day_is_not_one_fact(log) -> None:
    root = log(
        row("2022-02-10", "event", "tension", "2"),
        row("2022-02-11", "event", "tension", "2"),
    )
    assert groups(root) == []


def test_the_first_of_a_month_written_as_a_day_is_a_day(log) -> None:
    """The frame stores ``2022-05`` as 2022-05-01; precision comes from the text as written."""
    root = log(
        row("2022-05-01", "event", "tension", "2"),
        row("2022-05-20", "event", "tension", "1"),
    )
    assert groups(root) == []


def test_one_shared_url_among_several_is_enough(log) -> None:
    root = log(
        row("2022-02-10", "event", "tension", "2", "https://a.org/x ; https://b.org/y"),
        row("2022-02-10", "event", "tension", "1", "https://c.org/z;https://b.org/y"),
        row("2022-02-10", "event", "tension", "3", "https://a.org/w ; https://c.org/v"),
    )
    [g] = groups(root)
    assert [r.row for r in g.rows] == [2, 3]
    assert g.urls == ("https://b.org/y",)


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://example.org/news/1/", True),
        ("HTTPS://Example.ORG/news/1", True),
        ("https://EXAMPLE.org/news/1/", True),
        ("https://example.org/News/1", False),  # a path's case may matter to the server
        ("https://example.org/news/1?page=2", False),
        ("http://example.org/news/2", False),
    ],
)
def test_urls_are_compared_normalized(log, url: str, same: bool) -> None:
    root = log(
        row("2022-02-10", "event", "tension", "2"),
        row("2022-02-10", "event", "tension", "1", url),
    )
    assert located(groups(root)) == ([[2, 3]] if same else [])


def test_normalize_url() -> None:
    assert normalize_url("  HTTPS://News.Example.ORG/A/b/  ") == "https://news.example.org/A/b"
    assert normalize_url("https://x.org/") == "https://x.org"
    assert normalize_url("https://x.org/en/?p=1") == "https://x.org/en?p=1"


def test_forecasts_by_different_forecasters_are_different_facts(log) -> None:
    root = log(
        row("2022-07", "forecast", "deal:alpha", "0.2", horizon="12", forecaster="crowd"),
        row("2022-07", "forecast", "deal:alpha", "0.3", horizon="12", forecaster="market"),
    )
    assert groups(root) == []


def test_forecasts_by_one_forecaster_are_one_fact(log) -> None:
    root = log(
        row("2022-07", "forecast", "deal:alpha", "0.2", horizon="12", forecaster="crowd"),
        row("2022-07-15", "forecast", "deal:alpha", "0.25", horizon="12", forecaster="crowd"),
        row("2022-07-15", "forecast", "deal:alpha", "0.4", horizon="24", forecaster="crowd"),
    )
    [g] = groups(root)
    assert g.family == "deal:alpha"
    assert [r.row for r in g.rows] == [2, 3]  # the 24-month forecast is another quantity


def test_resolutions_of_different_candidates_are_different_facts(log) -> None:
    root = log(
        row("2022-07-04", "resolution", "deal:alpha", "0"),
        row("2022-07-04", "resolution", "deal:beta", "0"),
    )
    assert groups(root) == []


def test_resolutions_of_one_candidate_are_one_fact(log) -> None:
    root = log(
        row("2022-07-04", "resolution", "deal:alpha", "0", note="first"),
        row("2022-07-04", "resolution", "deal:alpha", "0", note="again"),
        row("2022-07-04", "likelihood_ratio", "deal", "2.5", horizon="12"),
        row("2022-07-04", "likelihood_ratio", "deal", "3", horizon="12"),
    )
    found = groups(root)
    assert [(g.family, [r.row for r in g.rows]) for g in found] == [
        ("deal:alpha", [2, 3]),
        ("deal", [4, 5]),
    ]
    assert [r.value for r in found[1].rows] == ["2.5", "3"]


@pytest.mark.parametrize(
    ("kind", "target", "outcome", "candidate", "family"),
    [
        ("event", "tension", None, None, "tension"),
        ("count", "attacks", None, None, "tension"),
        ("rating", "attack_level", None, None, "tension"),
        ("indicator", "stockpile", None, None, "tension"),
        ("resolution", "deal:beta", "deal", "beta", "deal:beta"),
        ("likelihood_ratio", "deal", "deal", float("nan"), "deal"),
        ("event", "deal:alpha", "deal", "alpha", "deal:alpha"),  # an outcome-coded event
        ("resolution", "bases_kept", None, None, "bases_kept"),  # a frame without the column
    ],
)
def test_fact_key_family(mini_root: Path, kind, target, outcome, candidate, family) -> None:
    s = load_scenario(mini_root / "priors" / "mini.toml")
    r = {"kind": kind, "target": target, "outcome": outcome, "candidate": candidate}
    assert fact_key(s, r) == (family, None, None)
    assert fact_key(s, {**r, "forecaster": "crowd", "horizon_months": 12.0}) == (
        family,
        "crowd",
        12,
    )


# --- the summary --------------------------------------------------------------------------------


def test_evidence_summary(log) -> None:
    root = log(
        row("2022-05", "rating", "attack_level", "high"),
        row("2022-02-10", "event", "tension", "2", "https://example.org/a"),
        row("2022-09-30", "event", "tension", "1"),
    )
    s = evidence_summary(load_inputs("mini", root))
    assert (s.rows, s.files) == (3, 1)
    assert s.rows_by_kind == {"event": 2, "rating": 1}
    assert s.date_span == ("2022-02-10", "2022-09-30")
    assert s.duplicate_facts == ()


# --- forecast check -----------------------------------------------------------------------------


def check(root: Path, *args: str):
    result = CliRunner().invoke(app, ["check", "-s", "mini", "--root", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


DUPLICATED = (
    row("2022-05", "rating", "attack_level", "high", "https://example.org/[red]x[/red]"),
    row("2022-05-20", "event", "tension", "2", "https://example.org/[red]x[/red]"),
    row("2022-06-02", "event", "appetite", "1"),
)


def test_check_lists_duplicate_facts(log) -> None:
    result = check(log(*DUPLICATED))
    assert result.exit_code == 0, result.output
    assert "inputs are valid" in result.stdout
    lines = result.stdout.splitlines()
    heading = next(i for i, ln in enumerate(lines) if "possible duplicate facts" in ln)
    assert lines[heading].startswith("1 possible duplicate facts")
    line = lines[heading + 1]
    assert "2022-05 tension:" in line
    assert "evidence.csv:2 rating attack_level=high" in line
    assert "evidence.csv:3 event tension=2" in line
    assert "https://example.org/[red]x[/red]" in line  # user text shown literally
    assert "evidence.csv:4" not in result.stdout


def test_check_is_quiet_about_a_clean_log(log) -> None:
    result = check(log(row("2022-05", "rating", "attack_level", "high")))
    assert result.exit_code == 0, result.output
    assert "duplicate" not in result.stdout


def test_check_json_has_duplicate_facts(log) -> None:
    result = check(log(*DUPLICATED), "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["evidence_rows"] == 3
    assert out["rows_by_kind"] == {"event": 2, "rating": 1}
    assert out["duplicate_facts"] == [
        {
            "urls": ["https://example.org/[red]x[/red]"],
            "date": "2022-05",
            "family": "tension",
            "rows": [
                {
                    "file": "evidence.csv",
                    "row": 2,
                    "kind": "rating",
                    "target": "attack_level",
                    "value": "high",
                },
                {
                    "file": "evidence.csv",
                    "row": 3,
                    "kind": "event",
                    "target": "tension",
                    "value": "2",
                },
            ],
        }
    ]


@pytest.mark.parametrize("format", ["table", "json"])
def test_strict_exits_1_on_duplicates_and_0_when_clean(log, format: str) -> None:
    root = log(*DUPLICATED)
    assert check(root, "--format", format, "--strict").exit_code == 1
    assert check(root, "--format", format).exit_code == 0
    log(*DUPLICATED[1:])
    clean = check(root, "--format", format, "--strict")
    assert clean.exit_code == 0, clean.output
    if format == "json":
        assert json.loads(clean.stdout)["duplicate_facts"] == []
