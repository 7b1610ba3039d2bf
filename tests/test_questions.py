"""Question and crowd files: parsing, the crowd value at an origin, and located errors (dates,
date order, crowd probabilities, duplicates, unknown questions, unsorted series, physical row
numbers, unreadable files); question links: explicit links win over rules, topics, unrelated
questions, checks against the scenario."""

from __future__ import annotations

import os
import time
from pathlib import Path

import needs
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.data.errors import InputError
from forecast.data.questions import load_questions
from forecast.data.scenario_file import load_scenario
from forecast.skill.links import OTHER_TOPIC, Link, links_path, load_links

MINI = Path(__file__).parent / "fixtures" / "mini"
HEADER_Q = "platform,id,title,topic_tags,open_date,close_date,resolve_date,resolution,lead_ref_date"
HEADER_C = "platform,id,date,prob_yes"
Q1 = "m,1,Will it?,conflict,2022-01-01,2022-06-01,2022-06-01,1,2022-06-01"


def shared_file(name: str) -> Path:
    """A file of ``../shared/data/questions/``, or skip (fail in CI) when the folder is absent."""
    return needs.shared_data("questions") / name


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Work in ``tmp_path`` so files are named ``q.csv`` and ``c.csv`` in problems."""
    monkeypatch.chdir(tmp_path)


def write(_tmp_path: Path, questions: list[str], crowd: list[str]) -> tuple[Path, Path]:
    q, c = Path("q.csv"), Path("c.csv")
    q.write_text("\n".join([HEADER_Q, *questions]) + "\n")
    c.write_text("\n".join([HEADER_C, *crowd]) + "\n")
    return q, c


def problems(q: Path, c: Path) -> list[str]:
    """Every problem ``load_questions`` reports (it must report some)."""
    with pytest.raises(InputError) as exc:
        load_questions(q, c)
    return [str(p) for p in exc.value.problems]


def test_dev_questions_load():
    qs = load_questions(shared_file("questions_dev.csv"), shared_file("crowd_series_dev.csv"))
    assert len(qs.questions) == 192
    assert qs.questions["resolution"].isin([0.0, 1.0]).all()
    assert (qs.questions["resolved"] >= qs.questions["reference"]).all()
    # 39 dev questions resolve after the date their leads count from (up to 214 days later)
    late = qs.questions["resolved"] > qs.questions["reference"]
    assert late.sum() == 39
    assert (qs.questions["resolved"] - qs.questions["reference"]).max() == pd.Timedelta(days=214)
    assert qs.crowd["p"].between(0, 1).all()
    assert len(qs.crowd) == 5596 - 2  # two rows of the file repeat the row before them


def test_dev_crowd_values_at_a_lead_match_the_files_own_columns():
    """The file records the crowd 7, 30 and 90 days before the reference (rounded to 4 places);
    ``crowd_at`` must agree, including on the days with several Metaculus updates listed in the
    order they were made (the last one counts)."""
    qfile = shared_file("questions_dev.csv")
    qs = load_questions(qfile, shared_file("crowd_series_dev.csv"))
    raw = pd.read_csv(qfile, dtype=str, keep_default_na=False)
    n = 0
    for lead in (7, 30, 90):
        for r in raw[raw[f"crowd_p_lead{lead}d"] != ""].to_dict("records"):
            when = pd.Timestamp(r[f"crowd_date_lead{lead}d"][:10])
            got = qs.crowd_at(f"{r['platform']}:{r['id']}", when)[0]
            assert got == pytest.approx(float(r[f"crowd_p_lead{lead}d"]), abs=5e-5), r["id"]
            n += 1
    assert n == 84 + 69 + 40


def test_crowd_at_takes_the_last_point_on_or_before_the_origin(tmp_path):
    q, c = write(
        tmp_path,
        [Q1],
        ["m,1,2022-02-01,0.2", "m,1,2022-03-01T12:00:00Z,0.4", "m,1,2022-04-01,0.9"],
    )
    qs = load_questions(q, c)
    assert qs.crowd_at("m:1", pd.Timestamp("2022-01-31"))[1] is None
    assert qs.crowd_at("m:1", pd.Timestamp("2022-02-01")) == (0.2, pd.Timestamp("2022-02-01"))
    assert qs.crowd_at("m:1", pd.Timestamp("2022-02-28")) == (0.2, pd.Timestamp("2022-02-01"))
    assert qs.crowd_at("m:1", pd.Timestamp("2022-03-01")) == (0.4, pd.Timestamp("2022-03-01"))
    assert qs.crowd_at("m:1", pd.Timestamp("2022-03-31"))[0] == 0.4
    assert qs.crowd_at("m:1", pd.Timestamp("2022-04-01"))[0] == 0.9
    assert qs.crowd_at("m:2", pd.Timestamp("2022-03-31"))[1] is None


@pytest.fixture
def los_angeles_time():
    """The process's local time zone set to UTC-8/-7 for the test (UTC days must not depend on
    the machine's time zone)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_crowd_times_with_an_offset_count_on_their_utc_day(tmp_path, los_angeles_time):
    q, c = write(
        tmp_path,
        [Q1],
        ["m,1,2022-03-01 23:30:00,0.1", "m,1,2022-03-01T22:00:00-05:00,0.3", "m,1,2022-03-05,0.5"],
    )
    qs = load_questions(q, c)
    assert list(qs.crowd["date"].dt.strftime("%Y-%m-%d")) == [
        "2022-03-01",
        "2022-03-02",  # 22:00 at UTC-5 is 03:00 UTC the next day
        "2022-03-05",
    ]
    assert qs.crowd_at("m:1", pd.Timestamp("2022-03-01"))[0] == 0.1


