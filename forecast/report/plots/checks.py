"""Figures that check forecasts and fits: reliability and scores of backtests, convergence, rank
plots, posterior predictive checks, SBC rank histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import xarray as xr

from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.report.plots.style import (
    FORECASTER_COLORS,
    HORIZON_COLORS,
    RED,
    grid,
    pct_axis,
    plain,
    wrap,
)
from forecast.skill.scoring import reliability

# --- backtests -----------------------------------------------------------------------------------


def _by_forecaster(df: pd.DataFrame):
    if "forecaster" in df:
        return df.groupby("forecaster", sort=True)
    return [("model", df)]


def reliability_diagram(forecasts: pd.DataFrame, n_bins: int = 10) -> Figure:
    """Observed frequency against forecast probability in ``n_bins`` equal bins, per forecaster
    (marker area: number of forecasts). Columns: ``probability``, ``resolution`` (0/1), optionally
    ``forecaster``."""
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="perfect calibration")
    for i, (name, g) in enumerate(_by_forecaster(forecasts)):
        agg = reliability(g["probability"], g["resolution"], bins=n_bins)
        agg = agg[agg["n"] > 0]
        c = FORECASTER_COLORS.get(str(name), HORIZON_COLORS[i % len(HORIZON_COLORS)])
        ax.plot(agg["mean_forecast"], agg["observed"], color=c, lw=1)
        ax.scatter(
            agg["mean_forecast"], agg["observed"], s=12 + 6 * agg["n"], color=c, alpha=0.8,
            label=plain(name),
        )  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    pct_axis(ax)
    pct_axis(ax, "x")
    ax.set_xlabel("forecast probability (bin mean)")
    ax.set_ylabel("observed frequency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def score_comparison(forecasts: pd.DataFrame) -> Figure:
    """Mean Brier score (lower is better) with one standard error, per forecaster and, when the
    table has ``lead_days``, per lead time."""
    df = forecasts.assign(brier=(forecasts["probability"] - forecasts["resolution"]) ** 2)
    leads = sorted(df["lead_days"].unique()) if "lead_days" in df else [None]
    groups = list(_by_forecaster(df))
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(groups)
    for i, (name, g) in enumerate(groups):
        means, ses = [], []
        for lead in leads:
            s = g["brier"] if lead is None else g.loc[g["lead_days"] == lead, "brier"]
            means.append(s.mean())
            ses.append(s.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else 0.0)
        x = np.arange(len(leads)) + (i - (len(groups) - 1) / 2) * width
        c = FORECASTER_COLORS.get(str(name), HORIZON_COLORS[i % len(HORIZON_COLORS)])
        ax.bar(x, means, width, yerr=ses, color=c, capsize=3, label=plain(name))
    ax.set_xticks(
        range(len(leads)), ["all" if lead is None else f"{lead} days ahead" for lead in leads]
    )
    ax.set_ylabel("mean Brier score (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# --- diagnostics ---------------------------------------------------------------------------------


def convergence_plot(
    idata: xr.DataTree, var_names: Sequence[str] | None = None, gate: Gate = DEFAULT_GATE
) -> Figure:
    """Worst R-hat and smallest bulk/tail ESS of each variable against ``gate``'s limits."""
    import arviz as az

    post = idata["posterior"].to_dataset()
    post = post[list(var_names)] if var_names else post
    names = list(post.data_vars)
    with np.errstate(invalid="ignore", divide="ignore"):  # entries fixed by design: no R-hat
        rhat = az.rhat(post)
        ess_b, ess_t = az.ess(post, method="bulk"), az.ess(post, method="tail")
    worst = pd.DataFrame(
        {
            "rhat": [float(np.nanmax(rhat[v].values)) for v in names],
            "ess_bulk": [float(np.nanmin(ess_b[v].values)) for v in names],
            "ess_tail": [float(np.nanmin(ess_t[v].values)) for v in names],
        },
        index=names,
    )
    fig = Figure(figsize=(9, 0.25 * len(names) + 1.5), layout="constrained")
    ax_r, ax_e = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(names))
    ax_r.barh(
        y, worst["rhat"] - 1, left=1, color=np.where(worst["rhat"] > gate.rhat_max, RED, "0.5")
    )
    ax_r.axvline(gate.rhat_max, color=RED, ls="--", lw=1)
    ax_r.set_xlabel(f"largest R-hat (gate ≤ {gate.rhat_max})")
    ax_r.set_yticks(y, [plain(n) for n in names], fontsize=7)
    ax_r.invert_yaxis()
    low = worst[["ess_bulk", "ess_tail"]].min(axis=1) < gate.ess_min
    ax_e.scatter(worst["ess_bulk"], y, color=np.where(low, RED, "0.3"), s=14, label="bulk")
    ax_e.scatter(worst["ess_tail"], y, color=np.where(low, RED, "0.3"), s=14, marker="s")
    ax_e.axvline(gate.ess_min, color=RED, ls="--", lw=1)
    ax_e.set_xscale("log")
    ax_e.set_xlabel(f"smallest ESS, bulk ● tail ■ (gate ≥ {gate.ess_min})")
    for ax in (ax_r, ax_e):
        ax.grid(axis="x", alpha=0.3)
    return fig


