"""Evidence → arrays: index vectors and weights that the model's likelihood terms consume.

Everything the model needs from the evidence is computed here once, as plain numpy, so the model
builder stays declarative and the arrays can be swapped into ``pm.Data`` on a warm update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from forecast.data.errors import InputError, Problem
from forecast.data.evidence import Evidence, dated_to_the_day
from forecast.data.months import month_start
from forecast.data.scenario import Scenario
from forecast.data.target import Target
from forecast.model.parts import (
    Counts,
    Events,
    Forecasts,
    Indicators,
    LikelihoodRatios,
    Ratings,
    Resolutions,
)


@dataclass(frozen=True)
class Units:
    """Hazard units: each outcome without candidates, and each candidate of outcomes with them.

    ``labels`` are ``outcome`` or ``outcome:candidate``; ``outcome_idx`` indexes hazard outcomes.
    """

    outcomes: list[str]  # event and persistence outcomes (those with a hazard)
    labels: list[str]
    outcome_idx: np.ndarray  # per unit
    candidate_idx: np.ndarray  # per unit, -1 for outcomes without candidates
    candidates: list[str]  # flattened "outcome:candidate" labels

    def units_of(self, outcome: str, candidate: str | None) -> list[int]:
        if candidate is not None:
            return [self.labels.index(str(Target(outcome, candidate)))]
        j = self.outcomes.index(outcome)
        return [u for u in range(len(self.labels)) if self.outcome_idx[u] == j]


def hazard_units(s: Scenario) -> Units:
    outcomes = [n for n, o in s.outcomes.items() if o.kind != "state"]
    labels, oidx, cidx, cands = [], [], [], []
    for j, name in enumerate(outcomes):
        o = s.outcomes[name]
        if not o.candidates:
            labels.append(name)
            oidx.append(j)
            cidx.append(-1)
        for c in o.candidates:
            cidx.append(len(cands))
            cands.append(str(Target(name, c)))
            labels.append(cands[-1])
            oidx.append(j)
    return Units(outcomes, labels, np.array(oidx, int), np.array(cidx, int), cands)


def hazard_direction(s: Scenario, outcome: str) -> float:
    """+1 where a higher hazard makes the outcome as labelled more likely (an event outcome), -1
    where it makes it less likely (a persistence outcome: the hazard is of the state ending).
    Outcome-coded news is signed like the label ("+ = more likely"); the model reads hazards."""
    return -1.0 if s.outcomes[outcome].kind == "persistence" else 1.0


@dataclass(frozen=True)
class Design:
    """All evidence as arrays, one typed part per evidence kind. Row ids point back to evidence
    frame rows."""

    n_months: int
    months: list[str]
    units: Units
    # 1 on the months whose factor mean indicator levels are sampled at
    # (``forecast.model.terms._intercept``; ``build_design``'s ``centre_through``), else 0
    centre: np.ndarray
    indicator: Indicators = field(default_factory=Indicators)
    count: Counts = field(default_factory=Counts)
    rating: dict[str, Ratings] = field(default_factory=dict)
    event: Events = field(default_factory=Events)
    resolution: Resolutions = field(default_factory=Resolutions)
    forecast: Forecasts = field(default_factory=Forecasts)
    likelihood_ratio: LikelihoodRatios = field(default_factory=LikelihoodRatios)

    @property
    def origin(self) -> int:
        """Index of the last fitted month (the last with evidence, unless ``n_months`` says
        otherwise): the default forecast origin; ``project`` forecasts on from it to a later one."""
        return self.n_months - 1


def source_labels(s: Scenario, names: list[str]) -> list[str]:
    """``indicator:source`` of every source declared for the indicators ``names``, in order: the
    coordinate of their offsets (``count_source``, ``normal_source``)."""
    return [f"{n}:{src}" for n in names for src in s.indicators[n].sources]


def _row_sources(s: Scenario, names: list[str], rows: pd.DataFrame) -> dict:
    """Each row's index into ``source_labels(s, names)`` (-1: the reference), under the keys
    ``sources`` and ``src``; nothing when no source is declared. A row whose source text matches
    several sources raises ``InputError`` at its file and row (a log loaded by
    ``load_evidence`` has none: this guards frames made by hand)."""
    labels = source_labels(s, names)
    if not labels:
        return {}
    idx, problems = [], []
    for file, row, target, text in zip(
        rows["file"], rows["row"], rows["target"], rows["source"], strict=True
    ):
        try:
            src = s.indicators[target].source_of(text if isinstance(text, str) else "")
        except ValueError as exc:
            problems.append(Problem(str(file), int(row), "source", str(exc)))
            continue
        idx.append(-1 if src is None else labels.index(f"{target}:{src}"))
    if problems:
        raise InputError(problems)
    return {"sources": labels, "src": np.array(idx, int)}


def _exposure_weights(s: Scenario, starts: pd.Series, days: pd.Series, n_months: int) -> np.ndarray:
    """Fraction of each month covered by each counted period, as (row x month)."""
    w = np.zeros((len(starts), n_months))
    for r, (ts, nd) in enumerate(zip(starts, days, strict=True)):
        d0: date = ts.date()
        d1 = d0 + timedelta(days=float(nd))  # exclusive end; fractional days allowed
        cur = month_start(d0)
        while cur < d1:
            nxt = month_start(cur, 1)
            ndays = (nxt - cur).days
            lo, hi = max(cur, d0), min(nxt, d1)
            t = s.month_index(cur)
            if t < n_months and hi > lo:
                frac = (hi - lo).days + (float(nd) % 1 if hi == d1 else 0.0)
                w[r, t] += frac / ndays
            cur = nxt
    return w


def centre_months(n_months: int, through: int) -> np.ndarray:
    """1 on the first ``through`` fitted months (at least one), 0 on the months after them: the
    months whose factor mean indicator levels are sampled at (``build_design``)."""
    w = np.zeros(n_months)
    w[: min(max(through, 1), n_months)] = 1.0
    return w


def build_design(
    s: Scenario,
    ev: Evidence,
    n_months: int | None = None,
    fc_sources: list[str] | None = None,
    news_outcomes: list[str] | None = None,
    centre_through: int | None = None,
) -> Design:
    """Translate validated evidence into the arrays of every likelihood term.

    ``n_months`` defaults to the months from the scenario start through the latest evidence month;
    ``fc_sources`` (default: those in ``ev``) fixes the forecast sources and ``news_outcomes``
    (default: the outcomes ``ev`` has news on) the outcomes with a drift of their own, so that
    designs of one log cut at different dates share a model structure (a source or drift without
    rows keeps its prior). ``centre_through`` (default: every month) is the number of months whose
    factor mean the indicator levels are sampled at: a design spanning months past its evidence
    (a backtest's whole-period span) gives those with evidence, so that no level moves with the
    unobserved months' innovations. It reparametrizes without changing the posterior, but draws
    are only comparable between designs with the same value: cuts that share draws (PSIS-LFO)
    pass one value.
    """
    fr = ev.frame
    n = max(n_months if n_months is not None else ev.last_month + 1, 1)
    units = hazard_units(s)
    known = fr[fr["month"] < n]
    resolution = _survival_cells(s, known[known["kind"] == "resolution"], units, n)
    closed = resolution.closed_at
    return Design(
        n_months=n,
        months=s.month_labels(n),
        units=units,
        centre=centre_months(n, n if centre_through is None else centre_through),
        **_indicator_parts(s, known, n),
        event=_events(s, known[known["kind"] == "event"], units, n, news_outcomes or []),
        resolution=resolution,
        forecast=_forecasts(s, known[known["kind"] == "forecast"], units, fc_sources, closed),
        likelihood_ratio=_likelihood_ratios(
            s, known[known["kind"] == "likelihood_ratio"], units, closed
        ),
    )


def _indicator_parts(s: Scenario, fr: pd.DataFrame, n: int) -> dict:
    """The ``indicator``, ``count`` and ``rating`` parts: normal indicators standardized by their
    centre and spread, counts with their exposure weights over months, ratings by scale; each with
    its rows' declared sources."""
    ind_of = s.indicators
    kw: dict = {}
    normal_names = [k for k, v in ind_of.items() if v.likelihood == "normal"]
    rows = fr[fr["kind"] == "indicator"]
    if normal_names:
        y = []
        for _, r in rows.iterrows():
            ind = ind_of[r["target"]]
            v = np.log(r["value"]) if ind.transform == "log" else r["value"]
            assert ind.center is not None and ind.spread is not None
            y.append((v - ind.center.value) / ind.spread.value)
        kw["indicator"] = Indicators(
            names=normal_names,
            ind=np.array([normal_names.index(t) for t in rows["target"]], int),
            month=rows["month"].to_numpy(int),
            y=np.array(y, float),
            rows=rows.index.to_numpy(int),
            **_row_sources(s, normal_names, rows),
        )

    count_names = [k for k, v in ind_of.items() if v.likelihood == "count"]
    rows = fr[fr["kind"] == "count"]
    if count_names:
        kw["count"] = Counts(
            names=count_names,
            ind=np.array([count_names.index(t) for t in rows["target"]], int),
            weight=_exposure_weights(s, rows["date"], rows["exposure_days"], n),
            y=rows["value"].to_numpy(int),
            rows=rows.index.to_numpy(int),
            **_row_sources(s, count_names, rows),
        )

    rating = {}
    for name, ind in ind_of.items():
        if ind.likelihood != "rating":
            continue
        rows = fr[(fr["kind"] == "rating") & (fr["target"] == name)]
        rating[name] = Ratings(
            month=rows["month"].to_numpy(int),
            y=rows["value"].to_numpy(int),
            rows=rows.index.to_numpy(int),
        )
    kw["rating"] = rating
    return kw


def _events(
    s: Scenario, rows: pd.DataFrame, units: Units, n: int, news_outcomes: list[str]
) -> Events:
    """Coded events on factors, or on an outcome's own drift (news: the outcomes ``rows`` have
    news on, and ``news_outcomes``), signed so that + means more of the factor or a likelier
    outcome, grouped by cell (target x month)."""
    kfac = {k: i for i, k in enumerate(s.factors)}
    news = [o for o in units.outcomes if (rows["outcome"] == o).any() or o in news_outcomes]
    on = list(zip(rows["target"], rows["outcome"], strict=True))
    factor = np.array([kfac.get(t, 0) for t, _ in on], int)
    outcome = np.array([-1 if t in kfac else news.index(o) for t, o in on], int)
    month = rows["month"].to_numpy(int)
    # rows grouped by cell (target x month), each cell's rows in log order: see _event_cells
    cell = np.where(outcome < 0, factor, len(kfac) + outcome) * n + month
    order = np.argsort(cell, kind="stable")
    first, rank = _event_cells(cell[order])
    sign = np.array([1.0 if t in kfac else hazard_direction(s, o) for t, o in on])
    coder = s.event_signal.month_noise is not None
    return Events(
        factor=factor[order],
        outcome=outcome[order],
        news_outcomes=news,
        month=month[order],
        value=(rows["value"].to_numpy(float) * sign)[order],
        # the cell structure is data of the coder effect only (an unused container cannot be set)
        first=first if coder else first[:0],
        rank=rank if coder else rank[:0],
        rows=rows.index.to_numpy(int)[order],
    )


def _targets(s: Scenario, rows: pd.DataFrame, units: Units, closed_at: np.ndarray) -> dict:
    """What forecast and likelihood-ratio rows share: their target units as a (row x unit) mask,
    month, horizon, whether the target is a persistence, and row ids.

    A row on a whole event outcome with candidates ("any candidate joins") asks about the
    candidates still open in its month: one whose event the resolutions put in an earlier month
    is left out (the model keeps its hazard after the event), unless none would be left.
    """
    mask = np.zeros((len(rows), len(units.labels)))
    for r, (o, c, t) in enumerate(
        zip(rows["outcome"], rows["candidate"], rows["month"], strict=True)
    ):
        members = units.units_of(o, None if pd.isna(c) else c)
        if pd.isna(c) and s.outcomes[o].kind == "event":
            members = [u for u in members if not 0 <= closed_at[u] < t] or members
        mask[r, members] = 1.0
    return dict(
        mask=mask,
        month=rows["month"].to_numpy(int),
        horizon=rows["horizon_months"].to_numpy(float),
        persist=np.array([s.outcomes[o].kind == "persistence" for o in rows["outcome"]], float),
        rows=rows.index.to_numpy(int),
    )


def _forecasts(
    s: Scenario,
    rows: pd.DataFrame,
    units: Units,
    sources: list[str] | None,
    closed_at: np.ndarray,
) -> Forecasts:
    """Crowd or expert forecast rows; ``sources`` adds forecasters without rows here."""
    p = rows["value"].to_numpy(float)
    names = sorted(set(rows["forecaster"]) | set(sources or []))
    return Forecasts(
        **_targets(s, rows, units, closed_at),
        logit=np.log(p) - np.log1p(-p),
        source=np.array([names.index(x) for x in rows["forecaster"]], int),
        sources=names,
    )


def _likelihood_ratios(
    s: Scenario, rows: pd.DataFrame, units: Units, closed_at: np.ndarray
) -> LikelihoodRatios:
    """Analysts' likelihood-ratio rows."""
    log_lr = np.log(rows["value"].to_numpy(float))
    return LikelihoodRatios(**_targets(s, rows, units, closed_at), log=log_lr)


def _event_cells(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by cell: the position of each row's cell's first row, and how many rows of
    its cell come before it (what the coder effect shared within a cell conditions on)."""
    pos = np.arange(len(cell))
    starts = np.r_[True, cell[1:] != cell[:-1]] if len(cell) else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(starts, pos, 0)) if len(cell) else pos
    return first.astype(int), (pos - first).astype(int)


def _survival_cells(s: Scenario, rows: pd.DataFrame, units: Units, n: int) -> Resolutions:
    """Resolutions → Bernoulli cells of the discrete-time hazard: one per unit-month at risk.

    For each unit, the ending event (an event that happened, or a persistent state that ended)
    closes it at its month; otherwise the latest "still open" date bounds the months observed.
    """
    end_month = np.full(len(units.labels), -1)  # last month known at risk (no event)
    end_fraction = np.ones(len(units.labels))  # the part of that month observed
    event_month = np.full(len(units.labels), -1)
    event_row = np.full(len(units.labels), -1)
    open_row = np.full(len(units.labels), -1)
    for idx, r in rows.iterrows():
        kind = s.outcomes[r["outcome"]].kind
        ended = (r["value"] == 1) if kind == "event" else (r["value"] == 0)
        cand = None if pd.isna(r["candidate"]) else r["candidate"]
        for u in units.units_of(r["outcome"], cand):
            t = int(r["month"])
            if ended:
                if event_month[u] < 0 or t < event_month[u]:
                    event_month[u], event_row[u] = t, idx
            elif t > end_month[u] or (t == end_month[u] and _observed(r) > end_fraction[u]):
                end_month[u], open_row[u], end_fraction[u] = t, idx, _observed(r)
    su, sm, sy, sw, sr = [], [], [], [], []
    for u in range(len(units.labels)):
        if event_month[u] >= 0:
            last, row, part = event_month[u], event_row[u], 1.0
        elif end_month[u] >= 0:
            last, row, part = end_month[u], open_row[u], end_fraction[u]
        else:
            continue
        for t in range(last + 1):
            su.append(u)
            sm.append(t)
            sy.append(int(event_month[u] == t))
            sw.append(part if t == last else 1.0)
            sr.append(row)
    is_open = event_month < 0
    return Resolutions(
        unit=np.array(su, int),
        month=np.array(sm, int),
        y=np.array(sy, int),
        weight=np.array(sw, float),
        rows=np.array(sr, int),
        closed_at=event_month.astype(int),
        known_open_until=np.where(is_open, end_month, -1).astype(int),
        known_open_fraction=np.where(is_open & (end_month >= 0), end_fraction, 1.0),
    )


def _observed(row: pd.Series) -> float:
    """The part of its month a "still open" row observes: through its day if it gives one (a
    month-dated row, or a simulated one, counts its whole month, as before)."""
    if not dated_to_the_day(row.get("day_known")):
        return 1.0
    d = row["date"]
    return d.day / d.days_in_month