@pytest.mark.parametrize(
    ("question", "crowd", "where"),
    [
        ("m,1,T,x,,,2022-06-01,2,", "m,1,2022-02-01,0.2", "q.csv:2: resolution:"),
        ("m,1,T,x,,,,1,", "m,1,2022-02-01,0.2", "q.csv:2: resolve_date:"),
        ("m,1,T,x,,,2022-13-01,1,", "m,1,2022-02-01,0.2", "q.csv:2: resolve_date:"),
        ("m,1,T,x,,,2022-06-01,1,2022-02-30", "m,1,2022-02-01,0.2", "q.csv:2: lead_ref_date:"),
        ("m,1,T,x,soon,,2022-06-01,1,", "m,1,2022-02-01,0.2", "q.csv:2: open_date:"),
        ("m,1,T,x,,,2022-06-01,1,", "m,1,2022-02-01,1.2", "c.csv:2: prob_yes:"),
        ("m,1,T,x,,,2022-06-01,1,", "m,1,yesterday,0.2", "c.csv:2: date:"),
        (",1,T,x,,,2022-06-01,1,", "", "q.csv:2: id:"),
        ("m,1,T,x,,,2022-06-01,1,", ",1,2022-02-01,0.2", "c.csv:2: id:"),
    ],
)
def test_bad_rows_are_located(tmp_path, question, crowd, where):
    q, c = write(tmp_path, [question], [crowd])
    assert [p[: len(where)] for p in problems(q, c)] == [where]


@pytest.mark.parametrize("column", ["open_date", "close_date", "resolve_date", "lead_ref_date"])
@pytest.mark.parametrize(
    "text",
    [
        *("now", "today", "tomorrow", "2022/06/01", "June 1 2022", "2022-06-01T00:00:00"),
        *("20220601", "2022-6-1", "2022-06", "01-06-2022", "2022-06-01 12:00", "2022-06-31"),
    ],
)
def test_question_dates_are_yyyy_mm_dd_only(tmp_path, column, text):
    """pandas would read most of these (``now`` as the current time); the loader takes none."""
    row = dict.fromkeys(HEADER_Q.split(","), "")
    row.update(platform="m", id="1", title="T", topic_tags="x", resolution="1")
    row.update(open_date="2022-01-01", resolve_date="2022-06-01")
    row[column] = text
    q, c = write(tmp_path, [",".join(row.values())], ["m,1,2022-02-01,0.2"])
    assert problems(q, c) == [f"q.csv:2: {column}: not a date (YYYY-MM-DD): {text!r}"]


@pytest.mark.parametrize(
    "text",
    [
        *("now", "today", "2022/02/01", "1 Feb 2022", "2022-02-01T25:00", "2022-02-01T12"),
        *("2022-02", "2022-02-01 12:00:00 UTC", "2022-02-30", "１２"),
    ],
)
def test_crowd_dates_are_iso_only(tmp_path, text):
    q, c = write(tmp_path, [Q1], [f"m,1,{text},0.2"])
    (msg,) = problems(q, c)
    assert msg.startswith("c.csv:2: date: not a date"), msg


