"""Questions that ask about one of the scenario's own targets: links, windows, the scenario's
probability of a question from its hazards, the crowd as forecast evidence, and how the backtest
pools the scenario's probability with the crowd (no MCMC: samplers are replaced)."""

from __future__ import annotations

import dataclasses
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sim import DIAG, MINI_ROOT, QUICK

from forecast.data.errors import InputError
from forecast.data.evidence import load_evidence
from forecast.data.inputs import load_inputs
from forecast.data.questions import Questions
from forecast.model.design import build_design
from forecast.skill import backtest
from forecast.skill.backtest import BacktestSettings, known_evidence, run_backtest, scenario_at
from forecast.skill.calibration import Calibrated
from forecast.skill.links import links_path, load_links
from forecast.skill.origins import plan
from forecast.skill.targets import (
    CROWD_FILE,
    DAYS_PER_MONTH,
    covers,
    crowd_rows,
    window_parts,
    window_probability,
    with_crowd,
)

ts = pd.Timestamp


@pytest.fixture(scope="module")
def design(scenario):
    """The mini log over the scenario's whole span (2022-01 .. 2024-12); deal:beta ended in
    2023-01."""
    ev = load_evidence(MINI_ROOT / "data" / "mini", scenario)
    return build_design(scenario, ev, n_months=scenario.month_index(scenario.end_date) + 1)


def hazards(d, x: np.ndarray) -> xr.DataTree:
    """A posterior whose ``logit_hazard`` is ``x`` (chain, draw, unit, month)."""
    post = xr.Dataset({"logit_hazard": (("chain", "draw", "unit", "month"), x)})
    return xr.DataTree.from_dict({"posterior": post})


# --- windows and the scenario's probability --------------------------------------------------


def test_window_parts_count_the_days_of_each_month_inside_the_window(scenario):
    parts = window_parts(scenario, date(2023, 3, 15), date(2023, 5, 10), 36)
    march = scenario.month_index(date(2023, 3, 1))
    assert march == 14
    assert parts[march] == pytest.approx(17 / 31)  # the 15th to the 31st, both included
    assert parts[march + 1] == 1.0
    assert parts[march + 2] == pytest.approx(10 / 31)
    assert parts.sum() == pytest.approx(17 / 31 + 1 + 10 / 31)
    one_day = window_parts(scenario, date(2023, 3, 15), date(2023, 3, 15), 36)
    assert one_day[march] == pytest.approx(1 / 31) and one_day.sum() == pytest.approx(1 / 31)
    # months past the design get nothing: ``covers`` says so first
    assert window_parts(scenario, date(2024, 12, 1), date(2025, 2, 1), 36).sum() == 1.0


def test_covers_is_the_designs_span(scenario, design):
    assert covers(scenario, design, date(2022, 1, 1), date(2024, 12, 31))
    assert not covers(scenario, design, date(2024, 12, 1), date(2025, 1, 1))
    assert not covers(scenario, design, date(2021, 12, 31), date(2022, 6, 1))


