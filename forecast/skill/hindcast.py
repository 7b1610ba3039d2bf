"""The scenario's own track record: what it said over time, and how that turned out.

On the first day of each origin month a fit on the evidence public before that day
(``known_evidence``: dated and published before it, counts whose period had ended) forecasts every
target by each horizon from that day, as ``forecast update --origin`` would have then; each
forecast is scored against what the whole evidence log says happened in its window, beside the
same scenario's forecast from its prior alone (no evidence). The scenario's numbers that were
chosen with hindsight are replaced first (``without_hindsight``), so an origin sees neither later
evidence nor later judgment. Each origin's result is written to its own file as soon as it is
computed, so an interrupted run resumes where it stopped and a finished one is not refitted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.evidence import Evidence
from forecast.data.files import replace_atomically
from forecast.data.inputs import Inputs
from forecast.data.scenario import Scenario
from forecast.data.target import Target
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.inference.sampling import Diagnostics, SamplerSettings, sample
from forecast.model.build import build_model
from forecast.model.design import Design, build_design
from forecast.model.posterior import Projection, project, summarize
from forecast.skill.backtest import known_evidence, seeded
from forecast.skill.scoring import brier, clustered_difference, log_loss
from forecast.skill.vintage import without_hindsight


@dataclass(frozen=True)
class HindcastSettings:
    """Which origins (the 1st of every ``every``-th month from ``start`` to ``end``), which
    horizons (months after the origin month), the vintage date of the hindsight-free scenario
    (default: the day before ``start``), and the sampler of every fit."""

    start: str
    end: str
    horizons: tuple[int, ...] = (6, 12)
    every: int = 1
    as_of: date | None = None
    sampler: SamplerSettings = field(default_factory=SamplerSettings)

    def origins(self) -> list[pd.Period]:
        months = pd.period_range(self.start, self.end, freq="M")
        return list(months[:: self.every])

    def vintage(self) -> date:
        return self.as_of or (pd.Period(self.start, "M").start_time - pd.Timedelta(days=1)).date()


@dataclass(frozen=True)
class Hindcast:
    """Per origin, target and horizon the forecast, its interval and MCSE, the prior-only
    forecast and the resolution (NaN while unknown); per origin the fit's diagnostics; the
    scores; and what ``without_hindsight`` changed."""

    forecasts: pd.DataFrame
    fits: pd.DataFrame
    changes: list[str]

    def summary(self) -> dict:
        return {"horizons": score_table(self.forecasts), "hindsight_removed": self.changes}


def resolution(s: Scenario, evidence: Evidence, target: str, start: date, end: date) -> float:
    """Whether ``target``'s outcome as labelled held by ``end`` for a forecast made on ``start``,
    from every resolution row of the log (1, 0, or NaN while the log cannot tell). An event
    happened if one of its units ended in ``[start, end]``, and did not if every unit still at
    risk on ``start`` is known open on or after ``end``; a persistent state held if it is known to
    hold on or after ``end`` and did not if it ended by ``end``. A state outcome is read from its
    count measure's rows (``state_resolution``)."""
    outcome, _, candidate = target.partition(":")
    kind = s.outcomes[outcome].kind
    if kind == "state":
        return state_resolution(s, evidence, outcome, start, end)
    units = [candidate] if candidate else list(s.outcomes[outcome].candidates) or [""]
    fr = evidence.of_kind("resolution")
    fr = fr[fr["outcome"] == outcome]
    ending = 1 if kind == "event" else 0
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    state = []
    for u in units:
        rows = fr[fr["candidate"].fillna("") == u] if u else fr
        ended = rows.loc[(rows["value"] == ending) & (rows["date"] <= hi), "date"]
        if len(ended) and ended.min() < lo:
            continue  # ended before the forecast: not at risk, the model knows it
        if len(ended):
            return 1.0 if kind == "event" else 0.0
        state.append(((rows["value"] != ending) & (rows["date"] >= hi)).any())
    if state and all(state):
        return 0.0 if kind == "event" else 1.0
    return np.nan


