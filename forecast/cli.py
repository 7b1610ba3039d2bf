"""The ``forecast`` command line: validate inputs, run updates, read forecasts."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from forecast.errors import InputError
from forecast.inputs import DEFAULT_SCENARIO, Inputs, load_inputs

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_BUSY = 4

app = typer.Typer(
    help="Calibrated, auditable probability forecasts of diplomatic outcomes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"


ScenarioOpt = Annotated[
    str, typer.Option("--scenario", "-s", help="Scenario name: priors/NAME.toml and data/NAME/.")
]
RootOpt = Annotated[Path, typer.Option("--root", help="Project folder holding priors/ and data/.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (default) or json.")]


@app.callback()
def _root() -> None:
    """Calibrated, auditable probability forecasts of diplomatic outcomes."""


def _inputs(scenario: str, root: Path) -> Inputs:
    """Load inputs or print every located error and exit with the bad-input code."""
    try:
        return load_inputs(scenario, root)
    except InputError as exc:
        _bad_input(exc)


def _bad_input(exc: InputError) -> NoReturn:
    """Print every located problem and exit with the bad-input code."""
    for p in exc.problems:
        err.print(str(p), markup=False, highlight=False)
    err.print(f"[red]{len(exc.problems)} problem(s) found; nothing was run.[/red]")
    raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def check(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    format: FormatOpt = Format.table,
) -> None:
    """Validate a scenario and its evidence log and summarize them.

    Examples:
      forecast check
      forecast check --scenario israel_russia --format json
    """
    inputs = _inputs(scenario, root)
    s, ev = inputs.scenario, inputs.evidence
    counts = ev.frame["kind"].value_counts().sort_index().to_dict()
    span = (
        (ev.frame["date"].min().date().isoformat(), ev.frame["date"].max().date().isoformat())
        if len(ev.frame)
        else (None, None)
    )
    if format is Format.json:
        out.print_json(
            json.dumps(
                {
                    "scenario": s.name,
                    "factors": s.factor_names,
                    "outcomes": s.outcome_names,
                    "indicators": list(s.indicators),
                    "evidence_rows": len(ev.frame),
                    "rows_by_kind": {k: int(v) for k, v in counts.items()},
                    "date_span": list(span),
                    "files": [str(f) for f in inputs.files],
                }
            )
        )
        return
    out.print(f"[bold]{s.title}[/bold] ({s.name}) — inputs are valid")
    t = Table(show_header=False, box=None)
    t.add_row("factors", ", ".join(s.factor_names))
    t.add_row(
        "outcomes",
        ", ".join(
            f"{n} ({len(o.candidates)} candidates)" if o.candidates else n
            for n, o in s.outcomes.items()
        ),
    )
    t.add_row("indicators", ", ".join(s.indicators) or "-")
    t.add_row("evidence rows", f"{len(ev.frame)} in {len(ev.files)} file(s)")
    t.add_row("by kind", ", ".join(f"{k}: {v}" for k, v in counts.items()) or "-")
    t.add_row("date span", f"{span[0]} .. {span[1]}")
    t.add_row("horizons", ", ".join(f"{h} months" for h in s.horizons))
    out.print(t)


RunsOpt = Annotated[Path, typer.Option("--runs", help="Run store folder.")]


def _phase_printer(quiet: bool):
    """A Rich status line for long work; silent with --quiet (for cron)."""
    if quiet:
        return None, None
    status = err.status("starting", spinner="dots")
    return status, lambda msg: status.update(f"[cyan]{msg}[/cyan]")


@app.command()
def update(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    runs: RunsOpt = Path("runs"),
    seed: Annotated[int, typer.Option(help="Random seed (same inputs + seed = same numbers).")] = 1,
    draws: Annotated[int, typer.Option(help="Posterior draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Warm-up draws per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Number of chains.")] = 4,
    sampler: Annotated[str, typer.Option(help="nutpie (default) or pymc.")] = "nutpie",
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="Refits after a failed diagnostics gate, each with smaller steps (higher"
            " target_accept) and 1.5x the draws; failed attempts are kept in the manifest.",
        ),
    ] = 1,
    force: Annotated[bool, typer.Option("--force", help="Refit even if nothing changed.")] = False,
    cold: Annotated[
        bool, typer.Option("--cold", help="Always sample; never reweight a previous run.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Fit the scenario to its evidence and store a dated run.

    When only evidence rows changed since a converged run (same months, terms and sources), that
    run's posterior is reweighted by the change (Pareto-smoothed importance sampling) in seconds;
    if the reweighting fails its gate (Pareto k̂ > 0.7 or too few effective draws), or with
    --cold, the model is sampled afresh.

    Exit codes: 0 ok (or nothing changed), 2 bad input, 3 the fit did not converge,
    4 another update holds the store.

    Examples:
      forecast update --runs runs --seed 1
      forecast update --scenario israel_russia --quiet   # from cron
    """
    from forecast.inference import SamplerSettings
    from forecast.store import RunStore, StoreBusy
    from forecast.update import run_update

    if sampler not in ("nutpie", "pymc"):
        err.print(f"[red]--sampler must be nutpie or pymc, got {sampler!r}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    inputs = _inputs(scenario, root)
    settings = SamplerSettings(
        sampler=sampler,  # type: ignore[arg-type]
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        retries=retries,
    )
    status, on_phase = _phase_printer(quiet)
    try:
        if status:
            status.start()
        result = run_update(
            inputs, RunStore(runs), settings, force=force, cold=cold, on_phase=on_phase
        )
    except StoreBusy as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BUSY) from None
    finally:
        if status:
            status.stop()
    run = result.run
    if not result.fitted:
        if not quiet:
            err.print(f"Nothing changed since run {run.id}; not refitting (use --force).")
    elif not quiet:
        err.print(f"Wrote run {run.path}")
    if not result.converged:
        _not_converged_banner(run.manifest)
        raise typer.Exit(EXIT_NOT_CONVERGED)


