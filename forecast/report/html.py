"""A static, self-contained HTML report of the latest run, for readers who never open a terminal.

``write_report`` gathers what an analyst needs (headline forecasts with intervals, in estimative
words, by calendar date, each outcome with its resolution rule; convergence and how the run was
made in plain words; a warning when the evidence is old; the forecast history, factor paths, what
moved since the previous run and the evidence behind it, the evidence log, the run manifest),
draws the figures with ``forecast.report.plots``, inlines them as PNG data URIs and renders
``templates/report.html.j2`` with Jinja2 (autoescaped). The result is one ``index.html`` that
needs no network.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader
from matplotlib.figure import Figure

from forecast.data.files import replace_atomically
from forecast.data.rules import split_urls
from forecast.data.scenario import Scenario
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.report import plots
from forecast.report.track_record import track_record
from forecast.report.words import ESTIMATIVE_SCALE, estimative_word, long_date
from forecast.runs.explain import Change, change_since, new_rows
from forecast.runs.store import Run
from forecast.runs.update import forecast_table

# What each number of an outcome is, by kind; the outcome's own description says what counts
MEANING = {
    "event": "chance it happens by then",
    "persistence": "chance it still holds then",
    "state": "chance the condition is met by then",
}
NO_RULE = "The scenario gives no description of what counts."
# The 90% interval's reach, said beside the table so no reader takes it for more than it is
INTERVAL_SCOPE = (
    "The 90% interval is the model's uncertainty about its parameters, given the scenario and "
    "the evidence; it does not cover the scenario itself being wrong (its factors, links and "
    "priors), errors in coding the evidence, or events outside the model."
)
STALE_AFTER_DAYS = 30  # evidence older than this when the report is made earns a warning


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


def _base_run(manifest: dict) -> str | None:
    """The id of the sampled run a reweighted run's draws come from (older runs name it only in
    their ``reused.posterior`` note, which ``forecast.runs.update`` writes as ``run <id> ...``)."""
    reused = manifest.get("reused") or {}
    if reused.get("base_run"):
        return str(reused["base_run"])
    m = re.match(r"run (\S+) \(NUTS\) reweighted", str(reused.get("posterior", "")))
    return m.group(1) if m else None


def _rows(n: int, what: str = "evidence row") -> str:
    """``n`` things in words: ``1 evidence row``, ``3 evidence rows``."""
    return f"{n} {what}" + ("" if n == 1 else "s")


def fit_method(run: Run, runs: Sequence[Run] = (), gate: Gate = DEFAULT_GATE) -> str:
    """How the run's draws were made, in one plain sentence: sampled (NUTS), or an earlier
    sampled run's draws reweighted by the evidence that changed (PSIS, trusted within ``gate``)."""
    m = run.manifest
    d = m.get("diagnostics", {})
    if d.get("method") != "psis":
        return (
            f"This run was sampled (NUTS): its draws come from a fresh fit of the model to all "
            f"{_rows(int(m.get('evidence_rows') or 0))}."
        )
    base_id = _base_run(m)
    base = next((r for r in runs if r.id == base_id), None)
    k_hat = d.get("pareto_k")
    how = f"PSIS, k̂ = {k_hat:.2f}" if isinstance(k_hat, int | float) else "PSIS"
    if base is None:  # not in the store any more: say what the manifest knows
        change = "the evidence that changed since"
    else:
        added = len(new_rows(run.inputs(), base.inputs()))
        dropped = len(new_rows(base.inputs(), run.inputs()))
        change = _rows(added, "new evidence row")
        if dropped:
            change += f" and leave out {dropped} removed or edited"
    return (
        f"This run reweights run {base_id or '(unknown)'}'s draws to include {change} ({how}): it "
        f"did not sample afresh. Reweighting is trusted only when k̂ is at most {gate.k_hat_max}; "
        "the ESS above is the earlier run's, scaled by the reweighting's efficiency."
    )


def staleness(
    evidence_end: str | None, today: date, limit_days: int = STALE_AFTER_DAYS
) -> str | None:
    """A warning when the evidence ends more than ``limit_days`` before ``today``, else None."""
    if not evidence_end:
        return None
    end = date.fromisoformat(evidence_end)
    gap = (today - end).days
    if gap <= limit_days:
        return None
    return (
        f"The evidence ends on {long_date(end)}, {gap} days before this report: the forecasts "
        "do not know what happened since."
    )


def scale_legend() -> list[tuple[str, str]]:
    """The estimative words with their ranges, as (word, range) pairs for the legend."""
    out, lo = [], 0.0
    for i, (hi, word) in enumerate(ESTIMATIVE_SCALE):
        if i == 0:
            span = f"below {hi:.0%}"
        elif i == len(ESTIMATIVE_SCALE) - 1:
            span = f"{lo:.0%} or more"
        else:
            span = f"{lo:.0%} to {hi:.0%}"
        out.append((word, span))
        lo = hi
    return out


def convergence(manifest: dict, gate: Gate = DEFAULT_GATE) -> dict:
    """The verdict of ``gate`` as plain sentences: ``{"ok": bool, "lines": [...]}``."""
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
                f"chains agree (largest R-hat {rhat:.3f}, limit {gate.rhat_max}), there are "
                f"enough effectively independent draws (smallest ESS {ess:.0f}, minimum "
                f"{gate.ess_min}) and the sampler reported no divergent transitions.",
                "So the numbers below are this model's answer to its evidence, computed reliably;"
                " that says nothing on whether the scenario itself is right (how good the model"
                " has been is under Track record, when backtest results are given).",
            ],
        }
    lines = []
    if rhat > gate.rhat_max:
        lines.append(
            f"The independent sampling chains disagree with each other (largest R-hat {rhat:.3f};"
            f" it must be at most {gate.rhat_max})."
        )
    if ess < gate.ess_min:
        lines.append(
            f"There are too few effectively independent draws to pin the numbers down "
            f"(smallest ESS {ess:.0f}; at least {gate.ess_min} are needed)."
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
    "unclear": "prior or evidence: too close to call",
}