@pytest.mark.parametrize("column", ["close_date", "resolve_date", "lead_ref_date"])
def test_dates_before_the_question_opened_are_refused(tmp_path, column):
    row = dict(zip(HEADER_Q.split(","), Q1.split(","), strict=True))
    row[column] = "2021-12-31"
    q, c = write(tmp_path, [",".join(row.values())], ["m,1,2022-02-01,0.2"])
    assert problems(q, c) == [
        f"q.csv:2: {column}: 2021-12-31 is before the question opened (2022-01-01)"
    ]
    row[column] = "2022-01-01"  # the day it opened is fine
    q, c = write(tmp_path, [",".join(row.values())], ["m,1,2022-02-01,0.2"])
    assert load_questions(q, c).questions.loc[0, "open"] == pd.Timestamp("2022-01-01")


@pytest.mark.parametrize(
    "text",
    [
        *("-0.1", "-0", "1.2", "1.0000001", "nan", "NaN", "inf", "-inf", "", "0x1", "1_0"),
        *("50%", "0.5.1", "½", "1e400", "-1e-400", "+-0.5"),
    ],
)
def test_crowd_probabilities_outside_0_1_or_not_numbers_are_refused(tmp_path, text):
    q, c = write(tmp_path, [Q1], [f'm,1,2022-02-01,"{text}"'])
    assert problems(q, c) == [f"c.csv:2: prob_yes: must be a probability in [0, 1], got {text!r}"]


def test_crowd_probabilities_0_and_1_are_accepted(tmp_path):
    q, c = write(tmp_path, [Q1], ["m,1,2022-02-01,0", "m,1,2022-02-02,1", "m,1,2022-02-03,1e-1"])
    assert list(load_questions(q, c).crowd["p"]) == [0.0, 1.0, 0.1]


def test_crowd_points_for_unknown_questions_are_refused(tmp_path):
    q, c = write(tmp_path, [Q1], ["m,1,2022-02-01,0.2", "m,2,2022-02-01,0.3", "x,1,2022-02-01,0.3"])
    assert problems(q, c) == [
        "c.csv:3: id: no question m:2 in the question file q.csv",
        "c.csv:4: id: no question x:1 in the question file q.csv",
    ]


def test_repeated_crowd_points_are_dropped(tmp_path):
    q, c = write(
        tmp_path,
        [Q1],
        ["m,1,2022-02-01,0.2", "m,1,2022-02-01,0.20", "m,1,2022-03-01,0.5", "m,1,2022-02-01,0.2"],
    )
    qs = load_questions(q, c)
    assert list(qs.crowd["p"]) == [0.2, 0.5]


def test_different_probabilities_at_one_time_out_of_order_are_refused(tmp_path):
    q, c = write(
        tmp_path,
        [Q1],
        ["m,1,2022-02-01,0.2", "m,1,2022-03-01,0.5", "m,1,2022-02-01,0.3"],
    )
    assert problems(q, c) == [
        "c.csv:4: prob_yes: m:1 has another probability at 2022-02-01 (0.2, row 2), and its "
        "series is not in time order, so which came last is unknown: list the series in time "
        "order or keep one value"
    ]


def test_updates_on_one_day_in_time_order_keep_the_last(tmp_path):
    """The dev files list a day's Metaculus updates in the order they were made."""
    q, c = write(
        tmp_path,
        [Q1],
        ["m,1,2022-02-01,0.2", "m,1,2022-02-01,0.3", "m,1,2022-02-01,0.25", "m,1,2022-03-01,0.5"],
    )
    qs = load_questions(q, c)
    assert qs.crowd_at("m:1", pd.Timestamp("2022-02-01"))[0] == 0.25
    assert qs.crowd_at("m:1", pd.Timestamp("2022-02-28"))[0] == 0.25


def test_unsorted_crowd_series_are_sorted_by_time(tmp_path):
    points = [
        "n,2,2022-02-10,0.6",
        "m,1,2022-04-01,0.9",
        "m,1,2022-02-01,0.2",
        "m,1,2022-03-01 18:00,0.45",
        "m,1,2022-03-01 09:00,0.4",
        "n,2,2022-02-05,0.7",
    ]
    q2 = "n,2,Won't it?,conflict,2022-01-01,2022-06-01,2022-06-01,0,2022-06-01"
    q, c = write(tmp_path, [Q1, q2], points)
    qs = load_questions(q, c)
    assert list(qs.crowd["key"]) == ["m:1"] * 4 + ["n:2"] * 2
    assert list(qs.crowd["p"]) == [0.2, 0.4, 0.45, 0.9, 0.7, 0.6]
    assert qs.crowd_at("m:1", pd.Timestamp("2022-03-31"))[0] == 0.45  # 18:00 is the later
    assert qs.crowd_at("m:1", pd.Timestamp("2022-02-28"))[0] == 0.2
    assert qs.crowd_at("n:2", pd.Timestamp("2022-02-09"))[0] == 0.7
    # any file order gives the same series
    c.write_text("\n".join([HEADER_C, *reversed(points)]) + "\n")
    assert load_questions(q, c).crowd.equals(qs.crowd)
    c.write_text("\n".join([HEADER_C, *sorted(points)]) + "\n")
    assert load_questions(q, c).crowd.equals(qs.crowd)