def test_window_probability_is_exact_given_each_draws_hazards(scenario, design):
    rng = np.random.default_rng(3)
    n_units = len(design.units.labels)
    x = rng.normal(-3.0, 1.0, (2, 4, n_units, design.n_months))
    idata = hazards(design, x)
    start, end = date(2023, 3, 15), date(2023, 5, 10)
    parts = window_parts(scenario, start, end, design.n_months)
    flat = x.reshape(8, n_units, -1)

    def survive(label):
        u = design.units.labels.index(label)
        return np.exp(-(np.logaddexp(0.0, flat[:, u, :]) * parts).sum(axis=1))

    p = window_probability(scenario, design, idata, "deal:alpha", 1.0, start, end)
    np.testing.assert_allclose(p, 1 - survive("deal:alpha"), rtol=1e-12)
    no = window_probability(scenario, design, idata, "deal:alpha", -1.0, start, end)
    np.testing.assert_allclose(no, survive("deal:alpha"), rtol=1e-12)
    # a persistence outcome's "yes" is that it still holds
    kept = window_probability(scenario, design, idata, "bases_kept", 1.0, start, end)
    np.testing.assert_allclose(kept, survive("bases_kept"), rtol=1e-12)
    # "any candidate": deal:beta ended in 2023-01 (the design saw it), so only alpha is at risk
    assert design.resolution.closed_at[design.units.labels.index("deal:beta")] >= 0
    anyone = window_probability(scenario, design, idata, "deal", 1.0, start, end)
    np.testing.assert_allclose(anyone, 1 - survive("deal:alpha"), rtol=1e-12)
    reopened = dataclasses.replace(
        design,
        resolution=dataclasses.replace(design.resolution, closed_at=np.full(n_units, -1)),
    )
    both = window_probability(scenario, reopened, idata, "deal", 1.0, start, end)
    np.testing.assert_allclose(both, 1 - survive("deal:alpha") * survive("deal:beta"), rtol=1e-12)


# --- the crowd as forecast evidence ------------------------------------------------------------


def asked_rows(sign=1.0, end="2023-06-30") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": ["m:1", "m:1", "m:2"],
            "target": ["deal:alpha", "deal:alpha", None],
            "target_sign": [sign, sign, np.nan],
            "window_end": [ts(end), ts(end), pd.NaT],
        }
    )


def crowd_of(points) -> Questions:
    c = pd.DataFrame(points, columns=["key", "date", "p"])
    return Questions(pd.DataFrame(), c.assign(date=pd.to_datetime(c["date"])))


def test_crowd_rows_are_each_months_last_point_on_the_target(scenario):
    qs = crowd_of(
        [
            ("m:1", "2021-12-20", 0.5),  # before the scenario: not used
            ("m:1", "2023-02-03", 0.2),
            ("m:1", "2023-02-27", 0.25),  # February's last point
            ("m:1", "2023-03-10", 0.0),  # clipped to the floor
            ("m:1", "2023-07-01", 0.9),  # after the window: not a forecast of it
            ("m:2", "2023-03-01", 0.7),  # no target
        ]
    )
    rows = crowd_rows(scenario, qs, asked_rows(), floor=0.01).frame
    assert list(rows["date"]) == [ts("2023-02-27"), ts("2023-03-10")]
    assert list(rows["value"]) == [0.25, 0.01]
    assert (rows["kind"] == "forecast").all() and (rows["target"] == "deal:alpha").all()
    assert list(rows["outcome"]) == ["deal", "deal"] and list(rows["candidate"]) == ["alpha"] * 2
    assert list(rows["forecaster"]) == ["m", "m"] and (rows["file"] == CROWD_FILE).all()
    assert list(rows["month"]) == [13, 14]
    assert rows["horizon_months"].tolist() == pytest.approx(
        [(31 + 30 + 31 + 30 + 2) / DAYS_PER_MONTH, (22 + 30 + 31 + 30) / DAYS_PER_MONTH]
    )
    assert rows["day_known"].all()
    # a question asking the opposite gives the target 1 - p
    flipped = crowd_rows(scenario, qs, asked_rows(sign=-1.0), floor=0.01).frame
    assert list(flipped["value"]) == [0.75, 0.99]


def test_crowd_points_are_known_from_their_day_on(scenario):
    """Leakage: a point dated the day before an origin month enters that month's fit; one dated
    on the month's first day does not."""
    qs = crowd_of([("m:1", "2023-02-28", 0.3), ("m:1", "2023-03-01", 0.4)])
    crowd = crowd_rows(scenario, qs, asked_rows(), floor=0.01)
    ev = load_evidence(MINI_ROOT / "data" / "mini", scenario)
    both = with_crowd(ev, crowd)
    assert len(both.frame) == len(ev.frame) + 2
    assert both.frame["date"].is_monotonic_increasing
    march = known_evidence(both, pd.Period("2023-03", "M")).frame
    assert list(march.loc[march["file"] == CROWD_FILE, "value"]) == [0.3]
    april = known_evidence(both, pd.Period("2023-04", "M")).frame
    assert list(april.loc[april["file"] == CROWD_FILE, "value"]) == [0.3, 0.4]
    assert with_crowd(ev, None) is ev


