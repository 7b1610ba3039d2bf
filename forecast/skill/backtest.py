"""Rolling-origin backtest: forecast every resolved question at fixed calendar origins and at
fixed leads before its scheduled close (``forecast.skill.origins``), using only what was public at
the origin, and score the forecasts against the crowd, the fixed extremized crowd and two
baselines, with intervals that resample whole questions. The model's forecast is the learned
calibration stacked with the fixed extremized crowd (``forecast.skill.stacking``).

Work is grouped by origin month: one scenario fit per month (evidence and the crowd of questions
asking about a scenario target, public before the month began; the factor levels at that month
feed questions linked to a factor, and the scenario's own probability questions asking about a
target: ``forecast.skill.targets``) and one calibration fit per month (questions resolved before
the month began). A forecast at an origin therefore never sees evidence, crowd points,
resolutions or calibration data dated after it. A scenario whose numbers were chosen with data
after an origin (``[vintage] as_of``) is kept out there, unless it is first rewritten as of an
earlier day (``BacktestSettings.as_of``). Fits at different months are independent and fan out
over a Dask cluster when one is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from forecast.data.evidence import Evidence
from forecast.data.inputs import Inputs
from forecast.data.questions import Questions
from forecast.data.scenario import Scenario
from forecast.inference.sampling import Diagnostics, SamplerSettings, sample
from forecast.model.build import build_model
from forecast.model.design import Design, build_design
from forecast.skill.calibration import calibrate
from forecast.skill.flags import row_flags
from forecast.skill.links import QuestionLinks
from forecast.skill.origins import CALENDAR, plan
from forecast.skill.scoring import reliability, score_set
from forecast.skill.stacking import pool, stacking_weight
from forecast.skill.targets import covers, crowd_rows, window_probability, with_crowd
from forecast.skill.vintage import without_hindsight


@dataclass(frozen=True)
class BacktestSettings:
    """Where to forecast, the fixed baselines, the sampler settings of the two kinds of fit, the
    seed and the bootstrap size."""

    leads: tuple[int, ...] = (7, 30)  # days before the scheduled close
    # Metaculus and GJP score a question's forecasts averaged over the time it is open; twice a
    # month is dense enough for questions open a few weeks and keeps one fit per origin month.
    calendar_days: tuple[int, ...] = (1, 15)
    # A crowd point older than this is no forecast of the present: platforms with a live crowd
    # (Metaculus, Polymarket) update daily, and a month covers ForecastBench's INFER refreshes.
    max_crowd_age: int = 30
    # The fixed extremized crowd, expit(1.5 logit(crowd)): the centre of Baron et al. (2014)'s
    # 1.2-2.5 range and the calibration prior's mean; no fitting, so gains over it are the model's.
    extremize: float = 1.5
    # the update's own fit (4 x 1000 + 1000, low-rank metric, one refit with more draws after a
    # failed gate) on one core per worker: the short fits once used here (2 x 300 + 400) failed
    # the gate at all 30 dev origin months
    scenario: SamplerSettings = field(default_factory=lambda: SamplerSettings(cores=1, retries=1))
    calibration: SamplerSettings = field(
        default_factory=lambda: SamplerSettings(chains=4, draws=1000, tune=1000, cores=1)
    )
    seed: int = 1
    bootstrap: int = 2000
    use_factors: bool = True  # False: crowd calibration only (no scenario fits), for comparison
    hindsight: bool = False  # True: use scenario fits before its vintage (rows are flagged)
    # the scenario as it could have been written on this day (``forecast.skill.vintage``): its
    # numbers chosen with later data replaced, its fits then serve the origins after the day
    as_of: date | None = None


@dataclass(frozen=True)
class Backtest:
    """Per-origin forecasts, scores per lead and time-averaged over calendar origins, reliability
    tables and every fit's diagnostics."""

    forecasts: pd.DataFrame
    scores: dict[int, dict]
    calendar: dict
    reliability: pd.DataFrame
    fits: pd.DataFrame

    def summary(self) -> dict:
        """The scores as one JSON-ready object: ``leads`` by lead, and ``calendar``."""
        return {"leads": {str(k): v for k, v in self.scores.items()}, "calendar": self.calendar}