def state_resolution(
    s: Scenario, evidence: Evidence, outcome: str, start: date, end: date
) -> float:
    """Whether a state outcome on a count measure was reached in the whole months after
    ``start``'s month up to ``end`` (the months its forecast covers): 1 if ``window`` consecutive
    months meet the condition, 0 if every month is known and none such run exists, else NaN. A
    month is known to be below the threshold when rows cover all its days with a total below
    it, and known not to be when its rows already reach it (a week of 50 attacks is enough);
    "above" is the mirror. Other measures are not read (NaN)."""
    o = s.outcomes[outcome]
    ind = s.indicators.get(o.measure or "")
    if ind is None or ind.likelihood != "count" or o.threshold is None or o.window is None:
        return np.nan
    rows = evidence.of_kind("count")
    rows = rows[rows["target"] == o.measure]
    first, last = pd.Period(start, "M") + 1, pd.Period(end, "M")
    state = []  # per month: True meets the condition, False does not, None unknown
    for month in pd.period_range(first, last, freq="M"):
        inside = rows[rows["date"].dt.to_period("M") == month]
        total = float(inside["value"].sum())
        whole = float(pd.to_numeric(inside["exposure_days"]).sum()) >= month.days_in_month
        limit = o.threshold.value
        if o.condition == "below":
            state.append(True if whole and total < limit else False if total >= limit else None)
        else:
            state.append(True if total > limit else False if whole else None)
    run, need = 0, int(o.window.value)
    for ok in state:
        run = run + 1 if ok else 0
        if run >= need:
            return 1.0
    return 0.0 if all(x is not None for x in state) else np.nan


@dataclass(frozen=True)
class PriorFit:
    """The scenario fitted to none of the evidence (an empty cut of it) up to a month: projected
    from a later origin, its forecast is the scenario's prior alone."""

    design: Design
    idata: xr.DataTree
    diagnostics: Diagnostics

    @classmethod
    def of(cls, s: Scenario, evidence: Evidence, month: pd.Period, settings: SamplerSettings):
        nothing = evidence.until(s.start_date - timedelta(days=1))
        d = build_design(s, nothing, n_months=s.month_index(month.start_time.date()))
        fit = sample(build_model(s, d), settings)
        return cls(design=d, idata=fit.idata, diagnostics=fit.diagnostics)

    def forecast(self, s: Scenario, origin: date, horizons: Sequence[int], seed: int) -> pd.Series:
        """P(by each horizon) from ``origin``, in ``summarize``'s row order."""
        proj = project(
            s, self.design, self.idata, seed=seed, origin=origin, horizons=tuple(horizons)
        )
        return summarize(proj)["probability"]


