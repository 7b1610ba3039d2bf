"""Backtest results out: a score table on the terminal, and a results folder written atomically
(per-question forecasts, scores, reliability tables, fit diagnostics, a reliability plot and a
manifest of what went in)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from forecast.data.files import sha256_file
from forecast.data.inputs import Inputs
from forecast.report.track_record import reliability_frame
from forecast.runs.provenance import provenance
from forecast.skill.backtest import Backtest, BacktestSettings
from forecast.skill.scoring import FORECASTERS


def _score_table(title: str, sc: dict, console: Console) -> None:
    """One set of origins: each forecaster's Brier and log loss on the comparison set, then the
    model against the crowd and the fixed extremized crowd with their clustered intervals."""
    t = Table(title=title, title_justify="left")
    t.add_column("forecaster")
    t.add_column("Brier", justify="right")
    t.add_column("log loss", justify="right")
    for who in FORECASTERS:
        b, lg = sc[f"{who}_brier"], sc[f"{who}_log"]
        t.add_row(who, "-" if b is None else f"{b:.4f}", "-" if lg is None else f"{lg:.4f}")
    console.print(t)
    if sc["n"]:
        for other in ("crowd", "extremized"):
            parts = []
            for name in ("brier", "log"):
                d = sc[f"model_minus_{other}_{name}"]
                parts.append(f"{name} {d['value']:+.4f} ({d['lower']:+.4f} to {d['upper']:+.4f})")
            console.print(f"model - {other}: " + ", ".join(parts))
        console.print(
            f"90% intervals resample whole questions; with {sc['n']} questions a difference "
            f"smaller than {sc['mdd_brier']:.4f} Brier / {sc['mdd_log']:.3f} log loss is "
            "unlikely to be detected"
        )
    for key, what in (
        ("factor_weight", "weight on the scenario's factor"),
        ("scenario_weight", "weight on the scenario's own probability (log-odds pool)"),
    ):
        w = sc.get(key)
        if w is not None:
            console.print(f"{what}: {w['mean']:+.2f} ({w['lower']:+.2f} to {w['upper']:+.2f})")
    console.print(
        f"all {sc['n_all']} questions: model Brier {sc['model_brier_all']:.4f}, "
        f"base rate {sc['base_rate_brier_all']:.4f}, 0.5 {sc['half_brier_all']:.4f}"
    )


def print_scores(result: Backtest, console: Console) -> None:
    """A score table per lead and one for the calendar origins (time-averaged per question)."""
    for lead, sc in result.scores.items():
        title = (
            f"{lead} days before the scheduled close: {sc['n']} questions with a fresh crowd "
            f"forecast (of {sc['n_all']})"
        )
        _score_table(title, sc, console)
    sc = result.calendar
    _score_table(
        f"Calendar origins (1st and 15th while open), time-averaged per question: {sc['n']} "
        f"questions, {sc['n_forecasts']} forecasts with a fresh crowd (of {sc['n_all']})",
        sc,
        console,
    )
    bad = result.fits[~result.fits["converged"]]
    if len(bad):
        console.print(
            f"[bold red]{len(bad)} of {len(result.fits)} fits did not pass the diagnostics gate "
            "(see fits.csv with --out); their forecasts are less certain than shown.[/bold red]"
        )


def write_backtest(
    result: Backtest,
    out_dir: Path,
    *,
    inputs: Inputs,
    extra_files: list[Path],
    settings: BacktestSettings,
) -> Path:
    """Write the results folder into a temporary sibling, then move it into place.

    ``extra_files`` are inputs besides the scenario's (question, crowd and links files): their
    hashes go into the manifest with the scenario's."""
    from forecast.report.plots import reliability_diagram

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out_dir.parent))
    try:
        result.forecasts.to_csv(tmp / "forecasts.csv", index=False)
        result.reliability.to_csv(tmp / "reliability.csv", index=False)
        result.fits.to_csv(tmp / "fits.csv", index=False)
        (tmp / "scores.json").write_text(json.dumps(result.summary(), indent=2))
        frame = reliability_frame(result.forecasts)
        reliability_diagram(frame).savefig(tmp / "reliability.png", dpi=120)
        manifest = {
            **provenance(inputs, seed=settings.seed, settings=settings, extra_files=extra_files),
            "outputs": {p.name: sha256_file(p) for p in sorted(tmp.iterdir())},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        if out_dir.exists():
            old = out_dir.with_name(f".old-{out_dir.name}")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out_dir, old)
            os.rename(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
