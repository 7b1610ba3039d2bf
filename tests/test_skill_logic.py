"""The backtest's planning and scoring logic on tiny synthetic tables, without MCMC.

Each leakage rule is pinned on both sides of its cut-off (a row one day earlier is used, a row on
the cut-off day's other side is not), so moving a cut-off by a day fails a test:

- scenario evidence: dated up to the day before the origin's month begins;
- count evidence: only if its whole counting period ended by that day;
- calibration training and base rates: questions whose outcome was known (``resolved``, the later
  of the resolution and reference dates) before the origin's month began;
- the crowd: its last value on or before the origin day.

The fitting functions are exercised with their samplers replaced by fakes that record what they
were given.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.data.evidence import Evidence, load_evidence
from forecast.data.questions import Questions, load_questions
from forecast.data.scenario import load_scenario
from forecast.inference.sampling import Diagnostics, SamplerSettings
from forecast.skill import backtest
from forecast.skill.backtest import (
    BacktestSettings,
    _base_rate,
    _flags,
    _seeded,
    calibrate_month,
    calibration_split,
    evidence_cutoff,
    factor_levels,
    known_evidence,
    plan,
    run_backtest,
    scenario_months,
    score_lead,
)
from forecast.skill.calibration import Calibrated
from forecast.skill.links import links_path, load_links
from forecast.skill.scoring import bootstrap_difference, brier, log_loss, reliability

MINI = Path(__file__).parent / "fixtures" / "mini"
MARCH = pd.Period("2023-03", "M")
QUICK = SamplerSettings(chains=2, draws=10, tune=10, cores=1, seed=5)
DIAG = Diagnostics(
    max_rhat=1.001, min_ess_bulk=900.0, min_ess_tail=800.0, divergences=0, draws=10, chains=2,
    converged=True,
)  # fmt: skip
ts = pd.Timestamp


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(MINI / "priors" / "mini.toml")


@pytest.fixture(scope="module")
def links(scenario):
    return load_links(links_path("mini", MINI), scenario)


def evidence(rows: list[tuple[str, str, float | None]]) -> Evidence:
    """Evidence of ``(date, kind, exposure_days)`` rows (only what ``Evidence.until`` reads)."""
    frame = pd.DataFrame(
        [
            {"row": i + 2, "date": ts(d), "kind": k, "exposure_days": e}
            for i, (d, k, e) in enumerate(rows)
        ]
    )
    return Evidence(frame=frame, files=())


def question(key, resolved, y=1.0, *, reference=None, title="Will it?", tags=("weather",)):
    resolved = ts(resolved)
    return {
        "key": key,
        "title": title,
        "tags": tuple(tags),
        "open": ts("2022-01-01"),
        "reference": ts(reference) if reference else resolved,
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


def test_factor_levels_fit_the_known_evidence_and_read_the_origin_month(scenario, monkeypatch):
    ev = load_evidence(MINI / "data" / "mini", scenario)
    seen: dict = {}

    def design(s, e, *, n_months, fc_sources):
        seen.update(scenario=s, evidence=e, n_months=n_months, sources=fc_sources)
        return "design"

    def model(s, d):
        assert (s, d) == (scenario, "design")
        return "model"

    monkeypatch.setattr(backtest, "build_design", design)
    monkeypatch.setattr(backtest, "build_model", model)
    monkeypatch.setattr(backtest, "sample", fake_fit(scenario, seen))
    inputs = SimpleNamespace(scenario=scenario, evidence=ev)
    levels, info = factor_levels(inputs, MARCH, QUICK)
    t = scenario.month_index(date(2023, 3, 1))
    assert t == 14
    assert levels == {"tension": t + 2.0, "appetite": 1000.0 + t + 2.0}
    known = known_evidence(ev, MARCH).frame
    assert 0 < len(known) < len(ev.frame)
    pd.testing.assert_frame_equal(seen["evidence"].frame, known)
    assert seen["n_months"] == 36  # 2022-01 .. 2024-12: the whole span, one compiled model
    assert seen["sources"] == ["crowd"]
    assert seen["model"] == "model" and seen["settings"] == QUICK
    assert seen["scenario"] is scenario
    # forecast sources come from the whole log (one model structure for every month)
    _, early = factor_levels(inputs, pd.Period("2022-05", "M"), QUICK)
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
        return Calibrated(np.array([0.3, 0.6]), DIAG, 7)

    monkeypatch.setattr(backtest, "calibrate", calibrate)
    train, test = pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2, 3]})
    p, info = calibrate_month(MARCH, train, test, links, QUICK)
    assert list(p) == [0.3, 0.6]
    assert got["train"] is train and got["test"] is test and got["settings"] == QUICK
    assert got["links"] is links
    assert (info["fit"], info["month"], info["rows"]) == ("calibration", "2023-03", 7)


# --- plan, crowd at the origin, calibration training, base rates -------------------------------


def test_plan_origin_is_the_lead_before_the_reference_and_takes_the_crowd_there(links):
    qs = questions(
        [question("t:q", "2023-04-20", reference="2023-03-20", title="Will they attack?")],
        [
            ("t:q", "2023-03-12", 0.30),
            ("t:q", "2023-03-13", 0.40),  # the 7-day origin itself: known
            ("t:q", "2023-03-14", 0.90),  # a day after: not
            ("t:q", "2023-02-17", 0.10),
            ("t:q", "2023-02-19", 0.20),  # a day after the 30-day origin (Feb 18)
        ],
    )
    rows = plan(qs, links, (7, 30)).set_index("lead")
    assert list(rows["origin"]) == [ts("2023-03-13"), ts("2023-02-18")]
    assert list(rows["month"]) == [MARCH, pd.Period("2023-02", "M")]
    assert list(rows["crowd"]) == [0.40, 0.10]
    assert list(rows["crowd_date"]) == [ts("2023-03-13"), ts("2023-02-17")]
    assert list(rows["resolved"]) == [ts("2023-04-20")] * 2
    assert list(rows["y"]) == [1.0, 1.0]
    assert list(rows["weight"]) == [0.5, 0.5]
    r = rows.loc[7]
    assert (r["key"], r["title"]) == ("t:q", "Will they attack?")
    assert (r["link"], r["factor"], r["sign"]) == ("unrelated", None, 0.0)  # no topic "weather"
    assert r["topics"] == [0.0, 0.0, 1.0]


def test_plan_links_and_weights(links):
    qs = questions(
        [
            question("t:a", "2023-03-20", title="An attack?", tags=("conflict",)),
            question("t:b", "2023-03-20", y=np.nan),  # unresolved: not planned
            question("t:c", "2023-03-20", y=0.0, title="A deal?", tags=("diplomacy", "x")),
            question("test:explicit", "2023-03-20", title="An attack?", tags=("conflict",)),
        ]
    )
    rows = plan(qs, links, (7,))
    assert list(rows["key"]) == ["t:a", "t:c", "test:explicit"]
    assert list(rows["link"]) == ["rule 1", "rule 2", "question"]
    assert list(rows["factor"]) == ["tension", "appetite", "tension"]
    assert list(rows["sign"]) == [1.0, 1.0, -1.0]
    assert list(rows["weight"]) == [1.0, 1.0, 1.0]
    assert list(rows["y"]) == [1.0, 0.0, 1.0]
    assert rows["crowd"].isna().all() and rows["crowd_date"].isna().all()
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
    return plan(load_questions(q, c), links, (7, 30))


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
    """A ``calibrate`` replacement: the forecast of a test row is 0.1 + 0.01 * (training rows)."""

    def calibrate(train, test, links, settings):
        calls.append((train.copy(), test.copy(), settings))
        return Calibrated(np.full(len(test), 0.1 + 0.01 * len(train)), DIAG, len(train))

    return calibrate


def test_run_backtest_plans_fits_and_baselines_without_leakage(
    scenario, late_rows, links, monkeypatch
):
    """The whole run with both samplers replaced: what each fit gets, and what it produces."""
    calls: list = []
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate(calls))
    fitted: list = []

    def levels(inputs, month, settings):
        fitted.append((month, settings.seed))
        return {"tension": month.ordinal / 100, "appetite": -1.0}, {"fit": "scenario"}

    monkeypatch.setattr(backtest, "factor_levels", levels)
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
    settings = BacktestSettings(leads=(7,), seed=3, bootstrap=50)
    bt = run_backtest(q, inputs, links, settings)
    f = bt.forecasts.set_index("key")
    # one scenario fit per month of a linked question inside the scenario's span
    assert [m for m, _ in fitted] == [pd.Period("2023-02", "M"), MARCH]
    assert fitted[1][1] == _seeded(settings.scenario, 3, MARCH).seed
    # one calibration fit per origin month, training on questions known before it began
    months = {str(test["month"].iloc[0]): (train, test) for train, test, _ in calls}
    assert set(months) == {"2023-02", "2023-03", "2026-03"}
    assert set(months["2023-03"][0]["key"]) == {"t:early"}  # not t:late (known Apr 10)
    assert set(months["2023-03"][1]["key"]) == {"t:target", "t:late"}
    assert len(months["2023-02"][0]) == 0
    assert set(months["2023-02"][1]["key"]) == {"t:early", "t:first"}
    assert set(months["2026-03"][0]["key"]) == {"t:early", "t:first", "t:late", "t:target"}
    assert calls[0][2].seed == _seeded(settings.calibration, 3, calls[0][1]["month"].iloc[0]).seed
    assert f.loc["t:target", "model"] == pytest.approx(0.11) and f.loc["t:target", "n_train"] == 1
    assert f.loc["t:early", "model"] == pytest.approx(0.10) and f.loc["t:early", "n_train"] == 0
    assert f.loc["t:out", "model"] == pytest.approx(0.14) and f.loc["t:out", "n_train"] == 4
    # factor levels of the origin month, signed
    assert f.loc["t:target", "factor_level"] == pytest.approx(MARCH.ordinal / 100)
    assert f.loc["t:target", "factor_x"] == pytest.approx(MARCH.ordinal / 100)
    assert pd.isna(f.loc["t:late", "factor"]) and np.isnan(f.loc["t:late", "factor_level"])
    assert np.isnan(f.loc["t:out", "factor_level"])
    assert "origin outside the scenario's span" in f.loc["t:out", "flag"]
    # base rates: Laplace over questions known before each origin month
    assert f.loc["t:early", "base_rate"] == pytest.approx(0.5)
    assert f.loc["t:target", "base_rate"] == pytest.approx(2 / 3)  # not t:first (Mar 1)
    assert f.loc["t:first", "base_rate"] == pytest.approx(0.5)
    assert f.loc["t:out", "base_rate"] == pytest.approx((2 + 1) / (4 + 2))
    assert (f["half"] == 0.5).all()
    assert "no crowd forecast" in f.loc["t:late", "flag"]
    assert f.loc["t:target", "flag"] == ""
    assert list(bt.forecasts.columns) == [
        *("key", "title", "lead", "origin", "resolved", "y", "crowd", "crowd_date", "link"),
        *("factor", "sign", "factor_level", "factor_x", "model", "n_train", "base_rate", "half"),
        "flag",
    ]
    assert bt.forecasts["n_train"].dtype.kind == "i"
    # scores and reliability on the rows with a crowd forecast
    sc = bt.scores[7]
    assert (sc["n"], sc["n_all"]) == (2, 5)
    assert sc["crowd_brier"] == pytest.approx(((0.4 - 1) ** 2 + (0.9 - 1) ** 2) / 2)
    assert set(bt.reliability["forecaster"]) == {"model", "crowd"}
    assert set(bt.reliability["lead"]) == {7}
    assert list(bt.reliability.index) == list(range(10))  # 5 bins x (model, crowd)
    assert bt.reliability.groupby("forecaster")["n"].sum().to_dict() == {"crowd": 2, "model": 2}
    assert list(bt.fits["fit"]) == ["scenario"] * 2 + ["calibration"] * 3
    # without factors: no scenario fit at all
    fitted.clear()
    bt = run_backtest(q, inputs, links, replace(settings, use_factors=False))
    assert fitted == [] and bt.forecasts["factor_level"].isna().all()
    assert "outside the scenario's span" not in bt.forecasts.set_index("key").loc["t:out", "flag"]


def test_run_backtest_refuses_an_empty_plan(links):
    q = questions([question("t:b", "2023-03-20", y=np.nan)])
    with pytest.raises(ValueError, match=r"^no resolved questions to backtest$"):
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
        }
    )
    assert scenario_months(inputs, rows) == [
        pd.Period(m, "M") for m in ("2022-01", "2023-05", "2024-12")
    ]


def test_seeds_per_month_do_not_depend_on_the_other_months():
    """A month's seed is a fixed function of the run's seed and the month (published backtest
    numbers depend on it): 100003 * seed + the month's ordinal (months since 1970-01)."""
    s = SamplerSettings(seed=0)
    a, b = pd.Period("2023-03", "M"), pd.Period("2023-04", "M")
    assert a.ordinal == 638
    assert _seeded(s, 1, a).seed == 100_003 + 638
    assert _seeded(s, 2, b).seed == 200_006 + 639
    assert isinstance(_seeded(s, 1, a).seed, int)
    assert replace(_seeded(s, 1, a), seed=0) == s  # only the seed changes


