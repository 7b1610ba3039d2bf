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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader
from matplotlib.figure import Figure

from forecast.data.evidence import Evidence
from forecast.data.files import replace_atomically
from forecast.data.rules import split_urls
from forecast.inference.gate import DEFAULT_GATE, Gate
from forecast.report import plots
from forecast.report.hindcast_report import hindcast_section
from forecast.report.run_words import (
    STALE_AFTER_DAYS,
    convergence,
    fit_method,
    headline,
    horizon_ends,
    scale_legend,
    staleness,
)
from forecast.report.track_record import track_record
from forecast.report.words import long_date
from forecast.runs.explain import Change, change_since, new_rows
from forecast.runs.store import Run
from forecast.runs.update import forecast_table

# The 90% interval's reach, said beside the table so no reader takes it for more than it is
INTERVAL_SCOPE = (
    "The 90% interval is the model's uncertainty about its parameters, given the scenario and "
    "the evidence; it does not cover the scenario itself being wrong (its factors, links and "
    "priors), errors in coding the evidence, or events outside the model."
)


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


def _row(ev: Evidence, i: int) -> dict:
    """One evidence row for the templates: what it says and where it comes from."""
    r = ev.row(i)
    return {
        **r,
        "where": f"{r['file']}:{r['row']}",
        "value": f"{r['value']:g}",
        "links": split_urls(r["source_url"]) if r["source_url"] else [],
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
    inputs = run.inputs()  # re-validated from the run's copy: read it once
    added = []
    for r in new_rows(inputs, previous.inputs()):
        effects = {}
        for o, ch in changes.items():
            hit = next((i for i in ch.by_row if i.rows == [r]), None)
            effects[o] = None if hit is None else {"pp": hit.effect[mid], "ok": hit.reliable}
        added.append({**_row(inputs.evidence, r), "effects": effects})
    return Moved(previous, horizons, changes, added)


def build_context(
    runs: Sequence[Run],
    *,
    today: date | None = None,
    stale_after_days: int = STALE_AFTER_DAYS,
    backtest: tuple[dict, pd.DataFrame] | None = None,
    hindcast: tuple[dict, pd.DataFrame] | None = None,
    gate: Gate = DEFAULT_GATE,
) -> dict:
    """Everything the template shows, computed from the run history (latest run last).

    ``today`` (default: the date it runs) is the report's date: evidence ending more than
    ``stale_after_days`` before it earns a warning. ``backtest`` (scores and forecasts from
    ``forecast.report.track_record.read_backtest``) adds the track record, ``hindcast`` (from
    ``forecast.report.hindcast_report.read_hindcast``) what the model said over time. ``gate`` is
    the limits the texts quote.
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
    said = None
    if hindcast is not None:
        said = hindcast_section(*hindcast, inputs.evidence, s)
        images["hindcast"] = said.pop("figure")
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
        "said": said,
        "evidence": [{**_row(inputs.evidence, i), "new": i in added_ids} for i in frame.index],
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
    hindcast: tuple[dict, pd.DataFrame] | None = None,
    gate: Gate = DEFAULT_GATE,
) -> Path:
    """Write ``out/index.html`` for the latest of ``runs`` (atomically) and return its path.

    ``today``, ``stale_after_days``, ``backtest``, ``hindcast`` and ``gate`` as in
    ``build_context``.
    """
    context = build_context(
        runs,
        today=today,
        stale_after_days=stale_after_days,
        backtest=backtest,
        hindcast=hindcast,
        gate=gate,
    )
    html = render(context)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    replace_atomically(target, html, mode=0o644)  # a report is meant to be shared
    return target