def test_crowd_at_does_not_rely_on_the_frames_order(tmp_path):
    q, c = write(tmp_path, [Q1], ["m,1,2022-02-01,0.2", "m,1,2022-03-01,0.4"])
    qs = load_questions(q, c)
    backwards = type(qs)(qs.questions, qs.crowd.iloc[::-1].reset_index(drop=True))
    assert backwards.crowd_at("m:1", pd.Timestamp("2022-03-10"))[0] == 0.4
    assert backwards.crowd_at("m:1", pd.Timestamp("2022-02-10"))[0] == 0.2


def test_late_resolution_is_when_the_outcome_was_known(tmp_path):
    """``resolved`` is the later of the resolution date and the lead reference date."""
    q, c = write(
        tmp_path,
        [
            "m,1,T,x,2022-01-01,2022-06-01,2022-09-15,1,2022-06-01",  # resolved 106 days late
            "m,2,T,x,2022-01-01,2022-06-01,2022-05-20,0,2022-06-01",  # resolved early
            "m,3,T,x,2022-01-01,2022-06-01,,0,2022-06-10",  # no resolution date
            "m,4,T,x,2022-01-01,2022-06-01,2022-07-01,0,",  # resolution date is the reference
            "m,5,T,x,2022-01-01,2022-06-01,,,",  # close date is the reference; unresolved
        ],
        [],
    )
    f = load_questions(q, c).questions.set_index("key")
    ts = pd.Timestamp
    assert list(f["reference"]) == [ts(d) for d in ("2022-06-01",) * 2 + ("2022-06-10",)] + [
        ts("2022-07-01"),
        ts("2022-06-01"),
    ]
    assert f.loc["m:1", "resolved"] == ts("2022-09-15")
    assert f.loc["m:2", "resolved"] == ts("2022-06-01")
    assert f.loc["m:3", "resolved"] == ts("2022-06-10")
    assert f.loc["m:4", "resolved"] == ts("2022-07-01")
    assert list(f["resolution"].fillna(-1)) == [1.0, 0.0, 0.0, 0.0, -1.0]
    assert f.loc["m:1", "tags"] == ("x",)
    # the scheduled close, and the last day open: the earliest of close, resolution, reference
    assert (f["close"] == ts("2022-06-01")).all()
    assert list(f["end"]) == [ts("2022-06-01"), ts("2022-05-20")] + [ts("2022-06-01")] * 3


def test_a_question_without_a_close_date_ends_at_its_earliest_date(tmp_path):
    q, c = write(
        tmp_path,
        ["m,1,T,x,2022-01-01,,2022-09-15,1,2022-08-01", "m,2,T,x,,,2022-09-15,0,"],
        [],
    )
    f = load_questions(q, c).questions.set_index("key")
    assert f["close"].isna().all()
    assert list(f["end"]) == [pd.Timestamp("2022-08-01"), pd.Timestamp("2022-09-15")]


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path):
    """Blank rows count; a quoted title over two lines is one row (as in the evidence log)."""
    q, c = Path("q.csv"), Path("c.csv")
    q.write_text(
        f"{HEADER_Q}\n\n{Q1}\n\n\n"
        'm,2,"A title\nover two lines",x,,,2022-06-01,1,\n'
        "m,3,T,x,,,2022-06-01,maybe,\n"
        "   \n"
        "m,4,T,x,,,now,1,\n"
    )
    c.write_text(f"{HEADER_C}\r\n\r\nm,1,2022-02-01,0.2\r\n\r\nm,1,2022-02-02,-1\r\n")
    assert problems(q, c) == [
        "q.csv:7: resolution: must be 0, 1 or empty, got 'maybe'",
        "q.csv:9: resolve_date: not a date (YYYY-MM-DD): 'now'",
        "c.csv:5: prob_yes: must be a probability in [0, 1], got '-1'",
    ]