def test_flags():
    row = SimpleNamespace(crowd=0.3, link="rule 1", factor="tension", factor_level=0.2)
    assert _flags(row, True) == ""
    no_crowd = replace_ns(row, crowd=float("nan"))
    assert _flags(no_crowd, True) == "no crowd forecast at the origin"
    unrelated = replace_ns(row, crowd=float("nan"), link="unrelated", factor=None)
    assert _flags(unrelated, True) == (
        "no crowd forecast at the origin; "
        "not related to the scenario: calibrated crowd or base rate only"
    )
    outside = replace_ns(row, factor_level=float("nan"))
    assert _flags(outside, True) == "origin outside the scenario's span: no factor information"
    assert _flags(outside, False) == ""
    assert _flags(replace_ns(outside, factor=None, link="topic"), True) == ""


def replace_ns(ns: SimpleNamespace, **kw) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(ns), **kw})


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
        {"y": y, "model": model, "crowd": crowd, "base_rate": 0.3, "half": 0.5, "lead": 7}
    )


def test_score_lead_model_minus_crowd_has_the_right_sign():
    rows = scored_rows()
    both = rows.iloc[:-1]
    settings = BacktestSettings(bootstrap=300, seed=11)
    out = score_lead(rows, settings)
    assert (out["n"], out["n_all"]) == (10, 11)
    assert out["model_brier"] == pytest.approx(0.04)
    assert out["crowd_brier"] == pytest.approx(brier(both["crowd"], both["y"]))
    assert out["half_brier"] == pytest.approx(0.25)
    assert out["base_rate_brier"] == pytest.approx(brier(both["base_rate"], both["y"]))
    assert out["model_log"] == pytest.approx(-np.log(0.8))
    assert out["crowd_log"] == pytest.approx(log_loss(both["crowd"], both["y"]))
    for name, score in (("brier", brier), ("log", log_loss)):
        d = out[f"model_minus_crowd_{name}"]
        assert d["value"] == pytest.approx(
            score(both["model"], both["y"]) - score(both["crowd"], both["y"])
        )
        assert d["value"] < 0 and d["upper"] < 0  # the model is better: model - crowd < 0
        expected = bootstrap_difference(
            both["model"], both["crowd"], both["y"], score=score, n=300, seed=11
        )
        assert (d["value"], d["lower"], d["upper"]) == pytest.approx(expected)
    assert out["brier_ratio"] == pytest.approx(0.04 / out["crowd_brier"])
    assert out["model_minus_crowd_brier"]["lower"] < out["model_minus_crowd_brier"]["upper"]
    assert out["model_brier_all"] == pytest.approx(0.04)
    assert out["base_rate_brier_all"] == pytest.approx(brier(rows["base_rate"], rows["y"]))
    assert out["half_log_all"] == pytest.approx(np.log(2))
    assert out["model_log_all"] == pytest.approx(-np.log(0.8))
    assert "crowd_brier_all" not in out