def forecast_at(
    inputs: Inputs,
    s: Scenario,
    month: pd.Period,
    horizons: Sequence[int],
    settings: SamplerSettings,
    gate: Gate = DEFAULT_GATE,
) -> tuple[pd.DataFrame, dict]:
    """Fit on the evidence public before ``month`` began and forecast every target from its first
    day; the forecast table (with each probability's MCSE) and the fit's diagnostics."""
    t0 = time.perf_counter()
    origin = month.start_time.date()
    ev = known_evidence(inputs.evidence, month)
    d = build_design(s, ev, n_months=s.month_index(origin))
    fit = sample(build_model(s, d), settings, gate=gate)
    proj = project(s, d, fit.idata, seed=settings.seed, origin=origin, horizons=tuple(horizons))
    table = summarize(proj).assign(mcse=mcse(proj).to_numpy())
    dg = fit.diagnostics
    info = {
        "origin": origin.isoformat(),
        "rows": len(ev.frame),
        "converged": dg.converged,
        "max_rhat": dg.max_rhat,
        "min_ess_bulk": dg.min_ess_bulk,
        "divergences": dg.divergences,
        "attempts": 1 + len(fit.failed_attempts),
        "problems": "; ".join(dg.problems),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return table, info


def mcse(proj: Projection) -> pd.Series:
    """Monte Carlo standard error of each probability's mean, in ``summarize``'s row order
    (draws taken as independent: the projection's paths are, the posterior draws nearly so)."""
    p = proj.probability
    se = p.std("sample") / np.sqrt(p.sizes["sample"])
    return pd.Series(
        [
            float(se.sel(target=t, horizon=h))
            for t in p["target"].values
            for h in p["horizon"].values
        ]
    )


def hindcast_key(inputs: Inputs, s: Scenario, settings: HindcastSettings, month) -> str:
    """What an origin's result depends on: the input files, the hindsight-free scenario (its
    vintage included), the horizons, the sampler settings and the origin; not which other
    origins are in the run."""
    parts = [
        inputs.input_hash(),
        s.model_dump_json(),
        json.dumps([settings.horizons, asdict(settings.sampler)]),
        str(month),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def run_hindcast(
    inputs: Inputs,
    settings: HindcastSettings,
    folder: Path,
    *,
    gate: Gate = DEFAULT_GATE,
    on_phase: Callable[[str], None] | None = None,
) -> Hindcast:
    """Forecast from every origin of ``settings`` and score what resolved. Each origin's result
    is kept in ``folder/origins/`` under a key of everything it depends on; an origin whose file
    has the same key is read back instead of refitted. The prior-only forecasts come from one fit
    on no evidence up to the first origin. ``on_phase`` hears "origin k of n" as each is done."""
    phase = on_phase or (lambda _msg: None)
    s, changes = without_hindsight(inputs.scenario, inputs.evidence, settings.vintage())
    keep = folder / "origins"
    keep.mkdir(parents=True, exist_ok=True)
    months = settings.origins()
    prior: PriorFit | None = None
    tables, infos = [], []
    for k, month in enumerate(months, 1):
        key = hindcast_key(inputs, s, settings, month)
        path = keep / f"{month}.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        if saved.get("key") == key:
            table, info, how = pd.DataFrame(saved["forecasts"]), saved["fit"], "reused"
        else:
            sampler = seeded(settings.sampler, settings.sampler.seed, month)
            table, info = forecast_at(inputs, s, month, settings.horizons, sampler, gate)
            if prior is None:
                prior = PriorFit.of(s, inputs.evidence, months[0], settings.sampler)
            origin = month.start_time.date()
            table["prior"] = prior.forecast(s, origin, settings.horizons, sampler.seed).to_numpy()
            info |= {
                "prior_converged": prior.diagnostics.converged,
                "prior_max_rhat": prior.diagnostics.max_rhat,
            }
            record = {"key": key, "fit": info, "forecasts": table.to_dict("records")}
            replace_atomically(path, json.dumps(record, default=str))
            how = "fitted"
        tables.append(table.assign(origin=info["origin"]))
        infos.append(info)
        phase(f"origin {month}: {how} ({k} of {len(months)} done)")
    forecasts = resolved(s, inputs.evidence, pd.concat(tables, ignore_index=True))
    return Hindcast(forecasts=forecasts, fits=pd.DataFrame(infos), changes=changes)


def resolved(s: Scenario, ev: Evidence, table: pd.DataFrame) -> pd.DataFrame:
    """The forecast table with each row's target label and its resolution (``resolution``)."""
    target = [
        str(Target(o, c if isinstance(c, str) and c else None))
        for o, c in zip(table["outcome"], table["candidate"], strict=True)
    ]
    y = [
        resolution(s, ev, t, date.fromisoformat(o), date.fromisoformat(e))
        for t, o, e in zip(target, table["origin"], table["end_date"], strict=True)
    ]
    return table.assign(target=target, y=y)


def score_table(forecasts: pd.DataFrame) -> dict:
    """Per horizon, over the forecasts whose outcome is known: how many, from how many origins,
    how many happened, the mean Brier and log loss of the model and of its prior alone, and
    model minus prior with a 90% interval that resamples whole targets (a target's forecasts
    from consecutive origins are far from independent)."""
    out = {}
    for h, g in forecasts.groupby("horizon_months"):
        g = g[g["y"].notna()]
        y, model, prior = (g[c].to_numpy(float) for c in ("y", "probability", "prior"))
        row: dict = {
            "n": len(g),
            "n_origins": int(g["origin"].nunique()),
            "n_targets": int(g["target"].nunique()),
            "n_happened": int(y.sum()),
        }
        for name, fn in (("brier", brier), ("log", log_loss)):
            row[f"model_{name}"] = fn(model, y) if len(g) else None
            row[f"prior_{name}"] = fn(prior, y) if len(g) else None
            row[f"model_minus_prior_{name}"] = (
                clustered_difference(model, prior, y, g["target"], score=name) if len(g) else None
            )
        out[str(h)] = row
    return out
