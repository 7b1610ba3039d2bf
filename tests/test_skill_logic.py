"""The backtest's planning and scoring logic on tiny synthetic tables, without MCMC.

Each leakage rule is pinned on both sides of its cut-off (a row one day earlier is used, a row on
the cut-off day's other side is not), so moving a cut-off by a day fails a test:

- scenario evidence: dated up to the day before the origin's month begins;
- count evidence: only if its whole counting period ended by that day;
- calibration training and base rates: questions whose outcome was known (``resolved``, the later
  of the resolution and reference dates) before the origin's month began;
- the crowd: its last value on or before the origin day, and at most ``max_crowd_age`` days old;
- origins: calendar days from the day a question opened to the day before it ended, leads counted
  back from the scheduled close, never from the day its event happened;
- the scenario: its fits only at origin months that begin after its vintage date.

The fitting functions are exercised with their samplers replaced by fakes that record what they
were given.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sim import DIAG, MINI_ROOT, QUICK

from forecast.data.evidence import Evidence, load_evidence
from forecast.data.questions import Questions, load_questions
from forecast.inference.sampling import SamplerSettings
from forecast.skill import backtest
from forecast.skill.backtest import (
    BacktestSettings,
    ScenarioAt,
    _base_rate,
    calibrate_month,
    calibration_split,
    evidence_cutoff,
    extremized,
    known_evidence,
    row_flags,
    run_backtest,
    scenario_at,
    scenario_months,
    scenario_safe,
    seeded,
)
from forecast.skill.calibration import Calibrated, arrays, predict
from forecast.skill.origins import plan, question_origins
from forecast.skill.scoring import (
    MDD_Z,
    brier,
    clustered_difference,
    log_loss,
    minimum_detectable_difference,
    reliability,
    score_set,
)

MARCH = pd.Period("2023-03", "M")
ts = pd.Timestamp


def evidence(rows: list[tuple]) -> Evidence:
    """Evidence of ``(date, kind, exposure_days[, published])`` rows (only what ``Evidence.until``
    reads); a ``YYYY-MM`` date gives only the month."""
    frame = pd.DataFrame(
        [
            {
                "row": i + 2,
                "date": ts(r[0]),
                "day_known": len(r[0]) == 10,
                "kind": r[1],
                "exposure_days": r[2],
                "published": ts(r[3]) if len(r) > 3 else pd.NaT,
            }
            for i, r in enumerate(rows)
        ]
    )
    return Evidence(frame=frame, files=())


def question(
    key, resolved, y=1.0, *, reference=None, close=None, opened="2022-01-01", title="Will it?",
    tags=("weather",),
):  # fmt: skip
    """A question row as ``load_questions`` makes it: closes (as scheduled) on ``close``, else on
    its reference day; ends at the earlier of the two."""
    resolved = ts(resolved)
    reference = ts(reference) if reference else resolved
    close = ts(close) if close else reference
    return {
        "key": key,
        "title": title,
        "tags": tuple(tags),
        "open": ts(opened),
        "close": close,
        "reference": reference,
        "end": min(close, reference),
        "resolved": resolved,
        "resolution": float(y),
    }


def questions(rows: list[dict], crowd: list[tuple[str, str, float]] = ()) -> Questions:
    c = pd.DataFrame(list(crowd), columns=["key", "date", "p"])
    return Questions(pd.DataFrame(rows), c.assign(date=pd.to_datetime(c["date"])))


# --- scenario evidence -------------------------------------------------------------------------


def test_evidence_cutoff_is_the_day_before_the_origin_month_begins():
    assert evidence_cutoff(MARCH) == date(2023, 2, 28)
    assert evidence_cutoff(pd.Period("2024-03", "M")) == date(2024, 2, 29)
    assert evidence_cutoff(pd.Period("2023-01", "M")) == date(2022, 12, 31)


def test_scenario_evidence_is_dated_before_the_origin_month():
    ev = evidence(
        [
            ("2023-02-27", "event", None),
            ("2023-02-28", "event", None),  # the cut-off day: known
            ("2023-03-01", "event", None),  # the month's first day: not yet
            ("2023-03-02", "indicator", None),
        ]
    )
    kept = known_evidence(ev, MARCH).frame
    assert list(kept["date"]) == [ts("2023-02-27"), ts("2023-02-28")]
    assert list(kept["row"]) == [2, 3]


def test_count_evidence_needs_its_whole_period_before_the_cutoff():
    ev = evidence(
        [
            ("2023-02-01", "count", 28.0),  # Feb 1..28: ends on the cut-off day
            ("2023-02-02", "count", 28.0),  # Feb 2..Mar 1: one day too long
            ("2023-01-20", "count", 40.0),  # Jan 20..Feb 28
            ("2023-01-20", "count", 41.0),  # Jan 20..Mar 1
            ("2023-02-28", "count", 1.0),  # the cut-off day alone
            ("2023-02-28", "count", 2.0),  # Feb 28..Mar 1
            ("2023-02-10", "count", None),  # no exposure: to the end of its month, Feb 28
            ("2023-01-31", "count", None),  # to Jan 31
            ("2023-02-28", "event", 5.0),  # exposure only matters for counts
        ]
    )
    kept = known_evidence(ev, MARCH).frame
    assert list(kept["row"]) == [2, 4, 6, 8, 9, 10]
    feb = known_evidence(ev, pd.Period("2023-02", "M")).frame
    assert list(feb["row"]) == [9]  # Jan 31 alone; Jan 20 + 40 days runs into February


def test_a_row_is_known_when_it_became_public():
    ev = evidence(
        [
            ("2023-01-10", "indicator", None, "2023-02-28"),  # public on the cut-off day: known
            ("2023-01-10", "indicator", None, "2023-03-01"),  # public a day later: not
            ("2023-02", "indicator", None),  # a month's figure: known when the month is over
            ("2023-03", "indicator", None),
            ("2023-02-20", "event", None),
            ("2023-01-20", "count", 40.0, "2023-02-28"),  # Jan 20..Feb 28, public on Feb 28
            ("2023-01-20", "count", 30.0, "2023-03-01"),  # period over, not public yet
            ("2023-02-01", "count", 28.0, "2023-02-10"),  # "public" mid-period: its period rules
        ]
    )
    assert list(known_evidence(ev, MARCH).frame["row"]) == [2, 4, 6, 7, 9]
    at = ev.public_on()
    assert list(at) == [
        ts("2023-02-28"), ts("2023-03-01"), ts("2023-02-28"), ts("2023-03-31"),
        ts("2023-02-20"), ts("2023-02-28"), ts("2023-03-01"), ts("2023-02-28"),
    ]  # fmt: skip
    # the month's figure is not known on its month's last-but-one day
    assert 4 not in list(ev.until(date(2023, 2, 27)).frame["row"])
    assert 4 in list(ev.until(date(2023, 2, 28)).frame["row"])


def fake_fit(scenario, seen):
    """A ``sample`` replacement whose posterior ``f[factor, month]`` is ``1000 * factor + month``
    plus draw offsets 0, 1, 5 (mean 2, median 1)."""

    def sample(model, settings):
        seen.update(model=model, settings=settings)
        n_f, n_m = len(scenario.factors), seen["n_months"]
        f = 1000.0 * np.arange(n_f)[:, None] + np.arange(n_m)[None, :]
        draws = f[None, None] + np.array([0.0, 1.0, 5.0])[None, :, None, None]
        values = np.repeat(draws, 2, axis=0)  # (chain, draw, factor, month)
        post = xr.Dataset({"f": (("chain", "draw", "factor", "month"), values)})
        return SimpleNamespace(idata=xr.DataTree.from_dict({"posterior": post}), diagnostics=DIAG)

    return sample


def test_scenario_at_fits_the_known_evidence_and_reads_the_origin_month(scenario, monkeypatch):
    ev = load_evidence(MINI_ROOT / "data" / "mini", scenario)
    seen: dict = {}

    def design(s, e, *, n_months, fc_sources, centre_through):
        seen.update(
            scenario=s, evidence=e, n_months=n_months, sources=fc_sources, centre=centre_through
        )
        return "design"

    def model(s, d):
        assert (s, d) == (scenario, "design")
        return "model"

    monkeypatch.setattr(backtest, "build_design", design)
    monkeypatch.setattr(backtest, "build_model", model)
    monkeypatch.setattr(backtest, "sample", fake_fit(scenario, seen))
    inputs = SimpleNamespace(scenario=scenario, evidence=ev)
    at = scenario_at(inputs, MARCH, QUICK)
    levels, info = at.levels, at.info
    assert at.probabilities == {}
    t = scenario.month_index(date(2023, 3, 1))
    assert t == 14
    assert levels == {"tension": t + 2.0, "appetite": 1000.0 + t + 2.0}
    known = known_evidence(ev, MARCH).frame
    assert 0 < len(known) < len(ev.frame)
    pd.testing.assert_frame_equal(seen["evidence"].frame, known)
    assert seen["n_months"] == 36  # 2022-01 .. 2024-12: the whole span, one compiled model
    assert seen["centre"] == t  # indicator levels centred on the months known at the origin
    assert seen["sources"] == ["crowd"]
    assert seen["model"] == "model" and seen["settings"] == QUICK
    assert seen["scenario"] is scenario
    # forecast sources come from the whole log (one model structure for every month)
    early = scenario_at(inputs, pd.Period("2022-05", "M"), QUICK).info
    assert early["rows"] == 3 and seen["sources"] == ["crowd"]
    assert info == {
        "fit": "scenario",
        "month": "2023-03",
        "rows": len(known),
        "converged": True,
        "max_rhat": 1.001,
        "min_ess_bulk": 900.0,
        "divergences": 0,
    }


def test_calibrate_month_passes_its_rows_through(links, monkeypatch):
    got = {}

    def calibrate(train, test, lk, settings):
        got.update(train=train, test=test, links=lk, settings=settings)
        return Calibrated(np.array([0.3, 0.6]), DIAG, 7, (0.2, -0.1, 0.5), (0.3, 0.1, 0.6))

    monkeypatch.setattr(backtest, "calibrate", calibrate)
    train, test = pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2, 3]})
    p, info = calibrate_month(MARCH, train, test, links, QUICK)
    assert list(p) == [0.3, 0.6]
    assert got["train"] is train and got["test"] is test and got["settings"] == QUICK
    assert got["links"] is links
    assert (info["fit"], info["month"], info["rows"]) == ("calibration", "2023-03", 7)
    factor = [info[f"factor_weight_{k}"] for k in ("mean", "lower", "upper")]
    pooled = [info[f"scenario_weight_{k}"] for k in ("mean", "lower", "upper")]
    assert (factor, pooled) == ([0.2, -0.1, 0.5], [0.3, 0.1, 0.6])


# --- origins, crowd at the origin, calibration training, base rates ----------------------------


def test_calendar_origins_run_from_the_open_day_to_the_day_before_the_end():
    found = question_origins(ts("2023-01-15"), ts("2023-03-15"), pd.NaT, (7,), (1, 15))
    assert [o for *_, o in found] == [
        ts("2023-01-15"),  # the open day itself
        ts("2023-02-01"),
        ts("2023-02-15"),
        ts("2023-03-01"),  # not Mar 15: the question ended then
    ]
    assert {k for k, *_ in found} == {"calendar"}  # no close: no lead origins
    assert all(np.isnan(lead) for _, lead, _ in found)
    later = question_origins(ts("2023-01-16"), ts("2023-03-16"), pd.NaT, (), (1, 15))
    assert [o for *_, o in later] == [
        ts("2023-02-01"), ts("2023-02-15"), ts("2023-03-01"), ts("2023-03-15")
    ]  # fmt: skip
    assert question_origins(None, ts("2023-03-16"), pd.NaT, (), (1,)) == []  # never opened
    assert question_origins(ts("2023-03-16"), ts("2023-03-16"), pd.NaT, (), (16,)) == []
    assert [
        o for *_, o in question_origins(ts("2023-01-31"), ts("2023-02-28"), pd.NaT, (), (31,))
    ] == [ts("2023-01-31")]  # fmt: skip  (day 31 of February is March 3: after the end)


def test_lead_origins_count_back_from_the_scheduled_close_while_the_question_is_open():
    close = ts("2023-04-30")
    # resolved on schedule: both leads
    on_time = question_origins(ts("2023-01-01"), close, close, (7, 30), ())
    assert on_time == [("lead", 7.0, ts("2023-04-23")), ("lead", 30.0, ts("2023-03-31"))]
    # the event happened on Apr 23: the 7-day origin is the end day, the question was no longer
    # open; the origin is never moved to "7 days before the event"
    early = question_origins(ts("2023-01-01"), ts("2023-04-23"), close, (7, 30), ())
    assert early == [("lead", 30.0, ts("2023-03-31"))]
    late = question_origins(ts("2023-01-01"), ts("2023-04-24"), close, (7, 30), ())
    assert [o for *_, o in late] == [ts("2023-04-23"), ts("2023-03-31")]
    # an origin before the question opened is no origin
    assert question_origins(ts("2023-04-01"), close, close, (7, 30), ()) == [
        ("lead", 7.0, ts("2023-04-23"))
    ]
    assert len(question_origins(ts("2023-03-31"), close, close, (7, 30), ())) == 2
    assert len(question_origins(None, close, close, (7, 30), ())) == 2  # opening day unknown


def test_plan_takes_the_crowd_at_the_origin_if_fresh(links):
    qs = questions(
        [question("t:q", "2023-04-20", close="2023-03-20", title="Will they attack?")],
        [
            ("t:q", "2023-03-12", 0.30),
            ("t:q", "2023-03-13", 0.40),  # the 7-day origin itself: known
            ("t:q", "2023-03-14", 0.90),  # a day after: not
            ("t:q", "2023-01-19", 0.10),  # 30 days before the 30-day origin (Feb 18): fresh
            ("t:q", "2023-02-19", 0.20),  # a day after the 30-day origin
        ],
    )
    rows = plan(qs, links, (7, 30), calendar_days=()).set_index("lead")
    assert list(rows["kind"]) == ["lead", "lead"]
    assert list(rows["origin"]) == [ts("2023-03-13"), ts("2023-02-18")]
    assert list(rows["month"]) == [MARCH, pd.Period("2023-02", "M")]
    assert list(rows["crowd"]) == [0.40, 0.10]
    assert list(rows["crowd_date"]) == [ts("2023-03-13"), ts("2023-01-19")]
    assert list(rows["crowd_age"]) == [0, 30]
    assert list(rows["horizon"]) == [7, 30] and list(rows["platform"]) == ["t", "t"]
    assert list(rows["resolved"]) == [ts("2023-04-20")] * 2
    assert list(rows["y"]) == [1.0, 1.0]
    assert list(rows["weight"]) == [0.5, 0.5]
    r = rows.loc[7]
    assert (r["key"], r["title"]) == ("t:q", "Will they attack?")
    assert (r["link"], r["factor"], r["sign"]) == ("unrelated", None, 0.0)  # no topic "weather"
    assert r["topics"] == [0.0, 0.0, 1.0]
    # a day older than the limit: no crowd forecast, its date and age kept
    stale = plan(qs, links, (30,), calendar_days=(), max_crowd_age=29).iloc[0]
    assert np.isnan(stale["crowd"]) and stale["crowd_age"] == 30
    assert stale["crowd_date"] == ts("2023-01-19")


def test_plan_calendar_rows_weigh_each_question_once(links):
    qs = questions(
        [
            question("t:a", "2023-03-20", opened="2023-02-10", close="2023-03-20"),
            question("t:b", "2023-03-20", opened="2023-03-10", y=0.0),
        ],
        [("t:b", "2023-03-01", 0.2)],
    )
    rows = plan(qs, links, (7,), calendar_days=(1, 15))
    a = rows[rows["key"] == "t:a"]
    assert list(a["kind"]) == ["calendar"] * 3 + ["lead"]
    assert list(a["origin"]) == [
        ts(d) for d in ("2023-02-15", "2023-03-01", "2023-03-15", "2023-03-13")
    ]
    assert a["weight"].tolist() == [0.25] * 4
    b = rows[rows["key"] == "t:b"]
    assert list(b["origin"]) == [ts("2023-03-15"), ts("2023-03-13")]
    assert list(b["crowd"]) == [0.2, 0.2] and b["weight"].tolist() == [0.5, 0.5]
    # a question with no open date opens with its first crowd point
    c = questions([question("t:c", "2023-03-20", opened=None)], [("t:c", "2023-03-02", 0.4)])
    got = plan(c, links, (), calendar_days=(1, 15))
    assert list(got["origin"]) == [ts("2023-03-15")]


def test_plan_links_and_weights(links):
    qs = questions(
        [
            question("t:a", "2023-03-20", title="An attack?", tags=("conflict",)),
            question("t:b", "2023-03-20", y=np.nan),  # unresolved: not planned
            question("t:c", "2023-03-20", y=0.0, title="A deal?", tags=("diplomacy", "x")),
            question("test:explicit", "2023-03-20", title="An attack?", tags=("conflict",)),
        ]
    )
    rows = plan(qs, links, (7,), calendar_days=())
    assert list(rows["key"]) == ["t:a", "t:c", "test:explicit"]
    assert list(rows["link"]) == ["rule 1", "rule 2", "question"]
    assert list(rows["factor"]) == ["tension", "appetite", "tension"]
    assert list(rows["sign"]) == [1.0, 1.0, -1.0]
    assert list(rows["weight"]) == [1.0, 1.0, 1.0]
    assert list(rows["y"]) == [1.0, 0.0, 1.0]
    assert rows["crowd"].isna().all() and rows["crowd_date"].isna().all()
    assert rows["crowd_age"].isna().all()
    assert list(rows["topics"]) == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_crowd_at_never_takes_a_point_after_the_origin():
    qs = questions(
        [question("t:q", "2023-04-01")],
        [("t:q", "2023-03-14", 0.9), ("t:q", "2023-03-13", 0.4), ("t:q", "2023-03-12", 0.3)],
    )  # listed newest first: the answer may not depend on the frame's order
    assert qs.crowd_at("t:q", ts("2023-03-13")) == (0.4, ts("2023-03-13"))
    assert qs.crowd_at("t:q", ts("2023-03-12")) == (0.3, ts("2023-03-12"))
    assert qs.crowd_at("t:q", ts("2023-03-11"))[1] is None
    assert np.isnan(qs.crowd_at("t:q", ts("2023-03-11"))[0])
    assert qs.crowd_at("t:q", ts("2024-01-01"))[0] == 0.9
    assert qs.crowd_at("t:other", ts("2024-01-01"))[1] is None


LATE_QUESTIONS = "\n".join(
    [
        "platform,id,title,topic_tags,open_date,close_date,resolve_date,resolution,lead_ref_date",
        "t,early,Will it?,weather,2022-01-01,2023-02-28,2023-02-28,1,",
        "t,onstart,Will it?,weather,2022-01-01,2023-03-01,2023-03-01,1,",
        # leads count from Jan 15, but the outcome was known only on Apr 10 (the dev files have
        # 39 such questions, up to 214 days late)
        "t,late,Will it?,weather,2022-01-01,2023-01-15,2023-04-10,1,2023-01-15",
        "t,no1,Will it?,weather,2022-01-01,2023-01-10,2023-01-10,0,",
        "t,no2,Will it?,weather,2022-01-01,2022-12-01,2022-12-01,0,",
        "t,target,Will it?,weather,2022-01-01,2023-03-20,2023-03-20,1,",
    ]
)


@pytest.fixture
def late_rows(tmp_path, links) -> pd.DataFrame:
    q, c = tmp_path / "q.csv", tmp_path / "c.csv"
    q.write_text(LATE_QUESTIONS + "\n")
    c.write_text("platform,id,date,prob_yes\n")
    return plan(load_questions(q, c), links, (7, 30), calendar_days=())


def test_a_late_resolution_is_not_training_data_before_it_is_known(late_rows):
    late = late_rows[late_rows["key"] == "t:late"]
    assert set(late["origin"]) == {ts("2023-01-08"), ts("2022-12-16")}  # from the reference
    assert set(late["resolved"]) == {ts("2023-04-10")}
    train, test = calibration_split(late_rows, MARCH)
    assert set(train["key"]) == {"t:early", "t:no1", "t:no2"}  # not onstart, not late
    assert len(train) == 6  # both leads of each
    assert list(test["key"]) == ["t:target"] and list(test["lead"]) == [7]  # origins in March
    assert list(test["origin"]) == [ts("2023-03-13")]
    train_may, _ = calibration_split(late_rows, pd.Period("2023-05", "M"))
    assert "t:late" in set(train_may["key"])
    train_april, _ = calibration_split(late_rows, pd.Period("2023-04", "M"))
    assert "t:late" not in set(train_april["key"])  # known on Apr 10, not before Apr 1


def test_base_rate_counts_questions_known_before_the_origin_month_once(late_rows):
    start = MARCH.start_time
    # early (yes), no1, no2 (no): late and onstart are not yet known; each question once
    assert _base_rate(late_rows, start) == pytest.approx((1 + 1) / (3 + 2))
    assert _base_rate(late_rows, ts("2023-03-02")) == pytest.approx((2 + 1) / (4 + 2))
    assert _base_rate(late_rows, ts("2022-12-01")) == pytest.approx(0.5)  # nothing known yet
    assert _base_rate(late_rows, ts("2022-12-02")) == pytest.approx(1 / 3)  # no2


def fake_calibrate(calls):
    """A ``calibrate`` replacement: the forecast of a test row is 0.1 + 0.01 * (training rows),
    the factor weight's summary is (training rows, -1, 1), the scenario weight's (0.2, 0, 0.5)."""

    def calibrate(train, test, links, settings):
        calls.append((train.copy(), test.copy(), settings))
        p = np.full(len(test), 0.1 + 0.01 * len(train))
        return Calibrated(p, DIAG, len(train), (float(len(train)), -1.0, 1.0), (0.2, 0.0, 0.5))

    return calibrate


def test_run_backtest_plans_fits_and_baselines_without_leakage(
    scenario, late_rows, links, monkeypatch
):
    """The whole run with both samplers replaced: what each fit gets, and what it produces."""
    calls: list = []
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate(calls))
    fitted: list = []

    def levels(inputs, month, settings, asked=None, crowd=None):
        fitted.append((month, settings.seed))
        return ScenarioAt(
            {"tension": month.ordinal / 100, "appetite": -1.0}, {}, {"fit": "scenario"}
        )

    monkeypatch.setattr(backtest, "scenario_at", levels)
    q = questions(
        [
            question("t:early", "2023-02-28", 1.0, title="An attack?", tags=("conflict",)),
            question("t:first", "2023-03-01", 0.0),  # resolved on a month's first day
            question("t:late", "2023-04-10", 0.0, reference="2023-03-15", tags=("diplomacy",)),
            question("t:target", "2023-03-20", 1.0, title="A strike?", tags=("conflict",)),
            question("t:out", "2026-03-20", 1.0, title="A strike?", tags=("conflict",)),
        ],
        [("t:target", "2023-03-13", 0.4), ("t:early", "2023-02-21", 0.9)],
    )
    inputs = SimpleNamespace(scenario=scenario)
    settings = BacktestSettings(leads=(7,), calendar_days=(), seed=3, bootstrap=50)
    bt = run_backtest(q, inputs, links, settings)
    f = bt.forecasts.set_index("key")
    # one scenario fit per month of a linked question inside the scenario's span
    assert [m for m, _ in fitted] == [pd.Period("2023-02", "M"), MARCH]
    assert fitted[1][1] == seeded(settings.scenario, 3, MARCH).seed
    # one calibration fit per origin month, training on questions known before it began
    months = {str(test["month"].iloc[0]): (train, test) for train, test, _ in calls}
    assert set(months) == {"2023-02", "2023-03", "2026-03"}
    assert set(months["2023-03"][0]["key"]) == {"t:early"}  # not t:late (known Apr 10)
    assert set(months["2023-03"][1]["key"]) == {"t:target", "t:late"}
    assert len(months["2023-02"][0]) == 0
    assert set(months["2023-02"][1]["key"]) == {"t:early", "t:first"}
    assert set(months["2026-03"][0]["key"]) == {"t:early", "t:first", "t:late", "t:target"}
    assert calls[0][2].seed == seeded(settings.calibration, 3, calls[0][1]["month"].iloc[0]).seed
    cal = f["calibrated"]
    assert cal["t:target"] == pytest.approx(0.11) and f.loc["t:target", "n_train"] == 1
    assert cal["t:early"] == pytest.approx(0.10) and f.loc["t:early", "n_train"] == 0
    assert cal["t:out"] == pytest.approx(0.14) and f.loc["t:out", "n_train"] == 4
    # the model: the calibration stacked with the extremized crowd where there is a crowd
    assert f.loc["t:early", "stack_weight"] == 0.5  # no question known before February
    w = f.loc["t:target", "stack_weight"]  # learned from t:early, known before March
    assert w < 0.5  # t:early's extremized crowd (0.9 -> 0.96) beat its calibration (0.10)
    assert f.loc["t:target", "model"] == pytest.approx(
        w * 0.11 + (1 - w) * f.loc["t:target", "extremized"]
    )
    assert f.loc["t:late", "model"] == cal["t:late"]  # no crowd: the calibration alone
    # factor levels of the origin month, signed
    assert f.loc["t:target", "factor_level"] == pytest.approx(MARCH.ordinal / 100)
    assert f.loc["t:target", "factor_x"] == pytest.approx(MARCH.ordinal / 100)
    assert pd.isna(f.loc["t:late", "factor"]) and np.isnan(f.loc["t:late", "factor_level"])
    assert np.isnan(f.loc["t:out", "factor_level"])
    assert "origin outside the scenario's span" in f.loc["t:out", "flag"]
    # the fixed extremized crowd and the baselines
    assert f.loc["t:target", "extremized"] == pytest.approx(1 / (1 + (0.6 / 0.4) ** 1.5))
    assert np.isnan(f.loc["t:late", "extremized"])
    assert f.loc["t:early", "base_rate"] == pytest.approx(0.5)
    assert f.loc["t:target", "base_rate"] == pytest.approx(2 / 3)  # not t:first (Mar 1)
    assert f.loc["t:first", "base_rate"] == pytest.approx(0.5)
    assert f.loc["t:out", "base_rate"] == pytest.approx((2 + 1) / (4 + 2))
    assert (f["half"] == 0.5).all()
    assert "no crowd forecast" in f.loc["t:late", "flag"]
    assert f.loc["t:target", "flag"] == ""
    assert list(bt.forecasts.columns) == [
        *("key", "title", "kind", "lead", "origin", "month", "resolved", "y", "crowd"),
        *("crowd_date", "crowd_age", "horizon", "platform", "link", "factor", "sign"),
        *("target", "target_sign", "window_end", "target_link"),
        *("factor_level", "factor_x", "scenario", "scenario_lower", "scenario_upper"),
        *("calibrated", "n_train", "extremized", "stack_weight"),
        *("model", "base_rate", "half", "flag"),
    ]
    assert list(f["platform"]) == ["t"] * 5 and list(f["horizon"]) == [7.0] * 5
    assert bt.forecasts["n_train"].dtype.kind == "i"
    # scores and reliability on the rows with a crowd forecast
    sc = bt.scores[7]
    assert (sc["n"], sc["n_all"]) == (2, 5)
    assert sc["crowd_brier"] == pytest.approx(((0.4 - 1) ** 2 + (0.9 - 1) ** 2) / 2)
    # the weight on the scenario's factor: from the last month's calibration fit (4 training
    # rows); no question asked about a target, so no weight on the scenario's own probability
    assert sc["factor_weight"] == {"mean": 4.0, "lower": -1.0, "upper": 1.0}
    assert sc["scenario_weight"] is None
    assert sc["stack_weight"]["mean"] == f.loc["t:out", "stack_weight"]  # the last month's
    assert bt.calendar["n"] == 0 and bt.calendar["factor_weight"] is None
    assert set(bt.reliability["forecaster"]) == {"model", "crowd", "extremized"}
    assert set(bt.reliability["origins"]) == {"7 days", "calendar"}
    lead7 = bt.reliability[bt.reliability["origins"] == "7 days"]
    assert lead7.groupby("forecaster")["n"].sum().to_dict() == {
        "crowd": 2, "extremized": 2, "model": 2
    }  # fmt: skip
    assert list(bt.fits["fit"]) == ["scenario"] * 2 + ["calibration"] * 3
    assert list(bt.fits["factor_weight_mean"].dropna()) == [0.0, 1.0, 4.0]
    # without factors: no scenario fit at all, and no weight to report
    fitted.clear()
    bt = run_backtest(q, inputs, links, replace(settings, use_factors=False))
    assert fitted == [] and bt.forecasts["factor_level"].isna().all()
    assert "outside the scenario's span" not in bt.forecasts.set_index("key").loc["t:out", "flag"]
    assert bt.scores[7]["factor_weight"] is None


def test_calendar_origins_are_scored_as_a_time_average_per_question(links, monkeypatch):
    calls: list = []
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate(calls))
    q = questions(
        [
            question("t:a", "2023-03-20", 1.0, opened="2023-02-10"),  # Feb 15, Mar 1, Mar 15
            question("t:b", "2023-03-10", 0.0, opened="2023-02-20"),  # Mar 1
            question("t:c", "2023-03-31", 0.0, opened="2023-03-20"),  # no calendar day open
        ],
        [("t:a", "2023-02-14", 0.6), ("t:a", "2023-03-14", 0.8), ("t:b", "2023-02-20", 0.1)],
    )
    settings = BacktestSettings(leads=(), bootstrap=50, use_factors=False)
    bt = run_backtest(q, None, links, settings)
    f = bt.forecasts
    assert list(f["key"]) == ["t:a"] * 3 + ["t:b"] and set(f["kind"]) == {"calendar"}
    assert list(f["crowd"]) == [0.6, 0.6, 0.8, 0.1]
    assert bt.scores == {}
    cal = bt.calendar
    assert (cal["n"], cal["n_forecasts"], cal["n_all"]) == (2, 4, 2)
    a = np.mean([(0.6 - 1) ** 2, (0.6 - 1) ** 2, (0.8 - 1) ** 2])
    assert cal["crowd_brier"] == pytest.approx((a + 0.1**2) / 2)
    assert cal["mdd_brier"] > 0
    assert set(bt.reliability["origins"]) == {"calendar"}
    # the February fit trains on nothing, March's on nothing resolved before March 1
    assert [len(train) for train, _, _ in calls] == [0, 0]
    assert bt.summary()["calendar"] is cal and bt.summary()["leads"] == {}
    one = run_backtest(q.subset(["t:a"]), None, links, settings).calendar
    assert one["n"] == 1 and one["mdd_brier"] is None and one["mdd_log"] is None


def test_a_scenario_with_hindsight_is_kept_out_unless_asked(scenario, links, monkeypatch):
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate([]))
    fitted: list = []

    def levels(inputs, month, settings, asked=None, crowd=None):
        fitted.append(month)
        return ScenarioAt({"tension": 1.0}, {}, {"fit": "scenario"})

    monkeypatch.setattr(backtest, "scenario_at", levels)
    q = questions([question("t:a", "2023-03-20", 1.0, title="An attack?", tags=("conflict",))])
    late = scenario.model_copy(
        update={"vintage": scenario.vintage.model_copy(update={"as_of": date(2023, 3, 1)})}
    )
    inputs = SimpleNamespace(scenario=late)
    settings = BacktestSettings(leads=(7,), calendar_days=(), bootstrap=20)
    kept_out = run_backtest(q, inputs, links, settings).forecasts.iloc[0]
    assert fitted == [] and np.isnan(kept_out["factor_level"])
    assert "scenario written with data after the origin: no factor information" in kept_out["flag"]
    used = run_backtest(q, inputs, links, replace(settings, hindsight=True)).forecasts.iloc[0]
    assert fitted == [MARCH] and used["factor_level"] == 1.0
    assert "scenario written with data after the origin (--hindsight)" in used["flag"]


def test_scenario_is_safe_from_the_month_after_its_vintage(scenario):
    def at(as_of):
        v = None if as_of is None else scenario.vintage.model_copy(update={"as_of": as_of})
        return scenario.model_copy(update={"vintage": v})

    assert scenario_safe(at(date(2023, 2, 28)), MARCH)  # written the day before March began
    assert not scenario_safe(at(date(2023, 3, 1)), MARCH)  # a day later: it saw March 1
    assert not scenario_safe(at(None), MARCH)  # no vintage: may hold any hindsight
    assert scenario_safe(at(None), MARCH) is False


def test_run_backtest_refuses_an_empty_plan(links):
    q = questions([question("t:b", "2023-03-20", y=np.nan)])
    with pytest.raises(ValueError, match=r"^no resolved questions with an origin to backtest$"):
        run_backtest(q, None, links, BacktestSettings(use_factors=False))


def test_scenario_months_are_the_linked_origin_months_inside_the_span(scenario, links):
    inputs = SimpleNamespace(scenario=scenario)
    rows = pd.DataFrame(
        {
            "month": pd.PeriodIndex(
                ["2021-12", "2022-01", "2023-05", "2023-05", "2024-12", "2025-01", "2023-07"],
                freq="M",
            ),
            "factor": ["tension", "tension", "tension", "appetite", "appetite", "tension", None],
            "target": [None] * 6 + ["deal:alpha"],
            "window_end": [pd.NaT] * 6 + [ts("2023-09-30")],
        }
    )
    # a question asking about a target needs a window to be given a probability
    expected = [pd.Period(m, "M") for m in ("2022-01", "2023-05", "2023-07", "2024-12")]
    assert scenario_months(inputs, rows, hindsight=False) == expected
    later = scenario.vintage.model_copy(update={"as_of": date(2023, 4, 30)})
    written = SimpleNamespace(scenario=scenario.model_copy(update={"vintage": later}))
    assert scenario_months(written, rows, hindsight=False) == expected[1:]
    no_window = rows.assign(window_end=pd.NaT)
    assert pd.Period("2023-07", "M") not in scenario_months(inputs, no_window, hindsight=False)
    assert scenario_months(written, rows, hindsight=True) == expected


def test_seeds_per_month_do_not_depend_on_the_other_months():
    """A month's seed is a fixed function of the run's seed and the month (published backtest
    numbers depend on it): 100003 * seed + the month's ordinal (months since 1970-01)."""
    s = SamplerSettings(seed=0)
    a, b = pd.Period("2023-03", "M"), pd.Period("2023-04", "M")
    assert a.ordinal == 638
    assert seeded(s, 1, a).seed == 100_003 + 638
    assert seeded(s, 2, b).seed == 200_006 + 639
    assert isinstance(seeded(s, 1, a).seed, int)
    assert replace(seeded(s, 1, a), seed=0) == s  # only the seed changes