def test_score_lead_without_crowd_forecasts():
    rows = scored_rows().assign(crowd=np.nan)
    out = score_lead(rows, BacktestSettings(bootstrap=50))
    assert out["n"] == 0 and out["model_brier"] is None and out["crowd_log"] is None
    assert "model_minus_crowd_brier" not in out and "brier_ratio" not in out
    assert out["half_brier_all"] == pytest.approx(0.25)


def test_score_lead_brier_ratio_when_the_crowd_is_perfect():
    rows = scored_rows().iloc[:-1]
    rows["crowd"] = rows["y"]
    assert score_lead(rows, BacktestSettings(bootstrap=20))["brier_ratio"] is None


def test_bootstrap_bounds_are_the_5th_and_95th_percentiles():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40).astype(float)
    a = np.clip(y * 0.6 + 0.2 + rng.normal(0, 0.15, 40), 0, 1)
    b = np.clip(0.5 + rng.normal(0, 0.2, 40), 0, 1)

    def direct(level: float, seed: int, n: int) -> list[float]:
        idx = np.random.default_rng(seed).integers(0, len(y), size=(n, len(y)))
        diffs = [brier(a[i], y[i]) - brier(b[i], y[i]) for i in idx]
        return list(np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2]))

    value, lo, hi = bootstrap_difference(a, b, y, n=400, seed=7)
    assert value == pytest.approx(brier(a, y) - brier(b, y))
    assert [lo, hi] == pytest.approx(direct(0.9, 7, 400), abs=1e-12)
    assert [lo, hi] != pytest.approx(direct(0.8, 7, 400), abs=1e-6)
    _, lo50, hi50 = bootstrap_difference(a, b, y, n=400, seed=7, level=0.5)
    assert [lo50, hi50] == pytest.approx(direct(0.5, 7, 400), abs=1e-12)
    assert lo < lo50 < hi50 < hi
    # swapping the forecasts mirrors the difference and its interval
    v2, lo2, hi2 = bootstrap_difference(b, a, y, n=400, seed=7)
    assert (v2, lo2, hi2) == pytest.approx((-value, -hi, -lo))
    _, l_lo, l_hi = bootstrap_difference(a, b, y, score=log_loss, n=400, seed=7)
    idx = np.random.default_rng(7).integers(0, len(y), size=(400, len(y)))
    diffs = [log_loss(a[i], y[i]) - log_loss(b[i], y[i]) for i in idx]
    assert [l_lo, l_hi] == pytest.approx(list(np.quantile(diffs, [0.05, 0.95])), abs=1e-12)