def test_rows_of_the_wrong_length_and_duplicate_columns_are_located(tmp_path):
    q, c = write(tmp_path, [Q1, "m,2,T,x,,,2022-06-01,1", Q1 + ",extra"], ["m,1,2022-02-01,0.2"])
    assert problems(q, c) == [
        "q.csv:3: (row): has 8 fields but the header has 9 (missing commas, or a comma inside an "
        "unquoted value?)",
        "q.csv:4: (row): has 10 fields but the header has 9 (extra commas, or a comma inside an "
        "unquoted value?)",
    ]
    q, c = write(tmp_path, [Q1], [])
    c.write_text("platform,id,date,prob_yes,date,,\nm,1,2022-02-01,0.2,x,,\nm,1,x,2,x,,\n")
    assert problems(q, c) == [
        "c.csv:1: date: column appears 2 times",
        "c.csv:1: (blank): column appears 2 times",
    ]


def test_a_file_without_a_required_column_adds_no_row_problems(tmp_path):
    """Its rows are not read, and the other file's rows are not checked against it."""
    q, c = write(tmp_path, [], ["m,1,2022-02-01,0.2", "m,1,2022-02-02,0.3"])
    q.write_text("platform,id,title,resolution,resolve_date\nm,1,T,1,2022-06-01\nm,1,T,x,y\n")
    assert problems(q, c) == ["q.csv:1: topic_tags: missing required column"]
    q.write_text(f"{HEADER_Q},resolution\n{Q1},1\n")
    assert problems(q, c) == ["q.csv:1: resolution: column appears 2 times"]
    q.write_bytes(HEADER_Q.replace("title", "t\xeftle").encode("latin-1") + b"\n")
    assert problems(q, c) == ["q.csv:1: (header): not UTF-8 (byte 0xef); save the file as UTF-8"]
    q, _ = write(tmp_path, [Q1], [])
    c.write_text("platform,id,date\nm,1,2022-02-01\nm,1,x\n")
    assert problems(q, c) == ["c.csv:1: prob_yes: missing required column"]


def test_optional_columns_may_be_missing(tmp_path):
    q, c = write(tmp_path, [], ["m,1,2022-02-01,0.2"])
    q.write_text("platform,id,title,topic_tags,resolution,resolve_date\nm,1,T,x,1,2022-06-01\n")
    f = load_questions(q, c).questions
    assert f.loc[0, "reference"] == f.loc[0, "resolved"] == pd.Timestamp("2022-06-01")
    assert f.loc[0, "open"] is pd.NaT


def test_titles_tags_and_empty_files(tmp_path):
    q, c = write(tmp_path, ['m,1,Will it rain?," weather , climate,,",,,2022-06-01,1,'], [])
    f = load_questions(q, c).questions
    assert f.loc[0, "title"] == "Will it rain?"
    assert f.loc[0, "tags"] == ("weather", "climate")
    q, c = write(tmp_path, [], [])
    qs = load_questions(q, c)
    assert list(qs.questions.columns) == [
        *("key", "title", "tags", "open", "close", "reference", "end", "resolved", "resolution")
    ]
    assert list(qs.crowd.columns) == ["key", "date", "p"] and qs.crowd.empty


def test_a_bom_and_crlf_line_ends_are_read(tmp_path):
    q, c = write(tmp_path, [], [])
    q.write_bytes(
        b"\xef\xbb\xbf" + f'{HEADER_Q}\r\nm,1,"Two\r\nlines",x,,,2022-06-01,1,\r\n'.encode()
    )
    c.write_bytes(b"\xef\xbb\xbf" + f"{HEADER_C}\r\nm,1,2022-02-01,0.2\r\n".encode())
    qs = load_questions(q, c)
    assert qs.questions.loc[0, "title"] == "Two\r\nlines"
    assert list(qs.crowd["p"]) == [0.2]


def test_undecodable_cells_are_reported_up_to_ten(tmp_path):
    q, c = write(tmp_path, [Q1], [])
    header = "platform,id,date,prob_yes,note\n"
    rows = [f"m,1,2022-02-{d:02},0.2,caf\xe9" for d in range(1, 11)]
    c.write_bytes((header + "\n".join(rows)).encode("latin-1"))
    expected = [
        f"c.csv:{i}: note: not UTF-8 (byte 0xe9); save the file as UTF-8" for i in range(2, 12)
    ]
    assert problems(q, c) == expected
    rows += ["m,1,2022-03-01,0.2,\xe9", "m,1,2022-03-02,\xe9,\xe9"]
    c.write_bytes((header + "\n".join(rows)).encode("latin-1"))
    assert problems(q, c) == [
        *expected,
        "c.csv:(file): encoding: 3 more cells are not clean UTF-8 text",
    ]


