"""Rolling-origin backtest on the mini scenario: no leakage from after an origin, and the plan,
baselines and scores it produces."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.evidence import Evidence
from forecast.data.inputs import load_inputs
from forecast.data.questions import Questions
from forecast.inference.sampling import SamplerSettings
from forecast.skill.backtest import (
    BacktestSettings,
    known_evidence,
    run_backtest,
    scenario_design,
)
from forecast.skill.links import links_path, load_links
from forecast.skill.origins import plan

MINI = Path(__file__).parent / "fixtures" / "mini"
QUICK = SamplerSettings(chains=2, draws=150, tune=150, cores=1)
# lead origins only: calendar origins would add a fit per month the questions are open
SETTINGS = BacktestSettings(
    leads=(30,), calendar_days=(), scenario=QUICK, calibration=QUICK, bootstrap=200
)
TARGET = "t:target"
ORIGIN = pd.Timestamp("2023-03-20") - pd.Timedelta(days=30)  # 2023-02-18


def question(key, title, tags, resolved, y):
    r = pd.Timestamp(resolved)
    return {
        "key": key,
        "title": title,
        "tags": tuple(tags),
        "open": pd.Timestamp("2022-01-01"),
        "close": r,
        "reference": r,
        "end": r,
        "resolved": r,
        "resolution": float(y),
    }


def base_questions() -> Questions:
    qs = pd.DataFrame(
        [
            question("t:a", "Will there be an attack by June?", ["conflict"], "2022-06-15", 1),
            question("t:b", "Will a deal be signed?", ["diplomacy"], "2022-09-10", 0),
            question("t:c", "Will it rain?", ["weather"], "2022-11-20", 0),
            question("t:d", "Will it snow?", ["weather"], "2023-03-25", 0),  # month of the target
            question(TARGET, "Will there be a strike?", ["conflict"], "2023-03-20", 1),
        ]
    )
    crowd = pd.DataFrame(
        [
            ("t:a", "2022-05-01", 0.7),
            ("t:b", "2022-07-20", 0.3),
            ("t:c", "2022-10-01", 0.1),
            (TARGET, "2023-01-10", 0.4),
            (TARGET, "2023-02-15", 0.35),
        ],
        columns=["key", "date", "p"],
    ).assign(date=lambda f: pd.to_datetime(f["date"]))
    return Questions(qs, crowd)


@pytest.fixture(scope="module")
def mini():
    inputs = load_inputs("mini", MINI)
    return inputs, load_links(links_path("mini", MINI), inputs.scenario)


def target_forecast(inputs, links, qs, settings=SETTINGS) -> pd.Series:
    bt = run_backtest(qs, inputs, links, settings)
    return bt.forecasts.set_index("key").loc[TARGET]


@pytest.fixture(scope="module")
def baseline(mini):
    inputs, links = mini
    return target_forecast(inputs, links, base_questions())


def with_evidence(inputs, frame: pd.DataFrame):
    return replace(inputs, evidence=Evidence(frame=frame, files=inputs.evidence.files))


def planted(inputs, qs: Questions):
    """Rows after the origin: a crowd jump for the target, a strong event on its factor, and a
    question resolved after the origin."""
    crowd = pd.concat(
        [
            qs.crowd,
            pd.DataFrame([(TARGET, pd.Timestamp("2023-03-01"), 0.99)], columns=qs.crowd.columns),
        ],
        ignore_index=True,
    ).sort_values(["key", "date"], kind="stable")
    late = pd.DataFrame(
        [question("t:late", "Will there be an attack soon?", ["conflict"], "2023-02-25", 1)]
    )
    fr = inputs.evidence.frame
    extra = fr[fr["kind"] == "event"].iloc[[0]].copy()
    extra["date"] = pd.Timestamp("2023-03-05")
    extra["month"] = inputs.scenario.month_index(pd.Timestamp("2023-03-05").date())
    extra["target"], extra["value"] = "tension", 3.0
    extra["row"] = 10_000
    frame = pd.concat([fr, extra], ignore_index=True)
    return with_evidence(inputs, frame), Questions(
        pd.concat([qs.questions, late], ignore_index=True), crowd.reset_index(drop=True)
    )


def shifted(inputs, qs: Questions, days: int = 75):
    """Every date after the origin moved ``days`` later (the target's reference, which defines
    the origin, stays)."""
    d = pd.Timedelta(days=days)
    crowd = qs.crowd.copy()
    crowd.loc[crowd["date"] > ORIGIN, "date"] += d
    q = qs.questions.copy()
    later = (q["key"] != TARGET) & (q["reference"] > ORIGIN)
    q.loc[later, ["close", "reference", "end", "resolved"]] += d
    fr = inputs.evidence.frame.copy()
    after = fr["date"] > ORIGIN
    fr.loc[after, "date"] += d
    fr.loc[after, "month"] = [inputs.scenario.month_index(x.date()) for x in fr.loc[after, "date"]]
    return with_evidence(inputs, fr), Questions(q, crowd)


@pytest.mark.fit
def test_crowd_calibration_ignores_everything_after_the_origin(mini):
    """The calibration path alone (fast): planted rows and shifted dates change nothing."""
    inputs, links = mini
    crowd_only = replace(SETTINGS, use_factors=False)
    before = target_forecast(inputs, links, base_questions(), crowd_only)
    ev, qs = planted(inputs, base_questions())
    assert target_forecast(ev, links, qs, crowd_only)["model"] == before["model"]
    ev, qs = shifted(ev, qs)
    assert target_forecast(ev, links, qs, crowd_only)["model"] == before["model"]
    assert before["n_train"] == 3  # a, b, c resolved before the target's origin month


@pytest.mark.slow
def test_target_is_linked_and_forecast(baseline):
    assert baseline["link"] == "rule 1" and baseline["factor"] == "tension"
    assert np.isfinite(baseline["factor_level"])
    assert 0 < baseline["model"] < 1
    assert baseline["crowd"] == 0.35  # the last point on or before the origin


@pytest.mark.slow  # scenario fits at three origin months
def test_rows_after_the_origin_do_not_change_the_forecast(mini, baseline):
    inputs, links = mini
    ev, qs = planted(inputs, base_questions())
    assert len(ev.evidence.frame) == len(inputs.evidence.frame) + 1
    after = target_forecast(ev, links, qs)
    assert after["crowd"] == baseline["crowd"]
    assert after["factor_level"] == baseline["factor_level"]
    assert after["model"] == baseline["model"]


@pytest.mark.slow  # scenario fits at three origin months
def test_shifting_every_later_date_does_not_change_the_forecast(mini, baseline):
    inputs, links = mini
    ev, qs = shifted(*planted(inputs, base_questions()))
    after = target_forecast(ev, links, qs)
    assert after["model"] == baseline["model"]
    assert after["factor_level"] == baseline["factor_level"]


@pytest.mark.slow  # scenario fits at three origin months
def test_an_earlier_row_does_change_the_forecast(mini, baseline):
    """The leakage tests could pass by ignoring evidence altogether: a crowd point before the
    origin must move the forecast."""
    inputs, links = mini
    qs = base_questions()
    crowd = pd.concat(
        [
            qs.crowd,
            pd.DataFrame([(TARGET, pd.Timestamp("2023-02-17"), 0.9)], columns=qs.crowd.columns),
        ],
        ignore_index=True,
    ).sort_values(["key", "date"], kind="stable")
    after = target_forecast(inputs, links, Questions(qs.questions, crowd.reset_index(drop=True)))
    assert after["crowd"] == 0.9
    assert after["model"] > baseline["model"] + 0.2


@pytest.mark.fit  # crowd-calibration fits
def test_plan_origins_baselines_and_flags(mini):
    inputs, links = mini
    qs = base_questions()
    rows = plan(qs, links, (7, 30), calendar_days=())
    assert len(rows) == 2 * len(qs.questions)
    r = rows[(rows["key"] == TARGET) & (rows["lead"] == 7)].iloc[0]
    assert r["origin"] == pd.Timestamp("2023-03-13") and r["crowd"] == 0.35
    bt = run_backtest(qs, inputs, links, replace(SETTINGS, use_factors=False))
    f = bt.forecasts.set_index("key")
    # Laplace's rule over questions resolved before the origin month: a (yes), b, c (no)
    assert f.loc[TARGET, "base_rate"] == pytest.approx((1 + 1) / (3 + 2))
    assert f.loc["t:a", "base_rate"] == pytest.approx(0.5)  # nothing resolved before
    assert "not related to the scenario" in f.loc["t:c", "flag"]
    sc = bt.scores[30]
    assert sc["n"] == 4 and sc["n_all"] == 5 and sc["half_brier"] == pytest.approx(0.25)
    assert sc["crowd_brier"] == pytest.approx(
        np.mean([(0.7 - 1) ** 2, 0.3**2, 0.1**2, (0.35 - 1) ** 2])
    )
    assert "no crowd forecast" in f.loc["t:d", "flag"]


def test_scenario_fits_centre_indicator_levels_on_the_known_months(mini):
    """A backtest origin's fit spans the whole period but centres indicator levels on the months
    known at the origin only, so no level moves with the unobserved months after it."""
    inputs, _ = mini
    s = inputs.scenario
    month = pd.Period("2023-03", "M")
    d, rows = scenario_design(inputs, month)
    known = s.month_index(month.start_time.date())
    assert d.n_months == s.month_index(s.end_date) + 1 > known
    assert d.centre[:known].all() and not d.centre[known:].any()
    assert rows == len(known_evidence(inputs.evidence, month).frame)