def _month_start(month: pd.Period) -> pd.Timestamp:
    return month.start_time.normalize()


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


def scenario_safe(scenario: Scenario, month: pd.Period) -> bool:
    """Whether the scenario's numbers were chosen with data from before ``month`` only (its
    ``[vintage] as_of`` is before the month began); a scenario without a vintage never is."""
    v = scenario.vintage
    return v is not None and pd.Timestamp(v.as_of) < _month_start(month)


def scenario_months(inputs: Inputs, plan_rows: pd.DataFrame, hindsight: bool) -> list[pd.Period]:
    """Origin months of questions linked to a factor or asking about a target, inside the
    scenario's span, where its fit may be used: after its vintage, or anywhere with
    ``hindsight``."""
    s = inputs.scenario
    lo, hi = pd.Period(s.start_date, "M"), pd.Period(s.end_date, "M")
    asks = plan_rows["target"].notna() & plan_rows["window_end"].notna()
    linked = plan_rows[plan_rows["factor"].notna() | asks]
    return sorted(
        {m for m in linked["month"] if lo <= m <= hi and (hindsight or scenario_safe(s, m))}
    )


@dataclass(frozen=True)
class ScenarioAt:
    """What one scenario fit gives an origin month: every factor's posterior mean at the month,
    the scenario's probability of each asked question (plan row index -> mean, 5 %, 95 %), and
    the fit's row."""

    levels: dict[str, float]
    probabilities: dict[int, tuple[float, float, float]]
    info: dict


def scenario_design(
    inputs: Inputs, month: pd.Period, crowd: Evidence | None = None
) -> tuple[Design, int]:
    """The design of ``scenario_at``'s fit and its number of evidence rows: the scenario's whole
    period, every forecast source of the log and the crowd, and indicator levels centred on the
    months known at the origin (each origin's fit is its own: no draws are shared)."""
    s = inputs.scenario
    extra = crowd.frame["forecaster"] if crowd is not None else []
    ev = known_evidence(with_crowd(inputs.evidence, crowd), month)
    n_months = s.month_index(s.end_date) + 1
    sources = sorted(set(inputs.evidence.of_kind("forecast")["forecaster"]) | set(extra))
    t = s.month_index(_month_start(month).date())
    d = build_design(s, ev, n_months=n_months, fc_sources=sources, centre_through=t)
    return d, len(ev.frame)


def scenario_at(
    inputs: Inputs,
    month: pd.Period,
    settings: SamplerSettings,
    asked: pd.DataFrame | None = None,
    crowd: Evidence | None = None,
) -> ScenarioAt:
    """A fit on the evidence known before ``month`` began, with the ``crowd`` rows of linked
    questions public by then (``forecast.skill.targets``): the factor levels at the month, and
    the probability of each ``asked`` plan row whose window the design spans. The design spans
    the scenario's whole period and names every forecast source of the log and the crowd, so
    every month's fit shares one compiled model; months after the evidence are projected by the
    factor dynamics."""
    s = inputs.scenario
    d, rows = scenario_design(inputs, month, crowd)
    fit = sample(build_model(s, d), settings)
    t = s.month_index(_month_start(month).date())
    f = fit.idata["posterior"]["f"].mean(("chain", "draw")).values[:, t]
    probabilities = {}
    for r in asked.itertuples() if asked is not None else ():
        start, end = r.origin.date(), r.window_end.date()
        if covers(s, d, start, end):
            p = window_probability(s, d, fit.idata, r.target, r.target_sign, start, end)
            probabilities[r.Index] = (float(p.mean()), *map(float, np.quantile(p, [0.05, 0.95])))
    info = _fit_info("scenario", month, rows, fit.diagnostics)
    return ScenarioAt(dict(zip(s.factors, map(float, f), strict=True)), probabilities, info)


