"""Question and crowd files: parsing, the crowd value at an origin, and located errors; question
links: explicit links win over rules, topics, unrelated questions, checks against the scenario."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.errors import InputError
from forecast.links import OTHER_TOPIC, links_path, load_links
from forecast.questions import load_questions
from forecast.scenario import load_scenario

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "questions"
MINI = Path(__file__).parent / "fixtures" / "mini"
HEADER_Q = "platform,id,title,topic_tags,open_date,close_date,resolve_date,resolution,lead_ref_date"
HEADER_C = "platform,id,date,prob_yes"


def write(tmp_path: Path, questions: list[str], crowd: list[str]) -> tuple[Path, Path]:
    q, c = tmp_path / "q.csv", tmp_path / "c.csv"
    q.write_text("\n".join([HEADER_Q, *questions]) + "\n")
    c.write_text("\n".join([HEADER_C, *crowd]) + "\n")
    return q, c


def test_dev_questions_load():
    qs = load_questions(SHARED / "questions_dev.csv", SHARED / "crowd_series_dev.csv")
    assert len(qs.questions) == 192
    assert qs.questions["resolution"].isin([0.0, 1.0]).all()
    assert (qs.questions["resolved"] >= qs.questions["reference"]).all()
    assert qs.crowd["p"].between(0, 1).all()


def test_crowd_at_takes_the_last_point_on_or_before_the_origin(tmp_path):
    q, c = write(
        tmp_path,
        ["m,1,Will it?,conflict,2022-01-01,2022-06-01,2022-06-01,1,2022-06-01"],
        ["m,1,2022-02-01,0.2", "m,1,2022-03-01T12:00:00Z,0.4", "m,1,2022-04-01,0.9"],
    )
    qs = load_questions(q, c)
    assert (
        qs.crowd_at("m:1", pd.Timestamp("2022-01-31"))[0]
        != qs.crowd_at("m:1", pd.Timestamp("2022-02-01"))[0]
    )
    assert qs.crowd_at("m:1", pd.Timestamp("2022-03-01")) == (0.4, pd.Timestamp("2022-03-01"))
    assert qs.crowd_at("m:1", pd.Timestamp("2022-03-31"))[0] == 0.4
    assert qs.crowd_at("m:2", pd.Timestamp("2022-03-31"))[1] is None


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
    ],
)
def test_bad_rows_are_located(tmp_path, question, crowd, where):
    q, c = write(tmp_path, [question], [crowd])
    with pytest.raises(InputError) as exc:
        load_questions(q, c)
    assert [str(p)[: len(where)] for p in exc.value.problems] == [where], exc.value.problems


def test_duplicate_questions_and_missing_columns(tmp_path):
    q, c = write(
        tmp_path, ["m,1,T,x,,,2022-06-01,1,", "m,1,T,x,,,2022-06-01,0,"], ["m,1,2022-02-01,0.2"]
    )
    with pytest.raises(InputError, match=r"q.csv:3: id: duplicate question m:1 \(row 2\)"):
        load_questions(q, c)
    (tmp_path / "c.csv").write_text("platform,id,when\n")
    with pytest.raises(InputError, match=r"c\.csv:1: prob_yes: required column is missing"):
        load_questions(q, tmp_path / "c.csv")


@pytest.fixture(scope="module")
def mini_links():
    s = load_scenario(MINI / "priors" / "mini.toml")
    return load_links(links_path("mini", MINI), s)


def test_links_explicit_rule_topic_unrelated(mini_links):
    lk = mini_links
    assert lk.link("test:explicit", "Will there be an attack?", ("conflict",)).sign == -1.0
    rule = lk.link("m:1", "Will there be an ATTACK?", ("conflict",))
    assert (rule.factor, rule.sign, rule.why) == ("tension", 1.0, "rule 1")
    assert lk.link("m:2", "Will there be an attack?", ("diplomacy",)).why == "topic"
    assert lk.link("m:3", "Will it rain?", ("weather",)).why == "unrelated"


def test_topic_weights_share_known_tags_and_fall_back_to_other(mini_links):
    names = mini_links.topics
    assert names[-1] == OTHER_TOPIC
    w = dict(zip(names, mini_links.topic_weights(("conflict", "diplomacy", "x")), strict=True))
    assert w == {"conflict": 0.5, "diplomacy": 0.5, OTHER_TOPIC: 0.0}
    assert dict(zip(names, mini_links.topic_weights(("x",)), strict=True))[OTHER_TOPIC] == 1.0


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
    with pytest.raises(InputError, match=r"rules\[1\]: factor: unknown factor 'apetite'"):
        load_links(bad, s)


def test_shipped_links_load_against_the_default_scenario():
    root = Path(__file__).parents[1]
    s = load_scenario(root / "priors" / "israel_russia.toml")
    lk = load_links(links_path("israel_russia", root), s)
    strike = lk.link("x:1", "Israel strikes Iran before 2026?", ("israel_iran", "israel_other"))
    assert (strike.factor, strike.sign) == ("iran_hostility", 1.0)
    deal = lk.link("x:2", "US-Iran nuclear deal in 2025?", ("iran_nuclear", "israel_iran"))
    assert (deal.factor, deal.sign) == ("iran_hostility", -1.0)