# --- links -----------------------------------------------------------------------------------


TARGET = """
[[targets]]
{body}
rationale = "r"
source = "s"
"""


def links_with(tmp_path, body: str):
    text = links_path("mini", MINI_ROOT).read_text()
    path = tmp_path / "l.toml"
    path.write_text(text + TARGET.format(body=body))
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'key = "m:1"\ntarget = "nope"\nsign = "+"',
            "unknown outcome 'nope' (outcomes of mini: deal, bases_kept, calm)",
        ),
        (
            'key = "m:1"\ntarget = "calm"\nsign = "+"',
            "calm is a state outcome: only event and persistence outcomes can be asked about",
        ),
        (
            'key = "m:1"\ntarget = "deal:gamma"\nsign = "+"',
            "deal has no candidate 'gamma' (candidates: alpha, beta)",
        ),
        (
            'key = "m:1"\ntarget = "deal:"\nsign = "+"',
            "not a target 'deal:': write outcome or outcome:candidate",
        ),
    ],
)
def test_a_target_the_scenario_cannot_give_is_refused(tmp_path, scenario, body, message):
    with pytest.raises(InputError) as exc:
        load_links(links_with(tmp_path, body), scenario)
    problems = [p for p in exc.value.problems if p.field == "target"]
    assert [(p.where, p.message) for p in problems] == [("targets[1]", message)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('target = "deal"\nsign = "+"', "give either key, or tags and pattern"),
        ('key = "m:1"\ntags = ["x"]\npattern = "a"\ntarget = "deal"\nsign = "+"', "give either"),
        ('pattern = "a"\ntarget = "deal"\nsign = "+"', "a pattern needs tags"),
        ('tags = ["x"]\npattern = "(a"\ntarget = "deal"\nsign = "+"', "not a valid regular"),
    ],
)
def test_a_target_link_is_a_key_or_tags_and_a_pattern(tmp_path, scenario, body, message):
    with pytest.raises(InputError) as exc:
        load_links(links_with(tmp_path, body), scenario)
    assert any(message in p.message for p in exc.value.problems)


def test_explicit_target_links_win_over_rules(tmp_path, scenario, links):
    rule = links.target_of("m:9", "Will the alpha deal be signed?", ("diplomacy",))
    assert rule is not None and (rule[0].target, rule[1]) == ("deal:alpha", "targets[0]")
    assert links.target_of("m:9", "Will the alpha deal be signed?", ("conflict",)) is None
    assert links.target_of("m:9", "Will it rain?", ("diplomacy",)) is None
    body = 'key = "m:9"\ntarget = "bases_kept"\nsign = "-"\nclose = 2023-06-30'
    own = load_links(links_with(tmp_path, body), scenario)
    link, why = own.target_of("m:9", "Will the alpha deal be signed?", ("diplomacy",))
    assert (link.target, link.sign, link.close, why) == (
        "bases_kept", "-", date(2023, 6, 30), "targets[1]"
    )  # fmt: skip


def test_the_plan_carries_each_questions_target_and_window(scenario, links):
    def q(key, title, close):
        return {
            "key": key, "title": title, "tags": ("diplomacy",), "open": ts("2023-01-01"),
            "close": ts(close) if close else pd.NaT, "reference": ts("2023-06-30"),
            "end": ts("2023-06-30"), "resolved": ts("2023-07-02"), "resolution": 1.0,
        }  # fmt: skip

    qs = Questions(
        pd.DataFrame([q("m:1", "The alpha deal?", "2023-06-30"), q("m:2", "Rain?", None)]),
        pd.DataFrame({"key": [], "date": pd.to_datetime([]), "p": []}),
    )
    rows = plan(qs, links, (7,), calendar_days=(1,)).drop_duplicates("key").set_index("key")
    assert rows.loc["m:1", ["target", "target_sign", "target_link"]].tolist() == [
        "deal:alpha", 1.0, "targets[0]"
    ]  # fmt: skip
    assert rows.loc["m:1", "window_end"] == ts("2023-06-30")
    assert pd.isna(rows.loc["m:2", "target"]) and pd.isna(rows.loc["m:2", "window_end"])


