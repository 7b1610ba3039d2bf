"""Figures from computed results: run history, forecasts, factor paths, loadings, what moved,
backtests and diagnostics.

Every function takes results that already exist (a run history table, a run's DataTree, an
``explain`` result, a table of backtest forecasts) and returns a matplotlib ``Figure``; nothing here
fits or projects. Figures are built with matplotlib's object API, not pyplot, so no global figure
state accumulates and no display is needed: ``fig.savefig`` renders with Agg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import xarray as xr

from forecast.data.months import month_dates, month_start
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.runs.explain import Change, Influence
from forecast.skill.scoring import reliability

HORIZON_COLORS = ("#1b6ca8", "#e07b39", "#5a9e4b", "#8e5ea2", "#c44e52")
FORECASTER_COLORS = {
    "model": "#1b6ca8",
    "crowd": "#e07b39",
    "extremized": "#5a9e4b",
    "calibrated": "#8e5ea2",
}
RED = "#c0392b"


def _grid(n: int, ncols: int, panel: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` panels in rows of ``ncols``; unused panels are hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _pct_axis(ax, axis: str = "y") -> None:
    fmt = ax.yaxis if axis == "y" else ax.xaxis
    fmt.set_major_formatter(lambda v, _pos: f"{v:.0%}")


def _plain(text: object) -> str:
    """Text from a scenario, evidence or data file, shown literally: every ``$`` is escaped, so
    matplotlib's mathtext never parses it (a ``$...$`` pair in a label would otherwise be read as
    math, and fail to render if it is not valid TeX)."""
    return str(text).replace("$", r"\$")


def _wrap(text: object, width: int = 40) -> str:
    """User text wrapped to ``width`` characters per line, shown literally (``_plain``)."""
    import textwrap

    text = str(text)
    return _plain("\n".join(textwrap.wrap(text, width)) or text)


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
    ax.set_yticks(range(len(outcomes)), [_wrap(labels.get(o, o), 45) for o in outcomes])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    _pct_axis(ax, "x")
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
    fig, axes = _grid(len(outcomes), ncols, (4.6, 2.8))
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
        ax.set_title(_wrap(labels.get(o, o), 55), fontsize=9)
        ax.set_ylim(0, 1)
        _pct_axis(ax)
        ax.set_xticks(range(len(runs)), [_plain(v) for v in ticks["origin_date"]], fontsize=7)
        ax.set_xlim(-0.5, len(runs) - 0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, title="within", title_fontsize=7, loc="upper left")
    fig.supxlabel("run, labelled by the date of its latest evidence (red x: did not converge)")
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
    fig, axes = _grid(len(factors), ncols, (4.6, 2.6))
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
        ax.set_title(_wrap(labels.get(k, k), 55), fontsize=9)
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
    fig, axes = _grid(len(panels), ncols, (4.6, 0.45 * tallest + 1.0))
    for i, (ax, (o, rows)) in enumerate(zip(axes, panels.items(), strict=True)):
        y = np.arange(len(rows))
        lo, mid, hi = (np.array([r[j] for r in rows]) for j in (1, 2, 3))
        c = HORIZON_COLORS[i % len(HORIZON_COLORS)]
        ax.hlines(y, lo, hi, color=c, lw=2)
        ax.scatter(mid, y, color=c, zorder=3, s=18)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_yticks(y, [_wrap(labels.get(k, k), 28) for k, *_ in rows], fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_title(_wrap(labels.get(o, o), 42), fontsize=9)
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
    ax.set_yticks(y, [_wrap(n, 40) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    _pct_axis(ax, "x")
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
    ax.set_yticks(y, [_wrap(n, 50) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.8)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v * 100:+.0f} pp")
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(f"change in the {horizon}-month probability this evidence caused")
    return fig


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
            label=_plain(name),
        )  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _pct_axis(ax)
    _pct_axis(ax, "x")
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
        ax.bar(x, means, width, yerr=ses, color=c, capsize=3, label=_plain(name))
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
    ax_r.set_yticks(y, [_plain(n) for n in names], fontsize=7)
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
    fig, axes = _grid(len(observed), ncols, (3.4, 2.4))
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
        ax.set_title(_plain(f"log {name}" if name in log else name), fontsize=9)
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
    fig = Figure(figsize=(2.2 * n, 2.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    for ax, q in zip(axes, histogram.columns, strict=True):
        ax.bar(range(n_bins), histogram[q], width=1.0, color="#6a8caf", edgecolor="white")
        ax.axhspan(*band, color="0.85", zorder=0)
        ax.axhline(n_reps / n_bins, color="0.3", lw=0.8)
        ax.set_title(_plain(q), fontsize=8)
        ax.set_xticks([])
    fig.suptitle(f"SBC rank histograms ({n_reps} replications; grey: 99% band)", fontsize=9)
    return fig