def calibrate_month(
    month: pd.Period,
    train: pd.DataFrame,
    test: pd.DataFrame,
    links: QuestionLinks,
    settings: SamplerSettings,
) -> tuple[np.ndarray, dict]:
    """Calibration fit on ``train`` (resolved before ``month``) and predictions for ``test``; the
    fit's row records the posteriors of the weights on the scenario's factor and on its own
    probability (mean, 5 %, 95 %)."""
    out = calibrate(train, test, links, settings)
    info = _fit_info("calibration", month, out.n_train, out.diagnostics)
    for name, w in (("factor_weight", out.factor_weight), ("scenario_weight", out.scenario_weight)):
        info |= {f"{name}_{k}": v for k, v in zip(("mean", "lower", "upper"), w, strict=True)}
    return out.probability, info


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


def seeded(settings: SamplerSettings, seed: int, month: pd.Period) -> SamplerSettings:
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
    """Forecast and score every resolved question at every origin (see the module docstring)."""
    settings = settings or BacktestSettings()
    phase = on_phase or (lambda _msg: None)
    if settings.as_of is not None:
        s, _ = without_hindsight(inputs.scenario, inputs.evidence, settings.as_of)
        inputs = replace(inputs, scenario=s)
    rows = plan(questions, links, settings.leads, settings.calendar_days, settings.max_crowd_age)
    if rows.empty:
        raise ValueError("no resolved questions with an origin to backtest")
    fits = _scenario_fits(rows, questions, inputs, links, settings, client, phase)
    fits += _calibration_fits(rows, links, settings, client, phase)
    rows["extremized"] = extremized(rows["crowd"], settings.extremize, links)
    months = sorted(set(rows["month"]))
    stack = stack_weights(rows, months, settings.seed)
    rows["stack_weight"] = [stack[m].mean for m in rows["month"]]
    rows["model"] = pool(rows["calibrated"], rows["extremized"], rows["stack_weight"])
    base = {m: _base_rate(rows, _month_start(m)) for m in months}
    rows["base_rate"] = [base[m] for m in rows["month"]]
    rows["half"] = 0.5
    use = settings.use_factors
    safe = {m: scenario_safe(inputs.scenario, m) for m in months} if use else {}
    failed = {f["month"] for f in fits if f["fit"] == "scenario" and not f.get("converged", True)}
    rows["flag"] = [
        row_flags(r, use, safe.get(r.month, False), str(r.month) in failed)
        for r in rows.itertuples()
    ]
    fit_table = pd.DataFrame(fits)
    weights = fit_table[fit_table["fit"] == "calibration"].set_index("month")
    factored, asked = rows["factor_x"].notna(), rows["scenario"].notna()

    def scored(g: pd.DataFrame) -> dict:
        last = stack[g["month"].max()].as_dict() if len(g) else None
        return score_set(
            g,
            settings,
            scenario_weight=_weight("scenario_weight", weights, g, asked),
            factor_weight=_weight("factor_weight", weights, g, factored),
            stack_weight=last,
        )

    compared = rows[rows["crowd"].notna()]
    rel = pd.concat(
        [
            reliability(g[who], g["y"]).assign(origins=name, forecaster=who)
            for name, g in _origin_sets(compared, settings.leads)
            for who in ("model", "crowd", "extremized")
        ],
        ignore_index=True,
    )
    return Backtest(
        forecasts=rows.drop(columns=["topics", "weight"]).assign(month=rows["month"].astype(str)),
        scores={lead: scored(rows[rows["lead"] == lead]) for lead in settings.leads},
        calendar=scored(rows[rows["kind"] == CALENDAR]),
        reliability=rel,
        fits=fit_table,
    )


