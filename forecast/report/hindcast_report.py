"""The scenario's track record out (``forecast hindcast``): a results folder beside the origins'
cache, and the report's "what the model said over time" section with the evidence that moved it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from forecast.data.errors import InputError, Problem
from forecast.data.evidence import Evidence
from forecast.data.files import replace_atomically, sha256_file
from forecast.data.inputs import Inputs
from forecast.data.scenario import Scenario
from forecast.report import plots
from forecast.report.track_record import comparison
from forecast.runs.provenance import provenance
from forecast.skill.backtest import evidence_cutoff
from forecast.skill.hindcast import Hindcast, HindcastSettings

OUTPUTS = ("forecasts.csv", "fits.csv", "scores.json")
SHOWN_ROWS = 6  # evidence rows listed under each big move (the rest are counted)


def print_hindcast(result: Hindcast, console: Console) -> None:
    """The scores per horizon, model against the prior alone, and any fit that failed the gate."""
    t = Table(
        title=f"What the scenario said from {result.fits['origin'].iloc[0]} to "
        f"{result.fits['origin'].iloc[-1]} ({len(result.fits)} origins), on what has resolved",
        title_justify="left",
    )
    for name in ("within", "resolved", "happened", "Brier", "prior Brier", "log loss"):
        t.add_column(name, justify="left" if name == "within" else "right")
    t.add_column("prior log loss", justify="right")
    t.add_column("model - prior (log, 90%)", justify="right")

    def num(v):
        return "-" if v is None else f"{v:.4f}"

    for h, sc in result.summary()["horizons"].items():
        d = sc["model_minus_prior_log"]
        t.add_row(
            f"{h} months",
            str(sc["n"]),
            str(sc["n_happened"]),
            num(sc["model_brier"]),
            num(sc["prior_brier"]),
            num(sc["model_log"]),
            num(sc["prior_log"]),
            "-" if d is None else f"{d['value']:+.4f} ({d['lower']:+.4f} to {d['upper']:+.4f})",
        )
    console.print(t)
    bad = result.fits[~result.fits["converged"].astype(bool)]
    if len(bad):
        console.print(
            f"[bold red]{len(bad)} of {len(result.fits)} fits did not pass the diagnostics gate "
            "(fits.csv): their forecasts are less certain than shown.[/bold red]"
        )


def write_hindcast(
    result: Hindcast, folder: Path, *, inputs: Inputs, settings: HindcastSettings
) -> Path:
    """Write the forecasts, fits, scores and a manifest of what went in into ``folder`` (each
    file replaced atomically; the manifest last, with the others' hashes)."""
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / "forecasts.csv", result.forecasts.to_csv(index=False))
    replace_atomically(folder / "fits.csv", result.fits.to_csv(index=False))
    replace_atomically(folder / "scores.json", json.dumps(result.summary(), indent=2))
    manifest = {
        **provenance(inputs, seed=settings.sampler.seed, settings=settings),
        "outputs": {name: sha256_file(folder / name) for name in OUTPUTS},
    }
    replace_atomically(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    return folder


def read_hindcast(folder: Path) -> tuple[dict, pd.DataFrame]:
    """The scores and forecasts of a ``forecast hindcast --out`` folder; ``InputError`` naming the
    file if either is missing or not what it writes."""
    folder = Path(folder)

    def bad(path: Path, why: str) -> InputError:
        return InputError([Problem(str(path), "(file)", "file", f"not a hindcast result: {why}")])

    scores_file, forecasts_file = folder / "scores.json", folder / "forecasts.csv"
    try:
        scores = json.loads(scores_file.read_text(encoding="utf-8"))
        forecasts = pd.read_csv(forecasts_file)
    except (OSError, ValueError) as exc:
        path = scores_file if not scores_file.is_file() else forecasts_file
        raise bad(path, getattr(exc, "strerror", None) or str(exc)) from None
    if not isinstance(scores, dict) or "horizons" not in scores:
        raise bad(scores_file, "needs 'horizons' scores (forecast hindcast --out)")
    need = {"origin", "outcome", "candidate", "horizon_months", "probability", "prior", "y"}
    if need - set(forecasts):
        raise bad(forecasts_file, f"no column {', '.join(sorted(need - set(forecasts)))}")
    return scores, forecasts


def big_moves(
    forecasts: pd.DataFrame, evidence: Evidence, s: Scenario, horizon: int, per_outcome: int = 2
) -> list[dict]:
    """Per outcome, its ``per_outcome`` largest changes between consecutive origins at
    ``horizon``, each with the evidence rows that became public between the two origins (what
    the later fit saw and the earlier did not): first the rows on the outcome itself, then those
    on the factors it reads, then the rest, newest first within each."""
    whole = forecasts[forecasts["candidate"].isna() & (forecasts["horizon_months"] == horizon)]
    out = []
    for outcome, g in whole.groupby("outcome", sort=False):
        g = g.sort_values("origin")
        step = g["probability"].diff()
        for i in step.abs().nlargest(per_outcome).index:
            if not step[i]:
                continue
            k = g.index.get_loc(i)
            before, after = g.iloc[k - 1]["origin"], g.iloc[k]["origin"]
            p0, p1 = g.iloc[k - 1]["probability"], g.iloc[k]["probability"]
            lo, hi = (pd.Timestamp(evidence_cutoff(pd.Period(x, "M"))) for x in (before, after))
            public = evidence.public_on()
            fresh = _by_relevance(evidence, public[(public > lo) & (public <= hi)], s, outcome)
            out.append(
                {
                    "outcome": outcome,
                    "from": before,
                    "to": after,
                    "before": float(p0),
                    "after": float(p1),
                    "rows": [evidence.row(r) for r in fresh[:SHOWN_ROWS]],
                    "more": max(len(fresh) - SHOWN_ROWS, 0),
                }
            )
    return out


def _by_relevance(evidence: Evidence, public: pd.Series, s: Scenario, outcome: str) -> pd.Index:
    """The rows of ``public`` (their public days), those on ``outcome`` first, then those on the
    factors (or the measure) it reads, then the rest; newest first within each."""
    o = s.outcomes[outcome]
    factors = set(o.loadings)
    if o.measure is not None:
        factors |= {o.measure, s.indicators[o.measure].factor if o.measure in s.indicators else ""}
    fr = evidence.frame.loc[public.index]
    rank = np.where(fr["outcome"] == outcome, 0, np.where(fr["target"].isin(factors), 1, 2))
    order = pd.DataFrame({"rank": rank, "day": public.to_numpy()}, index=public.index)
    return order.sort_values(["rank", "day"], ascending=[True, False], kind="stable").index


def hindcast_section(
    scores: dict, forecasts: pd.DataFrame, evidence: Evidence, s: Scenario
) -> dict:
    """Everything the report's "what the model said over time" section shows: per horizon the
    model's and the prior's scores on what resolved, with the difference in words; the figure at
    the longest horizon; its biggest moves with the evidence behind them; what was changed to
    keep hindsight out."""
    horizons = sorted(int(h) for h in scores["horizons"])
    rows = []
    for h in horizons:
        sc = scores["horizons"][str(h)]
        d = sc.get("model_minus_prior_log")
        rows.append(
            {
                **sc,
                "horizon": h,
                "verdict": comparison(d, "the scenario's prior alone") if sc["n"] else None,
            }
        )
    longest = horizons[-1]
    labels = {o: x.label for o, x in s.outcomes.items()}
    origins = sorted(set(forecasts["origin"]))
    return {
        "rows": rows,
        "first": origins[0],
        "last": origins[-1],
        "n_origins": len(origins),
        "horizon": longest,
        "moves": [
            {**m, "label": labels.get(m["outcome"], m["outcome"])}
            for m in big_moves(forecasts, evidence, s, longest)
        ],
        "changes": scores.get("hindsight_removed", []),
        "figure": plots.hindcast_chart(forecasts, longest, labels),
    }