def rank_plot(idata: xr.DataTree, var_names: Sequence[str], coords: dict | None = None) -> Figure:
    """ArviZ's rank Δ-ECDF plots (one panel per scalar): each chain's fractional ranks should be
    uniform; points where the chains disagree beyond the multiple-testing band are marked."""
    import arviz as az

    pc = az.plot_rank(idata, var_names=list(var_names), coords=coords, backend="matplotlib")
    fig = pc.viz["figure"].item()
    for ax in fig.axes:
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=6)
    return fig


def predictive_check(
    observed: Mapping[str, np.ndarray],
    simulated: Mapping[str, np.ndarray],
    ncols: int = 3,
    log: Sequence[str] = (),
) -> Figure:
    """Prior or posterior predictive check: per quantity, the histogram of each simulated data set
    (``simulated[name]``: draws x rows, thin lines) against the observed rows (black). Quantities
    named in ``log`` are compared on a log scale."""
    fig, axes = grid(len(observed), ncols, (3.4, 2.4))
    for ax, (name, obs) in zip(axes, observed.items(), strict=True):
        sim = np.asarray(simulated[name], dtype=float)
        obs = np.asarray(obs, dtype=float)
        if name in log:
            sim, obs = np.log(np.maximum(sim, 1e-9)), np.log(np.maximum(obs, 1e-9))
        lo, hi = np.nanquantile(sim, [0.005, 0.995])  # extreme simulations may fall outside,
        lo, hi = min(lo, np.nanmin(obs)), max(hi, np.nanmax(obs))  # but no observed row
        edges = np.linspace(lo, hi, 16)
        for row in sim:
            ax.stairs(np.histogram(row, edges)[0], edges, color="#6a8caf", alpha=0.15)
        ax.stairs(np.histogram(obs, edges)[0], edges, color="black", lw=2)
        ax.set_title(plain(f"log {name}" if name in log else name), fontsize=9)
        ax.tick_params(labelsize=7)
    fig.supylabel("rows per bin", fontsize=9)
    fig.supxlabel("blue: simulated data sets; black: the evidence", fontsize=9)
    return fig


def sbc_histograms(histogram: pd.DataFrame, n_reps: int) -> Figure:
    """Rank histograms of simulation-based calibration (``SBCResult.histogram``), with the 99%
    band a uniform rank distribution would stay within."""
    from scipy import stats

    n_bins, n = histogram.shape
    band = stats.binom.interval(0.99, n_reps, 1 / n_bins)
    fig, axes = grid(n, 6, (2.2, 2.0))  # a whole scenario ranks dozens of quantities
    top = max(float(histogram.to_numpy().max()), band[1]) * 1.05
    for ax, q in zip(axes, histogram.columns, strict=True):
        ax.set_ylim(0, top)
        ax.bar(range(n_bins), histogram[q], width=1.0, color="#6a8caf", edgecolor="white")
        ax.axhspan(*band, color="0.85", zorder=0)
        ax.axhline(n_reps / n_bins, color="0.3", lw=0.8)
        ax.set_title(wrap(q, 30), fontsize=7)
        ax.set_xticks([])
    fig.suptitle(f"SBC rank histograms ({n_reps} replications; grey: 99% band)", fontsize=9)
    return fig
