"""A static, self-contained HTML report of the latest run, for readers who never open a terminal.

``write_report`` gathers what an analyst needs (headline forecasts with intervals, convergence in
plain words, the forecast history, factor paths, what moved since the previous run and the evidence
behind it, the evidence log, the run manifest), draws the figures with ``forecast.report.plots``,
inlines them as PNG data URIs and renders ``templates/report.html.j2`` with Jinja2 (autoescaped).
The result is one ``index.html`` that needs no network.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader
from matplotlib.figure import Figure

from forecast.data.evidence import split_urls
from forecast.data.files import replace_atomically
from forecast.data.scenario import Scenario
from forecast.inference.sampling import ESS_MIN, RHAT_MAX
from forecast.report import plots
from forecast.runs.explain import Change, change_since, new_rows
from forecast.runs.store import Run

MEANING = {
    "event": "chance it happens by then",
    "persistence": "chance it still holds then",
    "state": "chance the condition is met by then",
}


def run_history(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run's forecast table stacked, oldest run first, with the run's id, dates and status."""
    frames = []
    for run in runs:
        m = run.manifest
        frames.append(
            run.forecast().assign(
                run=run.id,
                created_at=m["created_at"],
                origin_date=m.get("origin_date"),
                converged=bool(m["converged"]),
            )
        )
    return pd.concat(frames, ignore_index=True)


def png_data_uri(fig: Figure, dpi: int = 110) -> str:
    """A figure as an inline ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _reweighted(manifest: dict) -> list[str]:
    """A sentence for a warm update (an earlier sampled run reweighted), if this run was one."""
    d = manifest.get("diagnostics", {})
    if d.get("method") != "psis":
        return []
    return [
        "This update did not sample afresh: it reweighted the draws of an earlier sampled run by "
        f"the evidence that changed since ({manifest.get('reused', {}).get('posterior', '')}). "
        f"The reweighting is trusted because its Pareto k̂ ({d['pareto_k']:.2f}) is at most 0.7; "
        "the ESS above is the earlier run's, scaled by the reweighting's efficiency."
    ]


def convergence(manifest: dict) -> dict:
    """The diagnostics gate's verdict as plain sentences: ``{"ok": bool, "lines": [...]}``."""
    d = manifest.get("diagnostics", {})
    rhat = d.get("max_rhat", float("nan"))
    ess = min(d.get("min_ess_bulk", float("nan")), d.get("min_ess_tail", float("nan")))
    div = d.get("divergences", 0)
    chains = d.get("chains", "the")
    if manifest.get("converged"):
        return {
            "ok": True,
            "lines": [
                f"The fit passed every convergence check: the {chains} independent sampling "
                f"chains agree (largest R-hat {rhat:.3f}, limit {RHAT_MAX}), there are enough "
                f"effectively independent draws (smallest ESS {ess:.0f}, minimum {ESS_MIN}) and "
                "the sampler reported no divergent transitions.",
                "The numbers below can be relied on as far as the model and its evidence go.",
                *_reweighted(manifest),
            ],
        }
    lines = []
    if rhat > RHAT_MAX:
        lines.append(
            f"The independent sampling chains disagree with each other (largest R-hat {rhat:.3f};"
            f" it must be at most {RHAT_MAX})."
        )
    if ess < ESS_MIN:
        lines.append(
            f"There are too few effectively independent draws to pin the numbers down "
            f"(smallest ESS {ess:.0f}; at least {ESS_MIN} are needed)."
        )
    if div:
        lines.append(
            f"The sampler hit {div} divergent transition(s): it could not explore the whole "
            "range of plausible parameter values."
        )
    lines.append(
        "Refit with more draws (forecast update --draws 2000 --tune 2000 --force) or review the "
        "newest evidence before using these forecasts."
    )
    return {"ok": False, "lines": lines, "problems": d.get("problems", [])}


def _pct(p: float) -> str:
    """A probability in whole percent; near-certain values say so instead of rounding to 0/100."""
    if 0.0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1.0:
        return ">99%"
    return f"{p:.0%}"


# What a forecast's power-scaling verdict (forecast.inference.sensitivity) tells a reader
BASIS = {
    "mostly prior": "mostly prior: the evidence says little",
    "mixed": "prior and evidence both matter",
    "mostly data": "mostly evidence",
}


def _cell(p: float, lo: float, hi: float, verdict: object = None) -> dict:
    """A headline cell; a certain value (the outcome already resolved) says so."""
    resolved = lo == hi == p and p in (0.0, 1.0)
    iv = "already resolved" if resolved else f"90%: {_pct(lo)}–{_pct(hi)}"
    basis = "" if resolved or not isinstance(verdict, str) else BASIS.get(verdict, "")
    return {"p": _pct(p), "interval": iv, "basis": basis}


def headline(forecast: pd.DataFrame, s: Scenario) -> tuple[list[int], list[dict]]:
    """Rows of the headline table: each outcome (then its candidates) with a cell per horizon."""
    horizons = sorted(int(h) for h in forecast["horizon_months"].unique())
    rows = []
    for (o, c), g in forecast.groupby(["outcome", "candidate"], dropna=False, sort=False):
        out = s.outcomes[o]
        cand = c if isinstance(c, str) and c else None
        by_h = g.set_index("horizon_months")
        rows.append(
            {
                "label": out.candidates[cand].label if cand else out.label,
                "candidate": cand is not None,
                "meaning": "" if cand else MEANING[out.kind],
                "cells": [
                    _cell(
                        *by_h.loc[h, ["probability", "lower", "upper"]],
                        by_h.get("evidence_verdict", {}).get(h),
                    )
                    for h in horizons
                ],
            }
        )
    return horizons, rows