def _scenario_fits(
    rows, questions, inputs, links, settings: BacktestSettings, client, phase
) -> list[dict]:
    """One scenario fit per origin month with linked questions it may serve; adds each row's
    ``factor_level`` and signed ``factor_x``, and for questions asking about a target the
    scenario's probability ``scenario`` with its interval (NaN where no fit serves it). Returns
    the fits' rows."""
    months = scenario_months(inputs, rows, settings.hindsight) if settings.use_factors else []
    phase(f"{len(months)} scenario fits (one per origin month with linked questions)")
    asked = rows[rows["target"].notna() & rows["window_end"].notna()].drop(columns="topics")
    floor = links.spec.calibration.crowd_floor.value
    crowd = crowd_rows(inputs.scenario, questions, asked, floor) if months else None
    shared = client.scatter(inputs, broadcast=True) if client is not None else inputs
    calls = [
        (shared, m, seeded(settings.scenario, settings.seed, m), asked[asked["month"] == m], crowd)
        for m in months
    ]
    done = _map(client, scenario_at, calls, lambda k, n: phase(f"scenario fit {k} of {n} done"))
    level_of = {m: at.levels for m, at in zip(months, done, strict=True)}
    rows["factor_level"] = [
        level_of[m][f] if isinstance(f, str) and m in level_of else np.nan
        for m, f in zip(rows["month"], rows["factor"], strict=True)
    ]
    rows["factor_x"] = rows["sign"] * rows["factor_level"]
    p = {i: v for at in done for i, v in at.probabilities.items()}
    for j, name in enumerate(("scenario", "scenario_lower", "scenario_upper")):
        rows[name] = [p[i][j] if i in p else np.nan for i in rows.index]
    return [at.info for at in done]


def _calibration_fits(rows, links, settings: BacktestSettings, client, phase) -> list[dict]:
    """One calibration fit per origin month, trained on the questions resolved before it; adds
    each row's ``calibrated`` probability and ``n_train``. Returns the fits' rows."""
    months = sorted(set(rows["month"]))
    phase(f"{len(months)} calibration fits (one per origin month)")
    calls = []
    for m in months:
        train, test = calibration_split(rows, m)
        calls.append((m, train, test, links, seeded(settings.calibration, settings.seed, m)))
    results = _map(
        client, calibrate_month, calls, lambda k, n: phase(f"calibration fit {k} of {n} done")
    )
    # every row's month has its fit: together the fits' test rows are all rows
    fitted = pd.concat(
        [
            pd.DataFrame({"p": p, "n_train": len(train)}, index=test.index)
            for (_, train, test, *_), (p, _) in zip(calls, results, strict=True)
        ]
    )
    rows["calibrated"], rows["n_train"] = fitted["p"], fitted["n_train"]
    return [info for _, info in results]


def _origin_sets(rows: pd.DataFrame, leads) -> list[tuple[str, pd.DataFrame]]:
    """The rows of each lead (named ``"7 days"``...) and the calendar rows (``"calendar"``)."""
    sets = [(f"{lead} days", rows[rows["lead"] == lead]) for lead in leads]
    return [*sets, (CALENDAR, rows[rows["kind"] == CALENDAR])]


def extremized(crowd: pd.Series, slope: float, links: QuestionLinks) -> pd.Series:
    """The fixed extremized crowd ``expit(slope * logit(crowd))``, the crowd clipped to the links
    file's floor first (as the calibration model clips it); NaN where there is no crowd."""
    floor = links.spec.calibration.crowd_floor.value
    c = crowd.to_numpy(float)
    return pd.Series(expit(slope * logit(np.clip(c, floor, 1 - floor))), index=crowd.index)


def _weight(name: str, weights: pd.DataFrame, rows: pd.DataFrame, used: pd.Series) -> dict | None:
    """The weight ``name`` (``factor_weight``, ``scenario_weight``) in the last calibration fit
    these rows used, or ``None`` if none of them had what it weighs (``used``): it is then its
    prior."""
    if rows.empty or not used[rows.index].any():
        return None
    last = weights.loc[str(rows["month"].max())]
    return {k: float(last[f"{name}_{k}"]) for k in ("mean", "lower", "upper")}


def _base_rate(rows: pd.DataFrame, before: pd.Timestamp) -> float:
    """Share of "yes" among questions resolved before ``before`` (Laplace's rule: (k+1)/(n+2))."""
    past = rows[rows["resolved"] < before].drop_duplicates("key")
    return float((past["y"].sum() + 1) / (len(past) + 2))


def stack_weights(rows: pd.DataFrame, months, seed: int) -> dict:
    """The stacking weight of each origin month, from the questions resolved before it began
    (``forecast.skill.stacking``)."""
    return {m: stacking_weight(calibration_split(rows, m)[0], seed=seed) for m in months}