def _cell(p: float, lo: float, hi: float, verdict: object = None) -> dict:
    """A headline cell; a certain value (the outcome already resolved) says so, with no word."""
    resolved = lo == hi == p and p in (0.0, 1.0)
    iv = "already resolved" if resolved else f"90%: {_pct(lo)}–{_pct(hi)}"
    basis = "" if resolved or not isinstance(verdict, str) else BASIS.get(verdict, "")
    word = "" if resolved else estimative_word(p)
    return {"p": _pct(p), "word": word, "interval": iv, "basis": basis}


def horizon_ends(forecast: pd.DataFrame) -> dict[int, str]:
    """Each horizon's calendar end in words (``31 January 2027``), from the table's ``end_date``
    (``forecast.runs.update.forecast_table``); empty for a table without it."""
    if "end_date" not in forecast:
        return {}
    pairs = forecast[["horizon_months", "end_date"]].drop_duplicates()
    return {
        int(h): long_date(date.fromisoformat(str(e)))
        for h, e in zip(pairs["horizon_months"], pairs["end_date"], strict=True)
    }


def headline(forecast: pd.DataFrame, s: Scenario) -> tuple[list[int], list[dict]]:
    """Rows of the headline table: each outcome (then its candidates) with a cell per horizon.

    An outcome's row carries its description from the scenario (``rule``, what counts) and what
    its numbers are (``meaning``, by the outcome's kind).
    """
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
                "rule": "" if cand else (out.description.strip() or NO_RULE),
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


def what_moved(
    run: Run, previous: Run, outcomes: Sequence[str], gate: Gate = DEFAULT_GATE
) -> Moved:
    """Attribute each outcome's change since ``previous`` to the evidence added since (PSIS)."""
    changes = {o: change_since(run, previous, o, gate=gate) for o in outcomes}
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


def build_context(
    runs: Sequence[Run],
    *,
    today: date | None = None,
    stale_after_days: int = STALE_AFTER_DAYS,
    backtest: tuple[dict, pd.DataFrame] | None = None,
    gate: Gate = DEFAULT_GATE,
) -> dict:
    """Everything the template shows, computed from the run history (latest run last).

    ``today`` (default: the date it runs) is the report's date: evidence ending more than
    ``stale_after_days`` before it earns a warning. ``backtest`` (scores and forecasts from
    ``forecast.report.track_record.read_backtest``) adds the track record. ``gate`` is the limits
    the texts quote.
    """
    run = runs[-1]
    m = run.manifest
    same = [r for r in runs if r.manifest["scenario"] == m["scenario"]]
    inputs = run.inputs()
    s = inputs.scenario
    forecast = forecast_table(run)
    idata = run.posterior()
    horizons, rows = headline(forecast, s)
    outcome_labels = {o: x.label for o, x in s.outcomes.items()}
    factor_labels = {k: f.label for k, f in s.factors.items()}
    mid = horizons[len(horizons) // 2]
    moved = what_moved(run, same[-2], list(s.outcomes), gate) if len(same) > 1 else None
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
    record = track_record(*backtest) if backtest is not None else None
    if record is not None and record["figure"] is not None:
        images["reliability"] = record.pop("figure")
    return {
        "title": s.title,
        "scenario": s.name,
        "run": run.id,
        "created_at": _when(m["created_at"]),
        "origin_date": m.get("origin_date"),
        "origin_words": _long_iso(m.get("origin_date")),
        "evidence_end": run.evidence_end,
        "evidence_words": _long_iso(run.evidence_end),
        "origin_later": m.get("origin_date") != run.evidence_end,
        "evidence_rows": m.get("evidence_rows"),
        "n_runs": len(same),
        "convergence": convergence(m, gate),
        "method": fit_method(run, same, gate),
        "stale": staleness(run.evidence_end, today or date.today(), stale_after_days),
        "horizons": horizons,
        "horizon_ends": horizon_ends(forecast),
        "interval_scope": INTERVAL_SCOPE,
        "scale": scale_legend(),
        "mid": mid,
        "headline": rows,
        "outcome_labels": outcome_labels,
        "images": {k: png_data_uri(f) for k, f in images.items()},
        "moved": moved,
        "track": record,
        "evidence": [{**_row(frame, i), "new": i in added_ids} for i in frame.index],
        "manifest_facts": _manifest_facts(m),
        "manifest_json": json.dumps(m, indent=2, sort_keys=True),
    }


def _long_iso(iso: str | None) -> str | None:
    return long_date(date.fromisoformat(iso)) if iso else None


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
        ("origin", str(m.get("origin_date"))),
        ("evidence up to", str(m.get("evidence_end", m.get("origin_date")))),
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


def write_report(
    runs: Sequence[Run],
    out: Path,
    *,
    today: date | None = None,
    stale_after_days: int = STALE_AFTER_DAYS,
    backtest: tuple[dict, pd.DataFrame] | None = None,
    gate: Gate = DEFAULT_GATE,
) -> Path:
    """Write ``out/index.html`` for the latest of ``runs`` (atomically) and return its path.

    ``today``, ``stale_after_days``, ``backtest`` and ``gate`` as in ``build_context``.
    """
    context = build_context(
        runs, today=today, stale_after_days=stale_after_days, backtest=backtest, gate=gate
    )
    html = render(context)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    replace_atomically(target, html, mode=0o644)  # a report is meant to be shared
    return target