def test_bootstrap_default_seed_and_size():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 30).astype(float)
    a, b = rng.uniform(0, 1, 30), rng.uniform(0, 1, 30)
    idx = np.random.default_rng(0).integers(0, 30, size=(2000, 30))
    diffs = [brier(a[i], y[i]) - brier(b[i], y[i]) for i in idx]
    assert bootstrap_difference(a, b, y)[1:] == pytest.approx(
        tuple(np.quantile(diffs, [0.05, 0.95])), abs=1e-12
    )


def test_scores_take_booleans_and_ints():
    assert brier([True, False], [True, True]) == 0.5
    assert brier([1, 0], [1, 1]) == 0.5
    assert log_loss([True, False], [True, False]) == pytest.approx(-np.log(0.999))
    assert list(reliability([True, False], [True, False])["n"]) == [1, 0, 0, 0, 1]
    assert bootstrap_difference([True], [False], [True], n=5) == (-1.0, -1.0, -1.0)


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

    def levels(inputs, month, settings):
        given.append(inputs)
        return {"tension": 0.5}, {"fit": "scenario"}

    monkeypatch.setattr(backtest, "factor_levels", levels)
    q = questions(
        [
            question("t:a", "2023-02-28", 1.0, title="An attack?", tags=("conflict",)),
            question("t:b", "2023-03-20", 0.0, title="A strike?", tags=("conflict",)),
        ],
        [("t:b", "2023-03-01", 0.3)],
    )
    inputs = SimpleNamespace(scenario=scenario)
    settings = BacktestSettings(leads=(7,), bootstrap=20)
    here = run_backtest(q, inputs, links, settings)
    client = FakeClient()
    there = run_backtest(q, inputs, links, settings, client=client)
    pd.testing.assert_frame_equal(here.forecasts, there.forecasts)
    assert client.scattered == [True]  # the inputs go to every worker once
    assert given[:2] == [inputs, inputs]
    assert [g.scattered for g in given[2:]] == [inputs, inputs]  # workers get the scattered copy
    fits = [backtest.factor_levels] * 2 + [backtest.calibrate_month] * 2
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