def test_flags():
    row = SimpleNamespace(
        crowd=0.3,
        crowd_age=2.0,
        link="rule 1",
        factor="tension",
        factor_level=0.2,
        target=None,
        window_end=pd.NaT,
        scenario=float("nan"),
    )
    assert row_flags(row, True, True) == ""
    no_crowd = replace_ns(row, crowd=float("nan"), crowd_age=float("nan"))
    assert row_flags(no_crowd, True, True) == "no crowd forecast at the origin"
    stale = replace_ns(row, crowd=float("nan"), crowd_age=31.0)
    assert row_flags(stale, True, True) == "crowd forecast 31 days old at the origin: not used"
    unrelated = replace_ns(no_crowd, link="unrelated", factor=None)
    assert row_flags(unrelated, True, True) == (
        "no crowd forecast at the origin; "
        "not related to the scenario: calibrated crowd or base rate only"
    )
    outside = replace_ns(row, factor_level=float("nan"))
    assert row_flags(outside, True, True) == (
        "origin outside the scenario's span: no factor information"
    )
    assert row_flags(outside, True, False) == (
        "scenario written with data after the origin: no factor information"
    )
    assert (
        row_flags(row, True, False) == "scenario written with data after the origin (--hindsight)"
    )
    assert row_flags(outside, False, False) == ""
    assert row_flags(row, True, True, fit_failed=True) == (
        "the month's scenario fit failed the convergence gate (fits.csv)"
    )
    assert row_flags(outside, True, True, fit_failed=True) == (
        "origin outside the scenario's span: no factor information"
    )  # no factor level from the failed fit: nothing of it was used
    assert row_flags(replace_ns(outside, factor=None, link="topic"), True, True) == ""
    # a question that asks about a scenario target: why it has no scenario probability
    asks = replace_ns(row, link="unrelated", factor=None, target="deal:alpha")
    assert row_flags(replace_ns(asks, scenario=0.3, window_end=ts("2023-09-30")), True, True) == ""
    assert row_flags(asks, True, True) == (
        "asks about deal:alpha, no window end (no scheduled close, no close in its link): "
        "no scenario probability"
    )
    dated = replace_ns(asks, window_end=ts("2023-09-30"))
    assert row_flags(dated, True, False) == (
        "asks about deal:alpha, scenario written with data after the origin: no scenario "
        "probability"
    )
    assert row_flags(dated, True, True) == (
        "asks about deal:alpha, window outside the scenario's span: no scenario probability"
    )
    assert row_flags(dated, False, True) == ""