def test_duplicate_questions_and_missing_columns(tmp_path):
    q, c = write(
        tmp_path, ["m,1,T,x,,,2022-06-01,1,", "m,1,T,x,,,2022-06-01,0,"], ["m,1,2022-02-01,0.2"]
    )
    with pytest.raises(InputError, match=r"q.csv:3: id: duplicate question m:1 \(row 2\)"):
        load_questions(q, c)
    Path("c.csv").write_text("platform,id,when\n")
    with pytest.raises(InputError, match=r"c\.csv:1: prob_yes: missing required column"):
        load_questions(q, Path("c.csv"))


def test_every_problem_of_both_files_at_once(tmp_path):
    q, c = write(
        tmp_path,
        [
            "m,1,T,x,now,,2022-06-01,1,",
            "m,2,T,x,,,2022-06-01,2,",
            "m,2,T,x,,,,1,",  # a duplicate, and more
            ",,T,x,,,2022-06-01,1,",
            "m,3,T,x,2022-07-01,2022-06-01,,1,",
        ],
        [],
    )
    crowd = [
        "m,1,today,0.2",
        "m,2,2022-02-01,nan",
        "m,3,2022-02-01,caf\xe9",
        ",2,2022-02-01,0.5",
        "m,3,2022-02-01,0.5,",
        "m,3,2022-02-31,2",
    ]
    c.write_bytes("\n".join([HEADER_C, *crowd]).encode("latin-1"))
    assert problems(q, c) == [
        # how the files read, then the rows
        "c.csv:6: (row): has 5 fields but the header has 4 (extra commas, or a comma inside an "
        "unquoted value?)",
        "c.csv:4: prob_yes: not UTF-8 (byte 0xe9); save the file as UTF-8",
        "q.csv:2: open_date: not a date (YYYY-MM-DD): 'now'",
        "q.csv:3: resolution: must be 0, 1 or empty, got '2'",
        "q.csv:4: id: duplicate question m:2 (row 3)",
        "q.csv:4: resolve_date: needs a date to count leads from (lead_ref_date, resolve_date or "
        "close_date)",
        "q.csv:5: id: platform and id are required",
        "q.csv:6: close_date: 2022-06-01 is before the question opened (2022-07-01)",
        "c.csv:2: date: not a date (YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS] with an optional UTC "
        "offset): 'today'",
        "c.csv:3: prob_yes: must be a probability in [0, 1], got 'nan'",
        "c.csv:5: id: platform and id are required",
        "c.csv:7: date: not a date (YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS] with an optional UTC "
        "offset): '2022-02-31'",
        "c.csv:7: prob_yes: must be a probability in [0, 1], got '2'",
    ]


def test_unreadable_files_are_located(tmp_path, monkeypatch):
    q, c = write(tmp_path, [Q1], ["m,1,2022-02-01,0.2"])
    Path("adir").mkdir()
    assert problems(Path("adir"), c) == ["adir:(file): file: is a directory, not a CSV file"]
    assert problems(q, Path("missing.csv")) == ["missing.csv:(file): file: not found"]
    Path("empty.csv").write_text("")
    assert problems(q, Path("empty.csv")) == [
        "empty.csv:(file): file: empty file: expected a header row"
    ]
    Path("u16.csv").write_text(f"{HEADER_C}\nm,1,2022-02-01,0.2\n", encoding="utf-16")
    assert problems(q, Path("u16.csv")) == [
        "u16.csv:(file): encoding: looks like UTF-16 (or binary): save the file as UTF-8"
    ]
    Path("latin1.csv").write_bytes(
        f"{HEADER_Q}\n{Q1}\nm,2,Caf\xe9?,x,,,2022-06-01,1,\n".encode("latin-1")
    )
    assert problems(Path("latin1.csv"), c) == [
        "latin1.csv:3: title: not UTF-8 (byte 0xe9); save the file as UTF-8"
    ]
    Path("quote.csv").write_text(f'{HEADER_C}\nm,1,2022-02-01,"0.2\n')
    assert problems(q, Path("quote.csv"))[0].startswith("quote.csv:2: (row): malformed CSV")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert problems(q, c) == [
        "q.csv:(file): file: cannot be read: Permission denied",
        "c.csv:(file): file: cannot be read: Permission denied",
    ]


