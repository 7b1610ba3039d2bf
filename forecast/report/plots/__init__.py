"""Figures from computed results: run history, forecasts, factor paths, loadings, what moved,
backtests and diagnostics.

Every function takes results that already exist (a run history table, a run's DataTree, an
``explain`` result, a table of backtest forecasts) and returns a matplotlib ``Figure``; nothing here
fits or projects. Figures are built with matplotlib's object API, not pyplot, so no global figure
state accumulates and no display is needed: ``fig.savefig`` renders with Agg.
"""

from forecast.report.plots.checks import (
    convergence_plot,
    predictive_check,
    rank_plot,
    reliability_diagram,
    sbc_histograms,
    score_comparison,
)
from forecast.report.plots.forecasts import (
    factor_paths,
    forecast_chart,
    hindcast_chart,
    history_chart,
    influence_bars,
    loadings_forest,
    what_moved,
    whatif_chart,
)
from forecast.report.plots.style import FORECASTER_COLORS, HORIZON_COLORS, RED

__all__ = [
    "FORECASTER_COLORS",
    "HORIZON_COLORS",
    "RED",
    "convergence_plot",
    "factor_paths",
    "forecast_chart",
    "hindcast_chart",
    "history_chart",
    "influence_bars",
    "loadings_forest",
    "predictive_check",
    "rank_plot",
    "reliability_diagram",
    "sbc_histograms",
    "score_comparison",
    "what_moved",
    "whatif_chart",
]