def replace_ns(ns: SimpleNamespace, **kw) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(ns), **kw})


# --- the calibration model's inputs and predictions ------------------------------------------


def calibration_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crowd": [0.8, np.nan, 0.2, 0.0],
            "crowd_age": [15.0, 40.0, 0.0, 3.0],
            "horizon": [30.0, 7.0, np.nan, 30 * np.exp(5)],
            "platform": pd.Categorical(["m", "p", "p", "m"], categories=["m", "p", "z"]),
            "topics": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]],
            "factor_x": [0.5, np.nan, -1.0, 0.0],
            "scenario": [np.nan, 0.3, 0.9999, np.nan],
            "y": [1.0, 0.0, 0.0, np.nan],
            "weight": [0.5, 0.5, 1.0, 1.0],
        }
    )


def test_calibration_arrays(links):
    a = arrays(calibration_rows(), links)
    floor = links.spec.calibration.crowd_floor.value
    assert a.has_crowd.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert a.logit_crowd == pytest.approx([np.log(4), 0.0, -np.log(4), np.log(floor / (1 - floor))])
    assert a.log_horizon == pytest.approx([0.0, np.log(7 / 30), 0.0, 3.0])  # unknown: 0; clipped
    assert a.age == pytest.approx([0.5, 0.0, 0.0, 0.1])  # no crowd: no age
    assert a.platform.tolist() == [0, 1, 1, 0]
    assert a.factor_x.tolist() == [0.5, 0.0, -1.0, 0.0]
    assert a.has_scenario.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert a.logit_scenario == pytest.approx([0.0, np.log(0.3 / 0.7), np.log(0.99 / 0.01), 0.0])
    assert a.y.tolist() == [1.0, 0.0, 0.0, 0.0] and a.weight.tolist() == [0.5, 0.5, 1.0, 1.0]


