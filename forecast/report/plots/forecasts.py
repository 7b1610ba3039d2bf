"""Figures of a scenario's forecasts: latest forecasts, run history, factor paths, loadings, what
moved between runs, what-if scenarios, evidence influence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import xarray as xr

from forecast.data.months import month_dates, month_start
from forecast.report.plots.style import (
    HORIZON_COLORS,
    RED,
    grid,
    pct_axis,
    plain,
    wrap,
)
from forecast.runs.explain import Change, Influence

# --- forecasts -----------------------------------------------------------------------------------


def forecast_chart(forecast: pd.DataFrame, labels: Mapping[str, str] | None = None) -> Figure:
    """Latest forecasts: P(outcome by horizon) with 90% intervals, one row per outcome.

    ``forecast``: a run's forecast table (``Run.forecast()``); candidate rows are left out.
    """
    labels = labels or {}
    df = forecast[forecast["candidate"].isna()]
    outcomes = list(dict.fromkeys(df["outcome"]))
    horizons = sorted(df["horizon_months"].unique())
    fig = Figure(figsize=(8, 0.55 * len(outcomes) * len(horizons) / 2 + 1.2), layout="constrained")
    ax = fig.subplots()
    step = 0.8 / max(len(horizons), 1)
    for i, h in enumerate(horizons):
        d = df[df["horizon_months"] == h].set_index("outcome").loc[outcomes]
        y = np.arange(len(outcomes)) + (i - (len(horizons) - 1) / 2) * step
        ax.errorbar(
            d["probability"],
            y,
            xerr=[d["probability"] - d["lower"], d["upper"] - d["probability"]],
            fmt="o",
            color=HORIZON_COLORS[i % len(HORIZON_COLORS)],
            capsize=3,
            label=f"within {h} months",
        )
    ax.set_yticks(range(len(outcomes)), [wrap(labels.get(o, o), 45) for o in outcomes])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    pct_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("probability (dot: forecast; bar: 90% interval)")
    fig.legend(loc="outside lower center", ncols=len(horizons), fontsize=8)
    return fig


def history_chart(
    history: pd.DataFrame, labels: Mapping[str, str] | None = None, ncols: int = 2
) -> Figure:
    """Forecast fan chart over runs: per outcome, P by each horizon with its 90% band, run by run.

    ``history``: one row per run, outcome and horizon, with columns ``run``, ``origin_date``,
    ``converged``, ``outcome``, ``candidate``, ``horizon_months``, ``probability``, ``lower``,
    ``upper`` (``forecast.report.html.run_history``). Runs that did not converge are marked with a
    red x.
    """
    labels = labels or {}
    df = history[history["candidate"].isna()]
    runs = list(dict.fromkeys(df["run"]))
    x_of = {r: i for i, r in enumerate(runs)}
    ticks = df.drop_duplicates("run").set_index("run").loc[runs]
    outcomes = list(dict.fromkeys(df["outcome"]))
    fig, axes = grid(len(outcomes), ncols, (4.6, 2.8))
    for ax, o in zip(axes, outcomes, strict=True):
        d = df[df["outcome"] == o]
        for i, (h, g) in enumerate(d.groupby("horizon_months")):
            x = g["run"].map(x_of).to_numpy()
            c = HORIZON_COLORS[i % len(HORIZON_COLORS)]
            if len(runs) > 1:
                ax.fill_between(x, g["lower"], g["upper"], color=c, alpha=0.12, lw=0)
            else:  # a band needs two runs; one run shows its intervals as bars side by side
                x = x + (i - 1) * 0.06
                ax.vlines(x, g["lower"], g["upper"], color=c, alpha=0.6, lw=2)
            ax.plot(x, g["probability"], color=c, marker="o", ms=4, label=f"{h} mo")
            bad = ~g["converged"].astype(bool).to_numpy()
            if bad.any():
                ax.plot(x[bad], g["probability"][bad], "x", color=RED, ms=7, mew=1.5)
        ax.set_title(wrap(labels.get(o, o), 55), fontsize=9)
        ax.set_ylim(0, 1)
        pct_axis(ax)
        ax.set_xticks(range(len(runs)), [plain(v) for v in ticks["origin_date"]], fontsize=7)
        ax.set_xlim(-0.5, len(runs) - 0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, title="within", title_fontsize=7, loc="upper left")
    fig.supxlabel("run, labelled by the date of its latest evidence (red x: did not converge)")
    return fig


def hindcast_chart(
    forecasts: pd.DataFrame,
    horizon: int,
    labels: Mapping[str, str] | None = None,
    ncols: int = 2,
) -> Figure:
    """What the model said over time: per outcome, P(by ``horizon`` months) from each origin with
    its 90% band, the scenario's prior alone (dashed), and how each forecast turned out (filled
    dot: it happened in the window; open: it did not; none: not yet known).

    ``forecasts``: ``forecast hindcast``'s table (``origin``, ``outcome``, ``candidate``,
    ``horizon_months``, ``probability``, ``lower``, ``upper``, ``prior``, ``y``).
    """
    labels = labels or {}
    df = forecasts[forecasts["candidate"].isna() & (forecasts["horizon_months"] == horizon)]
    outcomes = list(dict.fromkeys(df["outcome"]))
    fig, axes = grid(len(outcomes), ncols, (4.6, 2.6))
    c = HORIZON_COLORS[0]
    for ax, o in zip(axes, outcomes, strict=True):
        g = df[df["outcome"] == o].sort_values("origin")
        x = pd.to_datetime(g["origin"])
        ax.fill_between(x, g["lower"], g["upper"], color=c, alpha=0.15, lw=0)
        ax.plot(x, g["probability"], color=c, lw=1.5, label="model")
        ax.plot(x, g["prior"], color="0.4", lw=1, ls="--", label="prior alone")
        for y, face in ((1.0, c), (0.0, "white")):
            hit = (g["y"] == y).to_numpy()
            ax.plot(x[hit], g["probability"][hit], "o", mec=c, mfc=face, ms=4)
        ax.set_title(wrap(labels.get(o, o), 55), fontsize=9)
        ax.set_ylim(0, 1)
        pct_axis(ax)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.supxlabel(
        f"forecast origin (P by {horizon} months after it; filled: happened, open: did not)"
    )
    return fig


# --- factors and loadings ------------------------------------------------------------------------


def factor_paths(
    idata: xr.DataTree,
    labels: Mapping[str, str] | None = None,
    months_back: int = 24,
    ncols: int = 2,
) -> Figure:
    """Each factor's fitted path (posterior ``f``) and its projection (``predictions``) with 50% and
    90% bands; the dashed line marks the forecast origin."""
    labels = labels or {}
    f = idata["posterior"]["f"]
    paths = idata["predictions"]["factor_path"]
    past_t = month_dates(f["month"].values[-months_back:])
    fut_t = pd.DatetimeIndex([month_start(past_t[-1], int(a)) for a in paths["ahead"].values])
    factors = [str(k) for k in f["factor"].values]
    fig, axes = grid(len(factors), ncols, (4.6, 2.6))
    for ax, k in zip(axes, factors, strict=True):
        for t, da, c in (
            (past_t, f.sel(factor=k).isel(month=slice(-len(past_t), None)), "#555555"),
            (fut_t, paths.sel(factor=k), HORIZON_COLORS[0]),
        ):
            v = da.values.reshape(-1, da.shape[-1])
            q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
            ax.fill_between(t, q[0], q[4], color=c, alpha=0.15, lw=0)
            ax.fill_between(t, q[1], q[3], color=c, alpha=0.3, lw=0)
            ax.plot(t, q[2], color=c, lw=1.5)
        ax.axvline(past_t[-1], color="0.3", ls="--", lw=0.8)  # the origin month
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title(wrap(labels.get(k, k), 55), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.supylabel("level (standard units)", fontsize=9)
    fig.supxlabel("grey: fitted to the evidence; blue: projected (bands 50% and 90%)", fontsize=9)
    return fig


def loadings_forest(
    idata: xr.DataTree,
    labels: Mapping[str, str] | None = None,
    hdi: float = 0.9,
    ncols: int = 2,
) -> Figure:
    """Forest plot of each outcome's loadings on the factors (median and central ``hdi``
    interval), one panel per outcome; pairs the scenario does not link (loading fixed at 0) are
    left out."""
    labels = labels or {}
    lo_q, hi_q = (1 - hdi) / 2, 1 - (1 - hdi) / 2
    lam = idata["posterior"]["loading"]
    panels: dict[str, list[tuple]] = {}
    for o in lam["outcome"].values:
        for k in lam["factor"].values:
            v = lam.sel(outcome=o, factor=k).values.ravel()
            if not np.all(v == 0):
                panels.setdefault(str(o), []).append((str(k), *np.quantile(v, [lo_q, 0.5, hi_q])))
    tallest = max(len(rows) for rows in panels.values())
    fig, axes = grid(len(panels), ncols, (4.6, 0.45 * tallest + 1.0))
    for i, (ax, (o, rows)) in enumerate(zip(axes, panels.items(), strict=True)):
        y = np.arange(len(rows))
        lo, mid, hi = (np.array([r[j] for r in rows]) for j in (1, 2, 3))
        c = HORIZON_COLORS[i % len(HORIZON_COLORS)]
        ax.hlines(y, lo, hi, color=c, lw=2)
        ax.scatter(mid, y, color=c, zorder=3, s=18)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_yticks(y, [wrap(labels.get(k, k), 28) for k, *_ in rows], fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_title(wrap(labels.get(o, o), 42), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.supxlabel(
        f"loading: change in the outcome's logit hazard per standard unit of the factor "
        f"(median and {hdi:.0%} interval)",
        fontsize=9,
    )
    return fig


# --- what moved ----------------------------------------------------------------------------------


def _dumbbell(ax, names: Sequence[str], before: Sequence[float], after: Sequence[float]) -> None:
    """Arrows from ``before`` to ``after`` probabilities, one row per name."""
    y = np.arange(len(names))
    for yi, a, b in zip(y, before, after, strict=True):
        ax.annotate(
            "",
            xy=(b, yi),
            xytext=(a, yi),
            arrowprops={"arrowstyle": "->", "color": RED if b < a else "#2e7d32", "lw": 1.5},
        )
        ax.text(max(a, b) + 0.02, yi, f"{b - a:+.1%}", va="center", fontsize=8)
    ax.scatter(before, y, color="0.6", zorder=3, s=25, label="before")
    ax.scatter(after, y, color="black", zorder=3, s=25, label="after")
    ax.set_yticks(y, [wrap(n, 40) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    pct_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)


def what_moved(
    changes: Mapping[str, Change], horizon: int, labels: Mapping[str, str] | None = None
) -> Figure:
    """How each outcome's ``horizon``-month forecast moved since the previous run
    (``forecast.runs.explain.change_since`` results keyed by outcome)."""
    labels = labels or {}
    names = list(changes)
    fig = Figure(figsize=(8, 0.5 * len(names) + 1.2), layout="constrained")
    ax = fig.subplots()
    _dumbbell(
        ax,
        [labels.get(n, n) for n in names],
        [changes[n].previous[horizon] for n in names],
        [changes[n].current[horizon] for n in names],
    )
    ax.legend(["previous run", "this run"], fontsize=8, loc="lower right")
    ax.set_xlabel(f"probability within {horizon} months")
    return fig


def whatif_chart(
    table: pd.DataFrame, horizon: int, labels: Mapping[str, str] | None = None
) -> Figure:
    """Unconditional vs what-if forecasts at one horizon (``forecast.runs.what_if.whatif``)."""
    labels = labels or {}
    d = table[table["horizon_months"] == horizon]
    names = [
        labels.get(o, o) if not isinstance(c, str) or not c else f"{labels.get(o, o)}: {c}"
        for o, c in zip(d["outcome"], d["candidate"], strict=True)
    ]
    fig = Figure(figsize=(8, 0.4 * len(names) + 1.2), layout="constrained")
    ax = fig.subplots()
    _dumbbell(ax, names, d["probability"].tolist(), d["probability_whatif"].tolist())
    ax.legend(["forecast", "what-if"], fontsize=8, loc="lower right")
    ax.set_xlabel(f"probability within {horizon} months")
    return fig


def influence_bars(
    influences: Sequence[Influence], horizon: int, names: Sequence[str] | None = None
) -> Figure:
    """Each evidence group's (or row's) effect on a forecast at ``horizon`` months, in percentage
    points (``forecast.runs.explain``); hatched bars have k̂ above the gate's limit, so PSIS cannot
    measure them well."""
    names = list(names) if names is not None else [i.label for i in influences]
    eff = np.array([i.effect[horizon] for i in influences])
    fig = Figure(figsize=(8, 0.35 * len(eff) + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(eff))
    bars = ax.barh(y, eff, color=np.where(eff >= 0, "#2e7d32", RED))
    for b, i in zip(bars, influences, strict=True):
        if not i.reliable:
            b.set_hatch("///")
            b.set_alpha(0.5)
    ax.set_yticks(y, [wrap(n, 50) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.8)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v * 100:+.0f} pp")
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(f"change in the {horizon}-month probability this evidence caused")
    return fig