# --- the scenario fit of a month, and the backtest's pool --------------------------------------


def test_scenario_at_fits_the_crowd_and_gives_each_asked_rows_probability(scenario, monkeypatch):
    ev = load_evidence(MINI_ROOT / "data" / "mini", scenario)
    seen: dict = {}

    def design(s, e, *, n_months, fc_sources, centre_through):
        seen.update(evidence=e, sources=fc_sources)
        return build_design(
            s, e, n_months=n_months, fc_sources=fc_sources, centre_through=centre_through
        )

    def sample(model, settings):
        d = seen["design"]
        x = np.full((2, 3, len(d.units.labels), d.n_months), -2.0)
        f = np.zeros((2, 3, len(scenario.factors), d.n_months))
        post = xr.Dataset(
            {
                "logit_hazard": (("chain", "draw", "unit", "month"), x),
                "f": (("chain", "draw", "factor", "month"), f),
            }
        )
        return SimpleNamespace(idata=xr.DataTree.from_dict({"posterior": post}), diagnostics=DIAG)

    def model(s, d):
        seen["design"] = d
        return "model"

    monkeypatch.setattr(backtest, "build_design", design)
    monkeypatch.setattr(backtest, "build_model", model)
    monkeypatch.setattr(backtest, "sample", sample)
    qs = crowd_of([("m:1", "2023-02-10", 0.3), ("m:1", "2023-03-05", 0.4)])
    crowd = crowd_rows(scenario, qs, asked_rows(), floor=0.01)
    asked = pd.DataFrame(
        {
            "origin": [ts("2023-03-15"), ts("2024-12-15")],
            "target": ["deal:alpha", "deal:alpha"],
            "target_sign": [1.0, 1.0],
            "window_end": [ts("2023-03-31"), ts("2025-01-31")],  # the second ends after the span
        },
        index=[7, 8],
    )
    at = scenario_at(
        SimpleNamespace(scenario=scenario, evidence=ev),
        pd.Period("2023-03", "M"),
        QUICK,
        asked,
        crowd,
    )
    fed = seen["evidence"].frame
    assert list(fed.loc[fed["file"] == CROWD_FILE, "value"]) == [0.3]  # March's is not public yet
    assert seen["sources"] == ["crowd", "m"]  # the log's forecasters and the crowd's platforms
    assert set(at.probabilities) == {7}
    mean, lower, upper = at.probabilities[7]
    expected = 1 - np.exp(-17 / 31 * np.logaddexp(0.0, -2.0))
    assert mean == pytest.approx(expected) and lower == upper == pytest.approx(expected)


def fake_calibrate(calls):
    def calibrate(train, test, links, settings):
        calls.append((train.copy(), test.copy()))
        w = (0.3, 0.1, 0.6)
        return Calibrated(np.full(len(test), 0.2), DIAG, len(train), (0.0, -1.0, 1.0), w)

    return calibrate


