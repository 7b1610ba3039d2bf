"""What every figure shares: colours, a grid of panels, percent axes, user text shown literally."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

HORIZON_COLORS = ("#1b6ca8", "#e07b39", "#5a9e4b", "#8e5ea2", "#c44e52")
FORECASTER_COLORS = {
    "model": "#1b6ca8",
    "crowd": "#e07b39",
    "extremized": "#5a9e4b",
    "calibrated": "#8e5ea2",
}
RED = "#c0392b"


def grid(n: int, ncols: int, panel: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` panels in rows of ``ncols``; unused panels are hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def pct_axis(ax, axis: str = "y") -> None:
    fmt = ax.yaxis if axis == "y" else ax.xaxis
    fmt.set_major_formatter(lambda v, _pos: f"{v:.0%}")


def plain(text: object) -> str:
    """Text from a scenario, evidence or data file, shown literally: every ``$`` is escaped, so
    matplotlib's mathtext never parses it (a ``$...$`` pair in a label would otherwise be read as
    math, and fail to render if it is not valid TeX)."""
    return str(text).replace("$", r"\$")


def wrap(text: object, width: int = 40) -> str:
    """User text wrapped to ``width`` characters per line, shown literally (``_plain``)."""
    import textwrap

    text = str(text)
    return plain("\n".join(textwrap.wrap(text, width)) or text)