def test_cli_backtest_reports_a_directory_as_questions_file(tmp_path):
    """No traceback: a located problem and the bad-input exit code."""
    from forecast.cli import app

    _, c = write(tmp_path, [Q1], ["m,1,2022-02-01,0.2"])
    Path("adir").mkdir()
    args = ["backtest", "--questions", "adir", "--crowd", str(c), "--root", str(MINI)]
    result = CliRunner().invoke(app, [*args, "--scenario", "mini", "--no-factors", "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "adir:(file): file: is a directory, not a CSV file" in result.output


@pytest.fixture(scope="module")
def mini_links():
    s = load_scenario(MINI / "priors" / "mini.toml")
    return load_links(links_path("mini", MINI), s)


def test_links_explicit_rule_topic_unrelated(mini_links):
    lk = mini_links
    explicit = lk.link("test:explicit", "Will there be an attack?", ("conflict",))
    assert explicit == Link("tension", -1.0, "question")
    assert lk.link("m:2", "Will there be an attack?", ("diplomacy",)) == Link(None, 0.0, "topic")
    rule = lk.link("m:1", "Will there be an ATTACK?", ("conflict",))
    assert (rule.factor, rule.sign, rule.why) == ("tension", 1.0, "rule 1")
    deal = lk.link("m:1", "A deal?", ("diplomacy", "conflict"))
    assert (deal.factor, deal.sign, deal.why) == ("appetite", 1.0, "rule 2")
    assert lk.link("m:2", "Will there be an attack?", ("diplomacy",)).why == "topic"
    assert lk.link("m:2", "Will there be an attack?", ("diplomacy",)).factor is None
    assert lk.link("m:3", "Will it rain?", ("weather",)) == lk.link("m:3", "x", ())
    assert lk.link("m:3", "Will it rain?", ("weather",)).why == "unrelated"
    assert lk.link("m:3", "Will it rain?", ("weather",)).sign == 0.0


def test_topic_weights_share_known_tags_and_fall_back_to_other(mini_links):
    names = mini_links.topics
    assert names == ["conflict", "diplomacy", OTHER_TOPIC]
    w = dict(zip(names, mini_links.topic_weights(("conflict", "diplomacy", "x")), strict=True))
    assert w == {"conflict": 0.5, "diplomacy": 0.5, OTHER_TOPIC: 0.0}
    assert mini_links.topic_weights(("x",)) == [0.0, 0.0, 1.0]
    assert mini_links.topic_weights(()) == [0.0, 0.0, 1.0]
    assert mini_links.topic_weights(("diplomacy",)) == [0.0, 1.0, 0.0]
    assert mini_links.topic_weights(("diplomacy", "diplomacy")) == [0.0, 1.0, 0.0]


def test_an_explicit_link_with_a_plus_sign(tmp_path):
    s = load_scenario(MINI / "priors" / "mini.toml")
    text = links_path("mini", MINI).read_text()
    path = tmp_path / "links.toml"
    path.write_text(
        text.replace('factor = "tension"\nsign = "-"', 'factor = "appetite"\nsign = "+"')
    )
    lk = load_links(path, s)
    assert lk.link("test:explicit", "Rain?", ()) == Link("appetite", 1.0, "question")


def test_links_are_checked_against_the_scenario(tmp_path):
    s = load_scenario(MINI / "priors" / "mini.toml")
    text = links_path("mini", MINI).read_text()
    bad = tmp_path / "links.toml"
    bad.write_text(
        text.replace('factor = "appetite"', 'factor = "apetite"').replace(
            'pattern = "(?i)attack|strike"', 'pattern = "(?i)attack|("'
        )
    )
    with pytest.raises(InputError) as exc:
        load_links(bad, s)
    msgs = [str(p) for p in exc.value.problems]
    assert any("rules[0]: pattern: not a valid regular expression" in m for m in msgs), msgs
    bad.write_text(text.replace('factor = "appetite"', 'factor = "apetite"'))
    with pytest.raises(InputError) as exc:
        load_links(bad, s)
    assert [str(p) for p in exc.value.problems] == [
        f"{bad}:rules[1]: factor: unknown factor 'apetite' (factors of mini: tension, appetite)"
    ]
    bad.write_text(text.replace('factor = "tension"\nsign = "-"', 'factor = "tensio"\nsign = "-"'))
    with pytest.raises(InputError, match=r"questions\[0\]: factor: unknown factor 'tensio'"):
        load_links(bad, s)


def test_a_links_file_for_another_scenario_is_refused(tmp_path):
    s = load_scenario(MINI / "priors" / "mini.toml")
    text = links_path("mini", MINI).read_text()
    bad = tmp_path / "links.toml"
    bad.write_text(text.replace('scenario = "mini"', 'scenario = "israel_russia"'))
    with pytest.raises(InputError) as exc:
        load_links(bad, s)
    assert [str(p) for p in exc.value.problems] == [
        f"{bad}:(top): scenario: this file is for scenario 'israel_russia', not 'mini'"
    ]
    # reported together with the file's other problems
    bad.write_text(
        text.replace('scenario = "mini"', 'scenario = "other"').replace("sd = 0.5", "sd = -1", 1)
    )
    with pytest.raises(InputError) as exc:
        load_links(bad, s)
    assert [p.field for p in exc.value.problems] == ["scenario", "sd"]
    # the shipped file of the default scenario against the mini scenario: every mismatch
    shipped = links_path("israel_russia", Path(__file__).parents[1])
    with pytest.raises(InputError) as exc:
        load_links(shipped, s)
    fields = [p.field for p in exc.value.problems]
    assert fields[0] == "scenario" and set(fields[1:]) == {"factor", "target"}


def links_problems(path: Path, scenario) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_links(path, scenario)
    return [str(p) for p in exc.value.problems]


def test_links_file_read_problems_are_located(tmp_path, monkeypatch):
    s = load_scenario(MINI / "priors" / "mini.toml")
    assert links_problems(Path("."), s) == [".:(file): file: is a directory, not a TOML file"]
    assert links_problems(Path("missing.toml"), s) == [
        "missing.toml:(file): file: No such file or directory"
    ]
    Path("deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert links_problems(Path("deep.toml"), s) == [
        "deep.toml:(toml): syntax: malformed TOML: values nested too deeply"
    ]
    Path("l.toml").write_bytes(b'scenario = "m\xe9"\n')
    assert links_problems(Path("l.toml"), s) == [
        "l.toml:(file): encoding: not UTF-8 text: byte 0xe9 at line 1, column 14"
    ]
    Path("l.toml").write_text("scenario = \n")
    (msg,) = links_problems(Path("l.toml"), s)
    assert msg.startswith("l.toml:(toml): syntax: malformed TOML: ")

    def fail(self):
        raise OSError("device not ready")

    monkeypatch.setattr(Path, "read_bytes", fail)
    assert links_problems(Path("x.toml"), s) == ["x.toml:(file): file: device not ready"]


def test_shipped_links_load_against_the_default_scenario():
    root = Path(__file__).parents[1]
    s = load_scenario(root / "priors" / "israel_russia.toml")
    lk = load_links(links_path("israel_russia", root), s)
    strike = lk.link("x:1", "Israel strikes Iran before 2026?", ("israel_iran", "israel_other"))
    assert (strike.factor, strike.sign) == ("iran_hostility", 1.0)
    deal = lk.link("x:2", "US-Iran nuclear deal in 2025?", ("iran_nuclear", "israel_iran"))
    assert (deal.factor, deal.sign) == ("iran_hostility", -1.0)


def test_links_path():
    assert links_path("abc", "/r") == Path("/r/priors/questions/abc.toml")
    assert links_path("abc") == Path(os.curdir) / "priors" / "questions" / "abc.toml"


def test_subset_keeps_the_given_questions_and_their_crowd(tmp_path):
    q2 = "n,2,Won't it?,conflict,2022-01-01,2022-06-01,2022-06-01,0,2022-06-01"
    q3 = "o,3,Or?,conflict,2022-01-01,2022-06-01,2022-06-01,0,2022-06-01"
    q, c = write(
        tmp_path,
        [Q1, q2, q3],
        ["m,1,2022-02-01,0.2", "n,2,2022-02-01,0.3", "o,3,2022-02-01,0.4", "o,3,2022-02-02,0.5"],
    )
    sub = load_questions(q, c).subset(iter(["o:3", "m:1"]))
    assert list(sub.questions["key"]) == ["m:1", "o:3"]
    assert list(sub.questions.index) == [0, 1]
    assert list(sub.questions.columns) == list(load_questions(q, c).questions.columns)
    assert list(sub.crowd.columns) == ["key", "date", "p"]
    assert list(sub.crowd["key"]) == ["m:1", "o:3", "o:3"]
    assert list(sub.crowd["p"]) == [0.2, 0.4, 0.5]
    assert list(sub.crowd.index) == [0, 1, 2]


def test_old_mac_line_ends_and_a_malformed_header(tmp_path):
    q, c = write(tmp_path, [Q1], [])
    c.write_bytes(f"{HEADER_C}\rm,1,2022-02-01,0.2\r\rm,1,2022-02-02,x\r".encode())
    assert problems(q, c) == ["c.csv:4: prob_yes: must be a probability in [0, 1], got 'x'"]
    q.write_text('platform,"id,title\nm,1,T\n')
    c.write_text(f"{HEADER_C}\nm,1,2022-02-01,0.2\n")
    (msg,) = problems(q, c)  # and no crowd row is checked against it
    assert msg.startswith("q.csv:1: (row): malformed CSV: ")