def test_the_backtest_gives_asked_questions_the_scenarios_probability(scenario, links, monkeypatch):
    calls: list = []
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate(calls))
    asked_months: list = []

    def at(inputs, month, settings, asked=None, crowd=None):
        asked_months.append((month, list(asked["key"]), crowd))
        probs = {i: (0.6, 0.5, 0.7) for i in asked.index}
        return backtest.ScenarioAt({"tension": 0.0, "appetite": 0.0}, probs, {"fit": "scenario"})

    monkeypatch.setattr(backtest, "scenario_at", at)

    def q(key, title, resolved, y):
        return {
            "key": key, "title": title, "tags": ("diplomacy",), "open": ts("2023-01-01"),
            "close": ts(resolved), "reference": ts(resolved), "end": ts(resolved),
            "resolved": ts(resolved), "resolution": y,
        }  # fmt: skip

    qs = Questions(
        pd.DataFrame(
            [q("m:1", "The alpha deal?", "2023-02-20", 1.0), q("m:2", "Rain?", "2023-03-20", 0.0)]
        ),
        pd.DataFrame(
            {
                "key": ["m:1", "m:2"],
                "date": pd.to_datetime(["2023-02-01", "2023-03-01"]),
                "p": [0.5, 0.2],
            }
        ),
    )
    settings = BacktestSettings(leads=(7,), calendar_days=(), bootstrap=20)
    bt = run_backtest(qs, SimpleNamespace(scenario=scenario), links, settings)
    f = bt.forecasts.set_index("key")
    assert f.loc["m:1", ["scenario", "scenario_lower", "scenario_upper"]].tolist() == [
        0.6,
        0.5,
        0.7,
    ]
    assert np.isnan(f.loc["m:2", "scenario"])
    assert [(str(m), keys) for m, keys, _ in asked_months] == [("2023-02", ["m:1"])]
    assert (asked_months[0][2].frame["forecaster"] == "m").all()  # the crowd of m:1 as evidence
    # the calibration of the next month trains on m:1 with its scenario probability
    train, _ = calls[-1]
    assert train.set_index("key").loc["m:1", "scenario"] == 0.6
    # the pool's weight from the last fit of the set, reported because a question of it asked
    assert bt.scores[7]["scenario_weight"] == {"mean": 0.3, "lower": 0.1, "upper": 0.6}
    assert bt.calendar["scenario_weight"] is None  # no calendar origins
    crowd_only = run_backtest(
        qs,
        SimpleNamespace(scenario=scenario),
        links,
        dataclasses.replace(settings, use_factors=False),
    )
    assert crowd_only.forecasts["scenario"].isna().all()
    assert crowd_only.scores[7]["scenario_weight"] is None


def test_as_of_fits_the_scenario_as_written_on_that_day(scenario, links, monkeypatch):
    """``as_of``: the hindsight-free scenario (``forecast.skill.vintage``) is fitted, and only at
    origins after the day; the scenario's own vintage would have kept every fit out."""
    monkeypatch.setattr(backtest, "calibrate", fake_calibrate([]))
    fitted: list = []

    def at(inputs, month, settings, asked=None, crowd=None):
        fitted.append((month, inputs.scenario.vintage.as_of))
        return backtest.ScenarioAt({"tension": 0.0, "appetite": 0.0}, {}, {"fit": "scenario"})

    monkeypatch.setattr(backtest, "scenario_at", at)
    late = scenario.model_copy(
        update={"vintage": scenario.vintage.model_copy(update={"as_of": date(2024, 6, 30)})}
    )
    q = {
        "key": "m:1", "title": "An attack?", "tags": ("conflict",), "open": ts("2022-12-01"),
        "close": ts("2023-02-20"), "reference": ts("2023-02-20"), "end": ts("2023-02-20"),
        "resolved": ts("2023-02-20"), "resolution": 1.0,
    }  # fmt: skip
    qs = Questions(
        pd.DataFrame([q]), pd.DataFrame({"key": [], "date": pd.to_datetime([]), "p": []})
    )
    settings = BacktestSettings(leads=(7,), calendar_days=(1,), bootstrap=20)
    inputs = dataclasses.replace(load_inputs("mini", MINI_ROOT), scenario=late)
    run_backtest(qs, inputs, links, settings)
    assert fitted == []  # every origin is before the scenario's vintage
    run_backtest(qs, inputs, links, dataclasses.replace(settings, as_of=date(2022, 12, 31)))
    day = date(2022, 12, 31)
    # December 2022's origin is not after the day
    assert fitted == [(pd.Period("2023-01", "M"), day), (pd.Period("2023-02", "M"), day)]
