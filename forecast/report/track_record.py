"""How good the model has been: a backtest's results folder (``forecast backtest --out``) read back
and put in words for the report, beside the crowd, the fixed extremized crowd and the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from forecast.data.errors import InputError, Problem
from forecast.report import plots

# who is scored, in the order the report shows them
FORECASTER_NAMES = {
    "model": "the model",
    "calibrated": "its learned calibration alone",
    "crowd": "the crowd",
    "extremized": "the fixed extremized crowd",
    "base_rate": "the base rate of earlier questions",
    "half": "always 50%",
}


def read_backtest(folder: Path) -> tuple[dict, pd.DataFrame]:
    """The scores (``scores.json``) and per-origin forecasts (``forecasts.csv``) of a backtest
    folder; ``InputError`` naming the file if either is missing or not what a backtest writes."""
    folder = Path(folder)
    scores_file, forecasts_file = folder / "scores.json", folder / "forecasts.csv"

    def bad(path: Path, why: str) -> InputError:
        return InputError([Problem(str(path), "(file)", "file", f"not a backtest result: {why}")])

    try:
        scores = json.loads(scores_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise bad(scores_file, getattr(exc, "strerror", None) or str(exc)) from None
    if not isinstance(scores, dict) or not {"leads", "calendar"} <= set(scores):
        raise bad(scores_file, "needs 'leads' and 'calendar' scores (forecast backtest --out)")
    try:
        forecasts = pd.read_csv(forecasts_file)
    except (OSError, ValueError) as exc:
        raise bad(forecasts_file, getattr(exc, "strerror", None) or str(exc)) from None
    missing = {"key", "lead", "y", "model", "crowd", "extremized", "flag"} - set(forecasts)
    if missing:
        raise bad(forecasts_file, f"no column {', '.join(sorted(missing))}")
    return scores, forecasts


def reliability_frame(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The lead forecasts that have a crowd, one row per forecaster (model, crowd, fixed
    extremized crowd), in the long form ``plots.reliability_diagram`` draws."""
    scored = forecasts[forecasts["lead"].notna() & forecasts["crowd"].notna()]
    return scored.melt(
        id_vars=["key", "lead", "y"],
        value_vars=["model", "crowd", "extremized"],
        var_name="forecaster",
        value_name="probability",
    ).rename(columns={"y": "resolution", "lead": "lead_days"})


def comparison(d: dict | None, other: str) -> str:
    """The model against ``other`` in words, from a difference and its 90% interval (lower is
    better): better or worse only when the interval excludes 0."""
    if d is None:
        return f"not compared with {other} (no crowd forecasts)"
    if d["upper"] < 0:
        return f"better than {other}"
    if d["lower"] > 0:
        return f"worse than {other}"
    return f"not distinguishable from {other}"


def _set(name: str, sc: dict) -> dict:
    """One set of origins for the template: scores per forecaster and the verdict sentence."""
    rows = [
        {
            "who": label,
            "brier": sc.get(f"{who}_brier"),
            "log": sc.get(f"{who}_log"),
        }
        for who, label in FORECASTER_NAMES.items()
    ]
    d_ext, d_crowd = sc.get("model_minus_extremized_log"), sc.get("model_minus_crowd_log")
    verdict = (
        f"On log loss the model was {comparison(d_crowd, 'the crowd')} and "
        f"{comparison(d_ext, 'the fixed extremized crowd')}."
    )
    mdd = sc.get("mdd_log")
    detect = (
        f"With {sc['n']} questions, differences below {mdd:.3f} in log loss were unlikely to be "
        "detected."
        if mdd is not None
        else "Too few questions to detect any difference."
    )
    return {
        "name": name,
        "n": sc["n"],
        "n_all": sc["n_all"],
        "rows": rows,
        "verdict": verdict,
        "detect": detect,
        "d_crowd": d_crowd,
        "d_ext": d_ext,
    }


def track_record(scores: dict, forecasts: pd.DataFrame) -> dict:
    """Everything the report's track-record section shows: a table and verdict per lead and for
    the calendar origins, how many forecasts had the scenario's information, and a reliability
    diagram of the lead forecasts."""
    sets = [
        _set(f"{lead} days before the scheduled close", sc) for lead, sc in scores["leads"].items()
    ]
    sets.append(_set("1st and 15th of each month open, averaged per question", scores["calendar"]))
    flags = forecasts["flag"].fillna("")
    used = forecasts.get("factor_level", pd.Series(float("nan"), index=forecasts.index)).notna()
    frame = reliability_frame(forecasts)
    return {
        "sets": sets,
        "n_forecasts": len(forecasts),
        "n_questions": int(forecasts["key"].nunique()),
        "with_scenario": int(used.sum()),
        "kept_out": int(flags.str.contains("written with data after the origin: no factor").sum()),
        "hindsight": int(flags.str.contains(r"after the origin \(--hindsight\)").sum()),
        "figure": plots.reliability_diagram(frame) if len(frame) else None,
    }
