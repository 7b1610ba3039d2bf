"""Rolling-origin backtest: forecast every resolved question at each lead before its resolution,
using only what was known at the origin, and score the forecasts against the crowd and baselines.

For a question and a lead of ``L`` days the origin is its reference date less ``L`` days. Work is
grouped by origin month: one scenario fit per month (evidence known before the month began; the
factor levels at that month feed questions linked to a factor) and one calibration fit per month
(questions resolved before the month began). A forecast at an origin therefore never sees evidence,
crowd points, resolutions or calibration data dated after it. Fits at different months are
independent and fan out over a Dask cluster when one is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from forecast.data.evidence import Evidence
from forecast.data.inputs import Inputs
from forecast.data.questions import Questions
from forecast.inference.sampling import Diagnostics, SamplerSettings, sample
from forecast.model.build import build_model
from forecast.model.design import build_design
from forecast.skill.calibration import calibrate
from forecast.skill.links import QuestionLinks
from forecast.skill.scoring import bootstrap_difference, brier, log_loss, reliability

FORECASTERS = ("model", "crowd", "base_rate", "half")


@dataclass(frozen=True)
class BacktestSettings:
    """Sampler settings of the two kinds of fit, the seed, and the bootstrap size."""

    leads: tuple[int, ...] = (7, 30)
    scenario: SamplerSettings = field(
        default_factory=lambda: SamplerSettings(chains=2, draws=300, tune=400, cores=1)
    )
    calibration: SamplerSettings = field(
        default_factory=lambda: SamplerSettings(chains=4, draws=1000, tune=1000, cores=1)
    )
    seed: int = 1
    bootstrap: int = 2000
    use_factors: bool = True  # False: crowd calibration only (no scenario fits), for comparison


@dataclass(frozen=True)
class Backtest:
    """Per-question forecasts, scores per lead, reliability tables and every fit's diagnostics."""

    forecasts: pd.DataFrame
    scores: dict[int, dict]
    reliability: pd.DataFrame
    fits: pd.DataFrame


def _month_start(month: pd.Period) -> pd.Timestamp:
    return month.start_time.normalize()


def plan(questions: Questions, links: QuestionLinks, leads: Sequence[int]) -> pd.DataFrame:
    """One row per resolved question and lead: its origin, crowd forecast there, link, topics."""
    rows = []
    for q in questions.questions.itertuples():
        if not np.isfinite(q.resolution):
            continue
        link = links.link(q.key, q.title, q.tags)
        for lead in leads:
            origin = q.reference - pd.Timedelta(days=int(lead))
            crowd, crowd_date = questions.crowd_at(q.key, origin)
            rows.append(
                {
                    "key": q.key,
                    "title": q.title,
                    "lead": int(lead),
                    "origin": origin,
                    "month": origin.to_period("M"),
                    "resolved": q.resolved,
                    "y": q.resolution,
                    "crowd": crowd,
                    "crowd_date": crowd_date,
                    "link": link.why,
                    "factor": link.factor,
                    "sign": link.sign,
                    "topics": links.topic_weights(q.tags),
                    "weight": 1.0 / len(leads),
                }
            )
    return pd.DataFrame(rows)


def evidence_cutoff(month: pd.Period) -> date:
    """The last day a fit for origin month ``month`` may see: the day before the month begins."""
    return (_month_start(month) - pd.Timedelta(days=1)).date()


def known_evidence(evidence: Evidence, month: pd.Period) -> Evidence:
    """The evidence known before ``month`` began: rows dated up to :func:`evidence_cutoff`, and
    count rows only if their whole counting period had ended by then (``Evidence.until``)."""
    return evidence.until(evidence_cutoff(month))