def test_predict_is_the_models_formula_averaged_over_draws(links):
    a = arrays(calibration_rows(), links)
    draws = {
        "extremize": [1.5, 2.0],
        "horizon_slope": [0.1, -0.2],
        "age_slope": [-0.3, 0.0],
        "crowd_bias": [0.2, -0.1],
        "base": [-1.0, -0.5],
        "factor_weight": [0.4, 0.0],
        "scenario_weight": [0.25, 0.6],
    }
    platform = np.array([[0.1, -0.2, 0.0], [0.3, 0.0, 0.5]])  # (draw, platform)
    crowd_topic = np.array([[0.0, 0.1, 0.2], [0.1, 0.0, -0.1]])
    topic_base = np.array([[0.5, -0.5, 0.0], [0.0, 0.2, 0.3]])
    post = xr.Dataset(
        {
            **{k: (("chain", "draw"), np.array(v)[None]) for k, v in draws.items()},
            "crowd_platform": (("chain", "draw", "platform"), platform[None]),
            "crowd_topic": (("chain", "draw", "topic"), crowd_topic[None]),
            "topic_base": (("chain", "draw", "topic"), topic_base[None]),
        }
    )
    got = predict(post, a)
    expected = np.zeros(4)
    for d in range(2):
        v = {k: x[d] for k, x in draws.items()}
        slope = v["extremize"] + v["horizon_slope"] * a.log_horizon + v["age_slope"] * a.age
        crowd = v["crowd_bias"] + platform[d][a.platform] + slope * a.logit_crowd
        crowd += a.topics @ crowd_topic[d]
        none = v["base"] + a.topics @ topic_base[d]
        eta = np.where(a.has_crowd == 1, crowd, none) + v["factor_weight"] * a.factor_x
        w = v["scenario_weight"] * a.has_scenario  # a log-odds pool with the scenario
        eta = (1 - w) * eta + w * a.logit_scenario
        expected += 1 / (1 + np.exp(-eta)) / 2
    assert got == pytest.approx(expected)