def _not_converged_banner(manifest: dict) -> None:
    diag = manifest.get("diagnostics", {})
    err.print(
        "[bold white on red] NOT CONVERGED [/bold white on red] "
        "[red]this posterior failed the diagnostics gate; do not rely on its numbers:[/red]"
    )
    for p in diag.get("problems", []):
        err.print(f"[red]  - {p}[/red]")


@app.command()
def summary(
    runs: RunsOpt = Path("runs"),
    format: FormatOpt = Format.table,
) -> None:
    """Print the latest run's forecasts with its convergence status.

    Examples:
      forecast summary --runs runs
      forecast summary --runs runs --format json | jq '.forecasts[0]'
    """
    from forecast.store import RunStore, StoreError
    from forecast.update import forecast_records

    store = RunStore(runs)
    try:
        run = store.latest()
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if run is None:
        err.print(f"[red]No runs in {runs}; run `forecast update --runs {runs}` first.[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    m = run.manifest
    records = forecast_records(run)
    if format is Format.json:
        keys = ("created_at", "scenario", "input_hash", "seed", "origin_date", "wall_time_s")
        body = {
            "run": {
                "id": run.id,
                "converged": m["converged"],
                "diagnostics": m["diagnostics"],
                **{k: m.get(k) for k in keys},
            },
            "forecasts": records,
        }
        out.print_json(json.dumps(body))
        return
    if m["converged"]:
        d = m["diagnostics"]
        out.print(
            f"[bold]Run {run.id}[/bold] ({m['scenario']}, evidence to {m['origin_date']}) "
            f"[green]converged[/green]: R-hat {d['max_rhat']:.3f}, "
            f"min ESS {min(d['min_ess_bulk'], d['min_ess_tail']):.0f}, 0 divergences"
        )
        if d.get("method") == "psis":
            out.print(f"warm update: {m['reused']['posterior']}")
    else:
        out.print(f"[bold]Run {run.id}[/bold] ({m['scenario']})")
        _not_converged_banner(m)
    horizons = sorted({r["horizon_months"] for r in records})
    t = Table(title="P(outcome by horizon) — mean [90% interval]")
    t.add_column("outcome")
    t.add_column("candidate")
    for h in horizons:
        t.add_column(f"{h} mo", justify="right")
    rows: dict[tuple, dict] = {}
    for r in records:
        rows.setdefault((r["outcome"], r["candidate"]), {})[r["horizon_months"]] = r
    for (o, c), by_h in rows.items():
        cells = [
            f"{by_h[h]['probability']:.0%} [{by_h[h]['lower']:.0%}–{by_h[h]['upper']:.0%}]"
            for h in horizons
        ]
        t.add_row(
            o if c is None else "",
            c or "(any open)" if rows_has_candidates(rows, o) else "",
            *cells,
        )
    out.print(t)


def rows_has_candidates(rows: dict, outcome: str) -> bool:
    return any(o == outcome and c is not None for o, c in rows)


def _store_runs(runs: Path):
    from forecast.store import RunStore, StoreError

    try:
        found = RunStore(runs).runs(verify=True)
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if not found:
        err.print(f"[red]No runs in {runs}; run `forecast update --runs {runs}` first.[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    return found


def _headline(records: list[dict], horizon: int) -> dict[str, float]:
    """Outcome-level probability at one horizon (candidate rows left out)."""
    return {
        r["outcome"]: r["probability"]
        for r in records
        if r["candidate"] is None and r["horizon_months"] == horizon
    }


@app.command()
def history(
    runs: RunsOpt = Path("runs"),
    horizon: Annotated[int, typer.Option(help="Horizon (months) of the headline numbers.")] = 12,
    format: FormatOpt = Format.table,
) -> None:
    """Every run: date, convergence, headline probabilities and the change since the run before.

    Examples:
      forecast history --runs runs
      forecast history --runs runs --horizon 24 --format json
    """
    from forecast.update import forecast_records

    entries, prev = [], None
    for run in _store_runs(runs):
        head = _headline(forecast_records(run), horizon)
        change = {k: v - prev[k] for k, v in head.items() if prev and k in prev}
        entries.append(
            {
                "id": run.id,
                "created_at": run.manifest["created_at"],
                "origin_date": run.manifest.get("origin_date"),
                "converged": run.manifest["converged"],
                "evidence_rows": run.manifest.get("evidence_rows"),
                "probability": head,
                "change": change,
            }
        )
        prev = head
    if format is Format.json:
        out.print_json(json.dumps({"horizon_months": horizon, "runs": entries}))
        return
    outcomes = list(entries[-1]["probability"])
    t = Table(title=f"P(outcome within {horizon} months) by run (change since previous run)")
    t.add_column("run")
    t.add_column("evidence to")
    t.add_column("converged")
    for o in outcomes:
        t.add_column(o.replace("_", " "), justify="right")
    for e in entries:
        cells = []
        for o in outcomes:
            p, c = e["probability"].get(o), e["change"].get(o)
            cells.append(
                "-" if p is None else f"{p:.0%}" + (f" ({c:+.0%})" if c is not None else "")
            )
        conv = "[green]yes[/green]" if e["converged"] else "[bold red]NO[/bold red]"
        t.add_row(e["id"], str(e["origin_date"]), conv, *cells)
    out.print(t)


def _split_target(target: str) -> tuple[str, str | None]:
    o, _, c = target.partition(":")
    return o, c or None


@app.command()
def explain(
    target: Annotated[str, typer.Argument(help="OUTCOME or OUTCOME:CANDIDATE.")],
    runs: RunsOpt = Path("runs"),
    top: Annotated[int, typer.Option(help="How many evidence groups to list.")] = 10,
    format: FormatOpt = Format.table,
) -> None:
    """Which evidence moved this outcome's forecast (PSIS on stored log-likelihoods, no refit).

    Shows the change since the previous run attributed to the rows added since then, and the
    influence of each evidence group (kind:target) in the latest fit.

    Examples:
      forecast explain accords_expansion --runs runs
      forecast explain accords_expansion:saudi_arabia --format json
    """
    from forecast.explain import K_HAT_OK, change_since, influences

    found = _store_runs(runs)
    run = found[-1]
    outcome, candidate = _split_target(target)
    try:
        infl = influences(run, outcome, candidate)
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    change = change_since(run, found[-2], outcome, candidate) if len(found) > 1 else None
    frame = run.inputs().evidence.frame

    def row_info(r: int) -> dict:
        x = frame.loc[r]
        return {
            "file": x["file"].split("/")[-1],
            "row": int(x["row"]),
            "date": x["date"].date().isoformat(),
            "kind": x["kind"],
            "target": x["target"],
            "value": float(x["value"]),
            "source": x["source"],
            "source_url": x["source_url"],
        }

    def infl_json(i) -> dict:
        return {
            "label": i.label,
            "effect": i.effect,
            "k_hat": i.k_hat,
            "reliable": i.reliable,
            "rows": len(i.rows),
        }

    if format is Format.json:
        body: dict = {"run": run.id, "target": target, "groups": [infl_json(i) for i in infl[:top]]}
        if change is not None:
            body["since_previous"] = {
                "previous": change.previous,
                "current": change.current,
                "added_rows": [row_info(r) for r in change.added_rows],
                "joint": infl_json(change.joint) if change.joint else None,
                "by_row": [{**infl_json(i), "row": row_info(i.rows[0])} for i in change.by_row],
            }
        out.print_json(json.dumps(body))
        return
    horizons = sorted(infl[0].effect) if infl else []
    if change is not None:
        out.print(f"[bold]{target}[/bold]: change since run {found[-2].id}")
        for h in horizons:
            a, b = change.previous.get(h), change.current.get(h)
            if a is not None and b is not None:
                out.print(f"  {h:>2} months: {a:.1%} → {b:.1%} ({b - a:+.1%})")
        if change.added_rows:
            t = Table(title=f"{len(change.added_rows)} evidence row(s) added since; effect of each")
            t.add_column("row")
            t.add_column("date")
            t.add_column("kind:target")
            t.add_column("value", justify="right")
            for h in horizons:
                t.add_column(f"Δ {h} mo", justify="right")
            t.add_column("k̂", justify="right")
            t.add_column("source")
            for i in change.by_row[:top]:
                ri = row_info(i.rows[0])
                t.add_row(
                    f"{ri['file']}:{ri['row']}",
                    ri["date"],
                    f"{ri['kind']}:{ri['target']}",
                    f"{ri['value']:g}",
                    *[f"{i.effect[h]:+.1%}" for h in horizons],
                    _khat(i.k_hat, K_HAT_OK),
                    f"{ri['source']} {ri['source_url']}",
                )
            out.print(t)
        else:
            out.print("  no evidence rows were added (the change comes from refitting alone)")
    t = Table(title=f"Influence of each evidence group on {target} in run {run.id}")
    t.add_column("evidence group")
    t.add_column("rows", justify="right")
    for h in horizons:
        t.add_column(f"Δ {h} mo", justify="right")
    t.add_column("k̂", justify="right")
    for i in infl[:top]:
        t.add_row(
            i.label,
            str(len(i.rows)),
            *[f"{i.effect[h]:+.1%}" for h in horizons],
            _khat(i.k_hat, K_HAT_OK),
        )
    out.print(t)
    if any(not i.reliable for i in infl[:top]):
        err.print(
            f"[yellow]k̂ > {K_HAT_OK} marks groups whose effect PSIS cannot estimate "
            "reliably: refit without them to measure it.[/yellow]"
        )


def _khat(k: float, ok: float) -> str:
    return f"{k:.2f}" if k <= ok else f"[yellow]{k:.2f} (refit)[/yellow]"


@app.command()
def whatif(
    set_: Annotated[list[str], typer.Option("--set", help="FACTOR=VALUE in standard units.")],
    runs: RunsOpt = Path("runs"),
    format: FormatOpt = Format.table,
) -> None:
    """Forecasts if factors were held at given levels from now on, beside the unconditional ones.

    Computed from the latest run's posterior draws, without refitting.

    Examples:
      forecast whatif --set us_mideast_commitment=1.5
      forecast whatif --set russia_regional_leverage=-1 --set iran_hostility=2 --format json
    """
    from forecast.whatif import whatif as run_whatif

    hold: dict[str, float] = {}
    for item in set_:
        name, sep, value = item.partition("=")
        try:
            hold[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            err.print(f"[red]--set expects FACTOR=NUMBER, got {item!r}[/red]")
            raise typer.Exit(EXIT_BAD_INPUT)
    run = _store_runs(runs)[-1]
    try:
        table = run_whatif(run, hold)
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if format is Format.json:
        recs = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        out.print_json(json.dumps({"run": run.id, "hold": hold, "forecasts": recs}))
        return
    if not run.manifest["converged"]:
        _not_converged_banner(run.manifest)
    held = ", ".join(f"{k} = {v:g}" for k, v in hold.items())
    t = Table(title=f"What if {held} (standard units) from the origin on")
    for c in ("outcome", "candidate", "horizon", "forecast", "what-if", "change"):
        t.add_column(c, justify="right" if c not in ("outcome", "candidate") else "left")
    for r in table.itertuples(index=False):
        cand = r.candidate if isinstance(r.candidate, str) else ""
        t.add_row(
            r.outcome,
            cand,
            f"{r.horizon_months} mo",
            f"{r.probability:.0%}",
            f"{r.probability_whatif:.0%}",
            f"{r.change:+.0%}",
        )
    out.print(t)


@app.command()
def report(
    runs: RunsOpt = Path("runs"),
    out: Annotated[Path, typer.Option("--out", help="Folder to write index.html into.")] = Path(
        "report"
    ),
) -> None:
    """Write a self-contained HTML report of the latest run (one folder, no network needed).

    Headline forecasts with intervals, convergence in plain words, the forecast history, factor
    paths, what moved since the previous run and its evidence, the evidence log and the manifest.

    Examples:
      forecast report --runs runs --out report
      forecast report --runs runs --out shared/forecast-report   # then send the folder
    """
    from forecast.report import write_report

    found = _store_runs(runs)
    try:
        page = write_report(found, out)
    except OSError as exc:
        err.print(f"[red]{out}: cannot write the report ({exc.strerror or exc})[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if not found[-1].manifest["converged"]:
        _not_converged_banner(found[-1].manifest)
    err.print(f"Wrote {page}")


evidence_app = typer.Typer(help="Work with the evidence log.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("add")
def evidence_add(
    date: Annotated[str, typer.Option(help="YYYY-MM-DD or YYYY-MM.")],
    kind: Annotated[
        str,
        typer.Option(
            help="indicator, count, rating, event, forecast, resolution or likelihood_ratio."
        ),
    ],
    target: Annotated[str, typer.Option(help="Factor, indicator, OUTCOME or OUTCOME:CANDIDATE.")],
    value: Annotated[str, typer.Option(help="The observation (see the kind's rules).")],
    source: Annotated[str, typer.Option(help="Source title.")],
    source_url: Annotated[str, typer.Option(help="Source URL(s), separated by ' ; '.")],
    file: Annotated[str, typer.Option(help="Evidence file name in data/NAME/.")] = "added.csv",
    horizon_months: Annotated[str, typer.Option(help="forecast / likelihood_ratio.")] = "",
    exposure_days: Annotated[str, typer.Option(help="count: days counted.")] = "",
    forecaster: Annotated[str, typer.Option(help="forecast: who forecast.")] = "",
    note: Annotated[str, typer.Option(help="Free text.")] = "",
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
) -> None:
    """Append one validated, sourced row to the evidence log (atomically; bad rows are refused).

    Examples:
      forecast evidence add --date 2026-08-03 --kind event --target iran_hostility --value -2 \\
        --source "Reuters: Iran and Israel agree to..." --source-url https://www.reuters.com/...
      forecast evidence add --date 2026-08 --kind forecast --target israel_iran_thaw --value 0.08 \\
        --horizon-months 12 --forecaster metaculus --source "Metaculus Q123" --source-url https://...
    """
    from forecast.append import append_row
    from forecast.inputs import scenario_paths

    toml, data = scenario_paths(scenario, root)
    row = {
        "date": date,
        "kind": kind,
        "target": target,
        "value": value,
        "source": source,
        "source_url": source_url,
        "horizon_months": horizon_months,
        "exposure_days": exposure_days,
        "forecaster": forecaster,
        "note": note,
    }
    try:
        n = append_row(toml, data, file, row)
    except InputError as exc:
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False)
        err.print(f"[red]Row refused ({len(exc.problems)} problem(s)); the log is unchanged.[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    out.print(
        f"Added {data / file}:{n} ({kind} {target} = {value}). Run `forecast update` to refit."
    )


@app.command()
def backtest(
    questions: Annotated[Path, typer.Option(help="Question file (CSV, one row per question).")],
    crowd: Annotated[Path, typer.Option(help="Crowd probability history (CSV).")],
    leads: Annotated[str, typer.Option(help="Days before resolution, comma-separated.")] = "7,30",
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write forecasts, scores and plots here.")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler (default: local).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Local Dask worker processes.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed (fits and bootstrap).")] = 1,
    factors: Annotated[
        bool, typer.Option(help="Use scenario factor fits (--no-factors: crowd calibration only).")
    ] = True,
    format: FormatOpt = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Rolling-origin backtest on resolved questions, scored against the crowd and baselines.

    For each question and lead the origin is that many days before resolution; each forecast uses
    only evidence, crowd points and resolved questions dated before its origin month. With
    --format json the last line is one JSON object with the scores per lead.

    Examples:
      forecast backtest --questions ../shared/data/questions/questions_dev.csv \\
          --crowd ../shared/data/questions/crowd_series_dev.csv --leads 7,30 --out backtest
      forecast backtest --questions q.csv --crowd c.csv --scheduler tcp://10.0.0.5:8786
    """
    from forecast.backtest import BacktestSettings, run_backtest
    from forecast.backtest_report import print_scores, write_backtest
    from forecast.links import links_path, load_links
    from forecast.questions import load_questions

    try:
        lead_days = tuple(sorted({int(x) for x in leads.split(",") if x.strip()}))
        if not lead_days or min(lead_days) < 0:
            raise ValueError
    except ValueError:
        err.print(f"[red]--leads must be whole days >= 0, comma-separated, got {leads!r}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    inputs = _inputs(scenario, root)
    try:
        qs = load_questions(questions, crowd)
        links = load_links(links_path(scenario, root), inputs.scenario)
    except InputError as exc:
        _bad_input(exc)
    settings = BacktestSettings(leads=lead_days, seed=seed, use_factors=factors)
    status, on_phase = _phase_printer(quiet)
    client = _dask_client(scheduler, workers)
    try:
        if status:
            status.start()
        result = run_backtest(qs, inputs, links, settings, client=client, on_phase=on_phase)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    finally:
        if status:
            status.stop()
        client.close()
    if out_dir is not None:
        write_backtest(
            result,
            out_dir,
            inputs=inputs,
            extra_files=[questions, crowd, links_path(scenario, root)],
            settings=settings,
        )
        if not quiet:
            err.print(f"Wrote {out_dir}")
    if format is Format.json:
        print(json.dumps({"leads": {str(k): v for k, v in result.scores.items()}}))
    else:
        print_scores(result, out)


def _dask_client(scheduler: str | None, workers: int):
    """A client of the given Dask scheduler, or of a new local cluster of worker processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster)