def calibration_split(rows: pd.DataFrame, month: pd.Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan rows a calibration fit for ``month`` trains on (questions whose outcome was known,
    ``resolved``, before the month began) and the rows it forecasts (origins in ``month``)."""
    return rows[rows["resolved"] < _month_start(month)], rows[rows["month"] == month]


def scenario_months(inputs: Inputs, plan_rows: pd.DataFrame) -> list[pd.Period]:
    """Origin months of linked questions that fall inside the scenario's span."""
    s = inputs.scenario
    lo, hi = pd.Period(s.start_date, "M"), pd.Period(s.end_date, "M")
    linked = plan_rows[plan_rows["factor"].notna()]
    return sorted({m for m in linked["month"] if lo <= m <= hi})


def factor_levels(
    inputs: Inputs, month: pd.Period, settings: SamplerSettings
) -> tuple[dict[str, float], dict]:
    """Posterior mean of every factor at ``month`` from a fit on the evidence known before the
    month began. The design spans the scenario's whole period and names every forecast source of
    the log, so every month's fit shares one compiled model; months after the evidence are
    projected by the factor dynamics."""
    s = inputs.scenario
    ev = known_evidence(inputs.evidence, month)
    n_months = s.month_index(date.fromisoformat(f"{s.end}-01")) + 1
    sources = sorted(set(inputs.evidence.of_kind("forecast")["forecaster"]))
    d = build_design(s, ev, n_months=n_months, fc_sources=sources)
    fit = sample(build_model(s, d), settings)
    t = s.month_index(_month_start(month).date())
    f = fit.idata["posterior"]["f"].mean(("chain", "draw")).values[:, t]
    info = _fit_info("scenario", month, len(ev.frame), fit.diagnostics)
    return dict(zip(s.factors, map(float, f), strict=True)), info


def calibrate_month(
    month: pd.Period,
    train: pd.DataFrame,
    test: pd.DataFrame,
    links: QuestionLinks,
    settings: SamplerSettings,
) -> tuple[np.ndarray, dict]:
    """Calibration fit on ``train`` (resolved before ``month``) and predictions for ``test``."""
    out = calibrate(train, test, links, settings)
    return out.probability, _fit_info("calibration", month, out.n_train, out.diagnostics)


def _fit_info(kind: str, month: pd.Period, rows: int, dg: Diagnostics) -> dict:
    """One row of the backtest's fit table."""
    return {
        "fit": kind,
        "month": str(month),
        "rows": rows,
        "converged": dg.converged,
        "max_rhat": dg.max_rhat,
        "min_ess_bulk": dg.min_ess_bulk,
        "divergences": dg.divergences,
    }


def _seeded(settings: SamplerSettings, seed: int, month: pd.Period) -> SamplerSettings:
    """A seed per month, independent of which other months are in the run."""
    return replace(settings, seed=seed * 100_003 + month.ordinal)


def _map(
    client, fn: Callable, calls: list[tuple], done: Callable[[int, int], None] | None = None
) -> list:
    """``fn(*args)`` for each call: on the Dask cluster if given, else one by one here.
    ``done(k, n)`` is called as the k-th of n calls finishes (in submission order)."""
    done = done or (lambda _k, _n: None)
    n = len(calls)
    if client is None:
        out = []
        for k, args in enumerate(calls, 1):
            out.append(fn(*args))
            done(k, n)
        return out
    futures = [client.submit(fn, *args, pure=False) for args in calls]
    for k, future in enumerate(futures, 1):
        future.result()  # waits; raises the call's error here
        done(k, n)
    return client.gather(futures)


def run_backtest(
    questions: Questions,
    inputs: Inputs,
    links: QuestionLinks,
    settings: BacktestSettings | None = None,
    *,
    client=None,
    on_phase: Callable[[str], None] | None = None,
) -> Backtest:
    """Forecast and score every resolved question at every lead (see the module docstring)."""
    settings = settings or BacktestSettings()
    phase = on_phase or (lambda _msg: None)
    rows = plan(questions, links, settings.leads)
    if rows.empty:
        raise ValueError("no resolved questions to backtest")

    months = scenario_months(inputs, rows) if settings.use_factors else []
    phase(f"{len(months)} scenario fits (one per origin month with linked questions)")
    shared = client.scatter(inputs, broadcast=True) if client is not None else inputs
    levels = _map(
        client,
        factor_levels,
        [(shared, m, _seeded(settings.scenario, settings.seed, m)) for m in months],
        lambda k, n: phase(f"scenario fit {k} of {n} done"),
    )
    level_of = {m: lv for m, (lv, _) in zip(months, levels, strict=True)}
    fits = [info for _, info in levels]
    rows["factor_level"] = [
        level_of[m][f] if isinstance(f, str) and m in level_of else np.nan
        for m, f in zip(rows["month"], rows["factor"], strict=True)
    ]
    rows["factor_x"] = rows["sign"] * rows["factor_level"]

    origin_months = sorted(set(rows["month"]))
    phase(f"{len(origin_months)} calibration fits (one per origin month)")
    calls = []
    for m in origin_months:
        train, test = calibration_split(rows, m)
        calls.append((m, train, test, links, _seeded(settings.calibration, settings.seed, m)))
    results = _map(
        client, calibrate_month, calls, lambda k, n: phase(f"calibration fit {k} of {n} done")
    )
    # every row's month has its fit: together the fits' test rows are all rows
    fitted = pd.concat(
        [
            pd.DataFrame({"model": p, "n_train": len(train)}, index=test.index)
            for (_, train, test, *_), (p, _) in zip(calls, results, strict=True)
        ]
    )
    rows["model"], rows["n_train"] = fitted["model"], fitted["n_train"]
    fits += [info for _, info in results]

    rows["base_rate"] = [_base_rate(rows, _month_start(m)) for m in rows["month"]]
    rows["half"] = 0.5
    rows["flag"] = [_flags(r, settings.use_factors) for r in rows.itertuples()]
    scores = {lead: score_lead(rows[rows["lead"] == lead], settings) for lead in settings.leads}
    compared = rows[rows["crowd"].notna()]
    rel = pd.concat(
        [
            reliability(g[who], g["y"]).assign(lead=lead, forecaster=who)
            for lead, g in compared.groupby("lead")
            for who in ("model", "crowd")
        ],
        ignore_index=True,
    )
    out = rows.drop(columns=["topics", "weight", "month"])
    return Backtest(forecasts=out, scores=scores, reliability=rel, fits=pd.DataFrame(fits))


def _base_rate(rows: pd.DataFrame, before: pd.Timestamp) -> float:
    """Share of "yes" among questions resolved before ``before`` (Laplace's rule: (k+1)/(n+2))."""
    past = rows[rows["resolved"] < before].drop_duplicates("key")
    return float((past["y"].sum() + 1) / (len(past) + 2))


def _flags(r, use_factors: bool) -> str:
    flags = []
    if not np.isfinite(r.crowd):
        flags.append("no crowd forecast at the origin")
    if r.link == "unrelated":
        flags.append("not related to the scenario: calibrated crowd or base rate only")
    elif use_factors and isinstance(r.factor, str) and not np.isfinite(r.factor_level):
        flags.append("origin outside the scenario's span: no factor information")
    return "; ".join(flags)


def score_lead(rows: pd.DataFrame, settings: BacktestSettings) -> dict:
    """Scores at one lead: on questions with a crowd forecast (the comparison set) and on all."""
    both = rows[rows["crowd"].notna()]
    out: dict = {"n": len(both), "n_all": len(rows)}
    for who in FORECASTERS:
        out[f"{who}_brier"] = brier(both[who], both["y"]) if len(both) else None
        out[f"{who}_log"] = log_loss(both[who], both["y"]) if len(both) else None
    for who in ("model", "base_rate", "half"):
        out[f"{who}_brier_all"] = brier(rows[who], rows["y"])
        out[f"{who}_log_all"] = log_loss(rows[who], rows["y"])
    if len(both):
        for name, score in (("brier", brier), ("log", log_loss)):
            d, lo, hi = bootstrap_difference(
                both["model"],
                both["crowd"],
                both["y"],
                score=score,
                n=settings.bootstrap,
                seed=settings.seed,
            )
            out[f"model_minus_crowd_{name}"] = {"value": d, "lower": lo, "upper": hi}
        out["brier_ratio"] = out["model_brier"] / out["crowd_brier"] if out["crowd_brier"] else None
    return out