def _links(cell: str) -> list[str]:
    return split_urls(cell) if isinstance(cell, str) else []


def _row(frame: pd.DataFrame, i: int) -> dict:
    """One evidence row for the templates: what it says and where it comes from."""
    x = frame.loc[i]
    value = x["value"]
    return {
        "where": f"{Path(x['file']).name}:{int(x['row'])}",
        "date": x["date"].date().isoformat(),
        "kind": x["kind"],
        "target": x["target"],
        "value": f"{value:g}" if isinstance(value, float) else str(value),
        "source": x["source"],
        "links": _links(x["source_url"]),
        "note": x["note"] if isinstance(x["note"], str) else "",
    }


@dataclass(frozen=True)
class Moved:
    """What changed since the previous run: per-outcome changes and the rows added since."""

    previous: Run
    horizons: list[int]
    changes: dict[str, Change]
    added: list[dict]  # evidence rows with their effect on each outcome at the middle horizon


def what_moved(run: Run, previous: Run, outcomes: Sequence[str]) -> Moved:
    """Attribute each outcome's change since ``previous`` to the evidence added since (PSIS)."""
    changes = {o: change_since(run, previous, o) for o in outcomes}
    horizons = sorted(run.manifest["horizons"])
    mid = horizons[len(horizons) // 2]
    frame = run.inputs().evidence.frame
    added = []
    for r in new_rows(run.inputs(), previous.inputs()):
        effects = {}
        for o, ch in changes.items():
            hit = next((i for i in ch.by_row if i.rows == [r]), None)
            effects[o] = None if hit is None else {"pp": hit.effect[mid], "ok": hit.reliable}
        added.append({**_row(frame, r), "effects": effects})
    return Moved(previous, horizons, changes, added)


def build_context(runs: Sequence[Run]) -> dict:
    """Everything the template shows, computed from the run history (latest run last)."""
    run = runs[-1]
    m = run.manifest
    same = [r for r in runs if r.manifest["scenario"] == m["scenario"]]
    inputs = run.inputs()
    s = inputs.scenario
    forecast = run.forecast()
    idata = run.posterior()
    horizons, rows = headline(forecast, s)
    outcome_labels = {o: x.label for o, x in s.outcomes.items()}
    factor_labels = {k: f.label for k, f in s.factors.items()}
    mid = horizons[len(horizons) // 2]
    moved = what_moved(run, same[-2], list(s.outcomes)) if len(same) > 1 else None
    added_ids = set(new_rows(inputs, same[-2].inputs())) if len(same) > 1 else set()
    frame = inputs.evidence.frame.sort_values(["date", "row"], ascending=False)
    images = {
        "forecast": plots.forecast_chart(forecast, outcome_labels),
        "history": plots.history_chart(run_history(same), outcome_labels),
        "factors": plots.factor_paths(idata, factor_labels),
        "loadings": plots.loadings_forest(idata, {**outcome_labels, **factor_labels}),
    }
    if moved is not None:
        images["moved"] = plots.what_moved(moved.changes, mid, outcome_labels)
    return {
        "title": s.title,
        "scenario": s.name,
        "run": run.id,
        "created_at": _when(m["created_at"]),
        "origin_date": m.get("origin_date"),
        "evidence_rows": m.get("evidence_rows"),
        "n_runs": len(same),
        "convergence": convergence(m),
        "horizons": horizons,
        "mid": mid,
        "headline": rows,
        "outcome_labels": outcome_labels,
        "images": {k: png_data_uri(f) for k, f in images.items()},
        "moved": moved,
        "evidence": [{**_row(frame, i), "new": i in added_ids} for i in frame.index],
        "manifest_facts": _manifest_facts(m),
        "manifest_json": json.dumps(m, indent=2, sort_keys=True),
    }


def _when(iso: str) -> str:
    """An ISO time stamp as ``YYYY-MM-DD HH:MM UTC``."""
    return pd.Timestamp(iso).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def _manifest_facts(m: dict) -> list[tuple[str, str]]:
    """The manifest's main facts as (name, value) pairs for a small table."""
    smp = m.get("sampler", {})
    ver = m.get("versions", {})
    return [
        ("run", m.get("id", "")),
        ("created (UTC)", m.get("created_at", "")),
        ("scenario", m.get("scenario", "")),
        ("evidence up to", str(m.get("origin_date"))),
        ("evidence rows", str(m.get("evidence_rows"))),
        ("input hash", m.get("input_hash", "")),
        ("seed", str(m.get("seed"))),
        (
            "sampler",
            f"{smp.get('sampler')}: {smp.get('chains')} chains × {smp.get('draws')} draws "
            f"({smp.get('tune')} warm-up)",
        ),
        ("wall time", f"{m.get('wall_time_s', 0):.0f} s"),
        ("versions", ", ".join(f"{k} {v}" for k, v in ver.items())),
        *((f"file {name}", digest) for name, digest in sorted(m.get("files", {}).items())),
    ]


def render(context: dict) -> str:
    """The report page for ``context`` (``build_context``), autoescaped."""
    env = Environment(
        loader=PackageLoader("forecast.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**context)


def write_report(runs: Sequence[Run], out: Path) -> Path:
    """Write ``out/index.html`` for the latest of ``runs`` (atomically) and return its path."""
    html = render(build_context(runs))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    replace_atomically(target, html, mode=0o644)  # a report is meant to be shared
    return target
