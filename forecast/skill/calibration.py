"""Crowd calibration: a hierarchical logistic model of how questions resolve, learned from resolved
questions only, that turns a question's crowd forecast, topics and linked factor into a probability.

For question ``q`` on platform ``k`` with crowd probability ``c`` (clipped to the file's floor),
``h`` = log(days to the scheduled close / 30) (clipped to [-3, 3]; 0 without a scheduled close),
crowd age ``a`` in units of 30 days, topic shares ``m`` and linked-factor feature ``x`` (sign times
the factor's posterior mean at the origin, 0 if none)::

    slope         = extremize + horizon_slope * h + age_slope * a
    eta          = has_crowd * (bias + platform[k] + slope * logit(c) + m . crowd_topic)
                 + (1 - has_crowd) * (base + m . topic)
                 + factor_weight * x
    logit P(yes) = eta + has_scenario * scenario_weight * (logit(s) - eta)

The crowd is noisy evidence with a learned bias and slope (extremizing when > 1) that may depend on
the time left and the crowd's age; a question with no crowd forecast falls back on topic base
rates. A question that asks about one of the scenario's targets has the scenario's own probability
``s`` (``forecast.skill.targets``), pooled with the rest on the log-odds scale by a weight in
[0, 1] (a logarithmic pool) learned from the resolved questions that had one. Rows are weighted (a
question forecast at several origins counts once in all). Priors come from
``priors/questions/<scenario>.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy.special import expit

from forecast.inference.sampling import Diagnostics, SamplerSettings, sample
from forecast.skill.links import QuestionLinks


@dataclass(frozen=True)
class Arrays:
    """Model inputs for a set of question rows."""

    logit_crowd: np.ndarray
    has_crowd: np.ndarray
    log_horizon: np.ndarray  # log(days to the scheduled close / 30), clipped; 0 if unknown
    age: np.ndarray  # the crowd point's age in units of 30 days; 0 without a crowd
    platform: np.ndarray  # index into the rows' platform categories
    topics: np.ndarray  # (row, topic) shares
    factor_x: np.ndarray
    logit_scenario: np.ndarray  # the scenario's probability (clipped), 0 where none
    has_scenario: np.ndarray
    y: np.ndarray
    weight: np.ndarray


MAX_LOG_HORIZON = 3.0  # e^3 x 30 days ~ 20 months: further out, horizons are alike


def arrays(rows: pd.DataFrame, links: QuestionLinks) -> Arrays:
    """Arrays of ``rows`` (columns crowd, crowd_age, horizon, platform (categorical), topics,
    factor_x, scenario, y, weight); NaN crowd or scenario means none."""
    floor = links.spec.calibration.crowd_floor.value
    c = rows["crowd"].to_numpy(float)
    has = np.isfinite(c)
    cc = np.clip(np.where(has, c, 0.5), floor, 1 - floor)
    n_topics = len(links.topics)
    topics = np.array(list(rows["topics"]), float).reshape(len(rows), n_topics)
    sc = rows["scenario"].to_numpy(float)
    has_s = np.isfinite(sc)
    ss = np.clip(np.where(has_s, sc, 0.5), floor, 1 - floor)
    days = rows["horizon"].to_numpy(float)
    lh = np.clip(np.log(np.maximum(days, 1.0) / 30.0), -MAX_LOG_HORIZON, MAX_LOG_HORIZON)
    return Arrays(
        logit_crowd=np.log(cc) - np.log1p(-cc),
        has_crowd=has.astype(float),
        log_horizon=np.where(np.isfinite(lh), lh, 0.0),
        age=np.where(has, np.nan_to_num(rows["crowd_age"].to_numpy(float)), 0.0) / 30.0,
        platform=rows["platform"].cat.codes.to_numpy(),
        topics=topics,
        factor_x=np.nan_to_num(rows["factor_x"].to_numpy(float)),
        logit_scenario=np.where(has_s, np.log(ss) - np.log1p(-ss), 0.0),
        has_scenario=has_s.astype(float),
        y=np.nan_to_num(rows["y"].to_numpy(float)),
        weight=rows["weight"].to_numpy(float),
    )


def build_calibration_model(train: Arrays, links: QuestionLinks, platforms: list[str]) -> pm.Model:
    """The calibration model with ``train`` as swappable data."""
    p = links.spec.calibration
    coords = {"topic": links.topics, "platform": platforms}
    with pm.Model(coords=coords) as model:
        lc = pm.Data("logit_crowd", train.logit_crowd)
        has = pm.Data("has_crowd", train.has_crowd)
        lh = pm.Data("log_horizon", train.log_horizon)
        age = pm.Data("age", train.age)
        k = pm.Data("platform_index", train.platform)
        m = pm.Data("topic_share", train.topics)
        x = pm.Data("factor_x", train.factor_x)
        ls = pm.Data("logit_scenario", train.logit_scenario)
        hs = pm.Data("has_scenario", train.has_scenario)
        y = pm.Data("y", train.y)
        w = pm.Data("weight", train.weight)
        extremize = pm.Normal("extremize", p.extremize.mean, p.extremize.sd)
        h_slope = pm.Normal("horizon_slope", p.horizon_slope.mean, p.horizon_slope.sd)
        a_slope = pm.Normal("age_slope", p.age_slope.mean, p.age_slope.sd)
        bias = pm.Normal("crowd_bias", p.crowd_bias.mean, p.crowd_bias.sd)
        platform_sd = pm.HalfNormal("platform_sd", p.platform_sd.value)
        platform = pm.Deterministic(
            "crowd_platform",
            platform_sd * pm.Normal("crowd_platform_raw", 0.0, 1.0, dims="platform"),
            dims="platform",
        )
        crowd_topic_sd = pm.HalfNormal("crowd_topic_sd", p.crowd_topic_sd.value)
        crowd_topic = pm.Deterministic(
            "crowd_topic",
            crowd_topic_sd * pm.Normal("crowd_topic_raw", 0.0, 1.0, dims="topic"),
            dims="topic",
        )
        base = pm.Normal("base", p.base_logit.mean, p.base_logit.sd)
        topic_sd = pm.HalfNormal("topic_sd", p.topic_sd.value)
        topic = pm.Deterministic(
            "topic_base", topic_sd * pm.Normal("topic_raw", 0.0, 1.0, dims="topic"), dims="topic"
        )
        weight = pm.Normal("factor_weight", p.factor_weight.mean, p.factor_weight.sd)
        pooled = pm.Beta("scenario_weight", p.scenario_weight.alpha, p.scenario_weight.beta)
        slope = extremize + h_slope * lh + a_slope * age
        eta = (
            has * (bias + platform[k] + slope * lc + pt.dot(m, crowd_topic))
            + (1 - has) * (base + pt.dot(m, topic))
            + weight * x
        )
        eta = eta + hs * pooled * (ls - eta)
        # Bernoulli log-likelihood, weighted: y log s(eta) + (1 - y) log s(-eta)
        loglik = y * -pt.softplus(-eta) + (1 - y) * -pt.softplus(eta)
        pm.Potential("resolutions", pt.sum(w * loglik))
    return model


def predict(posterior, rows: Arrays) -> np.ndarray:
    """Posterior predictive P(yes) for each row: the mean over draws of the logistic."""
    draws = posterior.stack(sample=("chain", "draw"))

    def v(name):
        return draws[name].values  # (..., sample)

    has = rows.has_crowd[:, None]
    slope = (
        v("extremize")
        + v("horizon_slope") * rows.log_horizon[:, None]
        + v("age_slope") * rows.age[:, None]
    )
    crowd = v("crowd_bias") + v("crowd_platform")[rows.platform] + slope * rows.logit_crowd[:, None]
    eta = (
        has * (crowd + rows.topics @ v("crowd_topic"))
        + (1 - has) * (v("base") + rows.topics @ v("topic_base"))
        + v("factor_weight") * rows.factor_x[:, None]
    )
    eta = eta + rows.has_scenario[:, None] * v("scenario_weight") * (
        rows.logit_scenario[:, None] - eta
    )
    return expit(eta).mean(axis=1)


@dataclass(frozen=True)
class Calibrated:
    """Predictions for the test rows, the fit's diagnostics, its training size, and the posteriors
    of the weights on the scenario's factor and on its own probability as (mean, 5 %, 95 %)."""

    probability: np.ndarray
    diagnostics: Diagnostics
    n_train: int
    factor_weight: tuple[float, float, float]
    scenario_weight: tuple[float, float, float]


def calibrate(
    train: pd.DataFrame, test: pd.DataFrame, links: QuestionLinks, settings: SamplerSettings
) -> Calibrated:
    """Fit the calibration model on resolved ``train`` rows and predict ``test`` rows.

    With no training rows the fit samples the prior: forecasts then rest on the priors alone.
    """
    platforms = [str(c) for c in train["platform"].cat.categories]
    model = build_calibration_model(arrays(train, links), links, platforms)
    key = f"calibration:{len(links.topics)}:{platforms}:{links.spec.calibration}"
    fit = sample(model, settings, key=key)
    posterior = fit.idata["posterior"].to_dataset()
    p = predict(posterior, arrays(test, links))

    def summary(name: str) -> tuple[float, float, float]:
        w = posterior[name].values.ravel()
        return (float(w.mean()), *map(float, np.quantile(w, [0.05, 0.95])))

    weights = summary("factor_weight"), summary("scenario_weight")
    return Calibrated(p, fit.diagnostics, len(train), *weights)