# --- scores --------------------------------------------------------------------------------------


def scored_rows() -> pd.DataFrame:
    """Ten questions: the model is closer to the outcome than the crowd on each, by different
    margins; one more question without a crowd forecast."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1], float)
    gap = np.linspace(0.05, 0.3, 11)
    model = np.where(y == 1, 0.8, 0.2)
    crowd = np.where(y == 1, 0.8 - gap, 0.2 + gap)
    crowd[-1] = np.nan
    return pd.DataFrame(
        {
            "key": [f"q{i}" for i in range(11)],
            "y": y,
            "model": model,
            "calibrated": model,
            "crowd": crowd,
            "extremized": np.where(y == 1, 0.7, 0.3),
            "base_rate": 0.3,
            "half": 0.5,
            "lead": 7,
        }
    )


def test_score_set_model_minus_crowd_and_extremized_have_the_right_sign():
    rows = scored_rows()
    both = rows.iloc[:-1]
    settings = BacktestSettings(bootstrap=300, seed=11)
    out = score_set(rows, settings, scenario_weight={"mean": 0.1, "lower": 0.0, "upper": 0.2})
    assert (out["n"], out["n_forecasts"], out["n_all"]) == (10, 10, 11)
    assert out["model_brier"] == pytest.approx(0.04)
    assert out["crowd_brier"] == pytest.approx(brier(both["crowd"], both["y"]))
    assert out["extremized_brier"] == pytest.approx(0.09)
    assert out["half_brier"] == pytest.approx(0.25)
    assert out["base_rate_brier"] == pytest.approx(brier(both["base_rate"], both["y"]))
    assert out["model_log"] == pytest.approx(-np.log(0.8))
    assert out["extremized_log"] == pytest.approx(-np.log(0.7))
    assert out["crowd_log"] == pytest.approx(log_loss(both["crowd"], both["y"]))
    for name, score in (("brier", brier), ("log", log_loss)):
        for other in ("crowd", "extremized"):
            d = out[f"model_minus_{other}_{name}"]
            assert d["value"] == pytest.approx(
                score(both["model"], both["y"]) - score(both[other], both["y"])
            )
            assert d["value"] < 0 and d["upper"] < 0  # the model is better: model - other < 0
            expected = clustered_difference(
                both["model"], both[other], both["y"], both["key"], score=name, n=300, seed=11
            )
            assert d == pytest.approx(expected)
        assert out[f"mdd_{name}"] == pytest.approx(
            minimum_detectable_difference(
                both["extremized"], both["crowd"], both["y"], both["key"], score=name
            )
        )
    assert out["brier_ratio"] == pytest.approx(0.04 / out["crowd_brier"])
    assert out["model_brier_all"] == pytest.approx(0.04)
    assert out["base_rate_brier_all"] == pytest.approx(brier(rows["base_rate"], rows["y"]))
    assert out["half_log_all"] == pytest.approx(np.log(2))
    assert out["model_log_all"] == pytest.approx(-np.log(0.8))
    assert "crowd_brier_all" not in out
    assert out["scenario_weight"] == {"mean": 0.1, "lower": 0.0, "upper": 0.2}


def test_score_set_averages_over_each_questions_origins_first():
    rows = pd.DataFrame(
        {
            "key": ["a", "a", "a", "b"],
            "y": [1.0, 1.0, 1.0, 0.0],
            "model": [0.9, 0.9, 0.6, 0.0],
            "calibrated": [0.9, 0.9, 0.6, 0.0],
            "crowd": [0.5, 0.5, 0.5, 0.5],
            "extremized": [0.5, 0.5, 0.5, 0.5],
            "base_rate": 0.5,
            "half": 0.5,
        }
    )
    out = score_set(rows, BacktestSettings(bootstrap=50), scenario_weight=None)
    a = (0.01 + 0.01 + 0.16) / 3
    assert out["model_brier"] == pytest.approx((a + 0.0) / 2)  # not (0.18 + 0) / 4
    assert (out["n"], out["n_forecasts"]) == (2, 4)
    assert out["model_minus_crowd_brier"]["value"] == pytest.approx((a + 0.0) / 2 - 0.25)


def test_score_set_without_crowd_forecasts():
    rows = scored_rows().assign(crowd=np.nan, extremized=np.nan)
    out = score_set(rows, BacktestSettings(bootstrap=50), scenario_weight=None)
    assert out["n"] == 0 and out["model_brier"] is None and out["crowd_log"] is None
    assert out["model_minus_crowd_brier"] is None and out["brier_ratio"] is None
    assert out["mdd_log"] is None and out["scenario_weight"] is None
    assert out["half_brier_all"] == pytest.approx(0.25)


def test_score_set_brier_ratio_when_the_crowd_is_perfect():
    rows = scored_rows().iloc[:-1]
    rows["crowd"] = rows["y"]
    assert score_set(rows, BacktestSettings(bootstrap=20))["brier_ratio"] is None


def test_extremized_crowd_is_fixed_and_clipped(links):
    crowd = pd.Series([0.5, 0.8, 0.0, 1.0, np.nan], index=[3, 4, 5, 6, 7])
    got = extremized(crowd, 1.5, links)
    assert list(got.index) == [3, 4, 5, 6, 7]
    assert got[3] == pytest.approx(0.5)
    assert got[4] == pytest.approx(4**1.5 / (1 + 4**1.5))  # odds 4 -> 8
    floor = links.spec.calibration.crowd_floor.value
    assert got[5] == pytest.approx(1 / (1 + ((1 - floor) / floor) ** 1.5))
    assert got[6] == pytest.approx(1 - got[5]) and np.isnan(got[7])
    assert extremized(crowd, 1.0, links)[4] == pytest.approx(0.8)


def test_clustered_bootstrap_resamples_whole_questions():
    rng = np.random.default_rng(1)
    q = np.repeat(np.arange(20), 3)  # 20 questions, 3 origins each
    y = np.repeat(rng.integers(0, 2, 20), 3).astype(float)
    # a question's origins move together (one question, one state of the world)
    a = np.clip(
        y * 0.6 + 0.2 + np.repeat(rng.normal(0, 0.15, 20), 3) + rng.normal(0, 0.01, 60), 0, 1
    )
    b = np.clip(0.5 + np.repeat(rng.normal(0, 0.2, 20), 3), 0, 1)
    per_q = ((a - y) ** 2 - (b - y) ** 2).reshape(20, 3).mean(axis=1)

    def direct(level: float, seed: int, n: int) -> list[float]:
        idx = np.random.default_rng(seed).integers(0, 20, size=(n, 20))
        return list(np.quantile(per_q[idx].mean(axis=1), [(1 - level) / 2, (1 + level) / 2]))

    d = clustered_difference(a, b, y, q, n=400, seed=7)
    assert d["value"] == pytest.approx(per_q.mean())
    assert [d["lower"], d["upper"]] == pytest.approx(direct(0.9, 7, 400), abs=1e-12)
    assert [d["lower"], d["upper"]] != pytest.approx(direct(0.8, 7, 400), abs=1e-6)
    half = clustered_difference(a, b, y, q, n=400, seed=7, level=0.5)
    assert [half["lower"], half["upper"]] == pytest.approx(direct(0.5, 7, 400), abs=1e-12)
    # swapping the forecasts mirrors the difference and its interval
    swapped = clustered_difference(b, a, y, q, n=400, seed=7)
    assert (swapped["value"], swapped["lower"], swapped["upper"]) == pytest.approx(
        (-d["value"], -d["upper"], -d["lower"])
    )
    # rows resampled one by one would give a narrower interval: the origins are not independent
    rows = clustered_difference(a, b, y, np.arange(60), n=400, seed=7)
    assert rows["upper"] - rows["lower"] < d["upper"] - d["lower"]
    default = clustered_difference(a, b, y, q)
    idx = np.random.default_rng(0).integers(0, 20, size=(2000, 20))
    assert [default["lower"], default["upper"]] == pytest.approx(
        list(np.quantile(per_q[idx].mean(axis=1), [0.05, 0.95])), abs=1e-12
    )


def test_minimum_detectable_difference():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    a, b = np.array([0.9, 0.1, 0.6, 0.2]), np.full(4, 0.5)
    d = (a - y) ** 2 - (b - y) ** 2
    assert minimum_detectable_difference(a, b, y, np.arange(4)) == pytest.approx(
        MDD_Z * d.std(ddof=1) / 2
    )
    assert pytest.approx(2.486, abs=1e-3) == MDD_Z
    assert np.isnan(minimum_detectable_difference(a[:1], b[:1], y[:1], [0]))
    # two origins of one question are one question
    assert np.isnan(minimum_detectable_difference(a[:2], b[:2], y[:2], [0, 0]))


def test_scores_take_booleans_and_ints():
    assert brier([True, False], [True, True]) == 0.5
    assert brier([1, 0], [1, 1]) == 0.5
    assert log_loss([True, False], [True, False]) == pytest.approx(-np.log(0.999))
    assert list(reliability([True, False], [True, False])["n"]) == [1, 0, 0, 0, 1]
    assert clustered_difference([True], [False], [True], [0], n=5) == {
        "value": -1.0, "lower": -1.0, "upper": -1.0
    }  # fmt: skip


def test_reliability_edges_go_to_the_bin_above():
    p = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.19999, 0.59999, 0.99]
    y = [0, 1, 0, 1, 0, 1, 1, 0, 0]
    table = reliability(p, y, bins=5)
    assert list(table["bin"]) == ["0.0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1.0"]
    assert list(table["n"]) == [2, 1, 2, 1, 3]
    assert table.loc[3, "mean_forecast"] == pytest.approx(0.6)
    assert table.loc[2, "mean_forecast"] == pytest.approx((0.4 + 0.59999) / 2)
    assert table.loc[4, "observed"] == pytest.approx(1 / 3)
    ten = reliability([0.3, 0.7, 0.05], [1, 0, 0], bins=10)
    assert len(ten) == 10 and list(ten["n"]) == [1, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    assert list(ten["bin"][:2]) == ["0.0-0.1", "0.1-0.2"]
    assert list(reliability([0.5], [1])["n"]) == [0, 0, 1, 0, 0]  # 5 bins by default
    empty = reliability([0.1], [0], bins=2)
    assert list(empty["n"]) == [1, 0] and np.isnan(empty.loc[1, "mean_forecast"])
    assert np.isnan(empty.loc[1, "observed"]) and empty.loc[0, "observed"] == 0.0


class FakeClient:
    """A stand-in for a Dask client that runs every call here and records how it was asked."""

    def __init__(self):
        self.scattered: list = []
        self.submitted: list = []

    def scatter(self, data, broadcast=False):
        self.scattered.append(broadcast)
        return SimpleNamespace(scattered=data)

    def submit(self, fn, *args, pure=True):
        self.submitted.append((fn, pure))
        future = Future()
        future.set_result(fn(*args))
        return future

    def gather(self, futures):
        return [f.result() for f in futures]


def test_run_backtest_on_a_cluster_gives_the_same_forecasts(scenario, links, monkeypatch):
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate([]))
    given: list = []

    def levels(inputs, month, settings, asked=None, crowd=None):
        given.append(inputs)
        return ScenarioAt({"tension": 0.5}, {}, {"fit": "scenario"})

    monkeypatch.setattr(backtest, "scenario_at", levels)
    q = questions(
        [
            question("t:a", "2023-02-28", 1.0, title="An attack?", tags=("conflict",)),
            question("t:b", "2023-03-20", 0.0, title="A strike?", tags=("conflict",)),
        ],
        [("t:b", "2023-03-01", 0.3)],
    )
    inputs = SimpleNamespace(scenario=scenario)
    settings = BacktestSettings(leads=(7,), calendar_days=(), bootstrap=20)
    here = run_backtest(q, inputs, links, settings)
    client = FakeClient()
    there = run_backtest(q, inputs, links, settings, client=client)
    pd.testing.assert_frame_equal(here.forecasts, there.forecasts)
    assert client.scattered == [True]  # the inputs go to every worker once
    assert given[:2] == [inputs, inputs]
    assert [g.scattered for g in given[2:]] == [inputs, inputs]  # workers get the scattered copy
    fits = [backtest.scenario_at] * 2 + [backtest.calibrate_month] * 2
    assert client.submitted == [(fn, False) for fn in fits]
    phases: list[str] = []
    run_backtest(q, inputs, links, settings, on_phase=phases.append)
    expected = [
        "2 scenario fits (one per origin month with linked questions)",
        "scenario fit 1 of 2 done",
        "scenario fit 2 of 2 done",
        "2 calibration fits (one per origin month)",
        "calibration fit 1 of 2 done",
        "calibration fit 2 of 2 done",
    ]
    assert phases == expected
    phases.clear()
    run_backtest(q, inputs, links, settings, client=FakeClient(), on_phase=phases.append)
    assert phases == expected
