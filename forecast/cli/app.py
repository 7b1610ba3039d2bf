"""The ``forecast`` command line: validate inputs, run updates, read forecasts.

No input gives a traceback: bad input exits 2 with a message. Text that comes from users, files,
runs or exceptions is never parsed as Rich markup: it is embedded escaped (``_e``) or printed
with markup off (``_fail``), so a ``[/red]`` in a source title is shown as written.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from forecast.data.errors import InputError, one_line
from forecast.data.inputs import DEFAULT_SCENARIO, Inputs, load_inputs

if TYPE_CHECKING:
    from forecast.runs.store import Run

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_BUSY = 4
# A what-if holds factors at levels in standard units (a factor's typical spread is about 1).
# Beyond 10 the hazards are saturated (P is 0 or 1 whatever the exact level) and exp() overflows
# soon after, so a larger --set value is a typo, not a scenario.
MAX_WHATIF_LEVEL = 10.0
# Backtest leads are days before a question resolves; ten years covers any question's lifetime,
# and date arithmetic overflows far beyond it.
MAX_LEAD_DAYS = 3650
SCHEDULER_TIMEOUT_S = 10  # how long to try to reach a --scheduler before giving up

app = typer.Typer(
    help="Calibrated, auditable probability forecasts of diplomatic outcomes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# emoji off: a ":smile:" in a source title is text, not an emoji code
out = Console(emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)


def _e(value: object) -> str:
    """Text from a user, a file, a run or an exception, made safe to embed in Rich markup: shown
    literally (markup escaped) on one line (control characters written as escapes)."""
    return escape(one_line(str(value)))


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``message`` on stderr in red, literally (never parsed as markup), and exit."""
    err.print(one_line(message), style="red", markup=False, highlight=False)
    raise typer.Exit(code)


def _finite(value: object) -> object:
    """``value`` with every NaN or infinite float replaced by ``None``: JSON has no such numbers
    (Python would write ``NaN``/``Infinity``, which JSON parsers refuse)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _print_json(body: dict) -> None:
    out.print_json(json.dumps(_finite(body), allow_nan=False))


@contextmanager
def _store_warnings() -> Iterator[None]:
    """Print each run the store skips as unreadable (``CorruptRunWarning``) once, in yellow on
    stderr, as it happens; other warnings are shown as usual."""
    from forecast.runs.store import CorruptRunWarning

    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", CorruptRunWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, CorruptRunWarning):
                return shown(message, category, filename, lineno, file, line)
            if str(message) not in seen:
                seen.add(str(message))
                err.print(f"warning: {one_line(str(message))}", style="yellow", markup=False)

        warnings.showwarning = show
        yield


def _scenario_name(name: str) -> str:
    """``--scenario`` as used in file paths (``priors/NAME.toml``): refuse what no file can be."""
    if not name or "\0" in name:
        _fail(f"--scenario {name!r}: not a scenario name")
    return name


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
        return load_inputs(_scenario_name(scenario), root)
    except InputError as exc:
        _bad_input(exc)
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename or root}: cannot read the inputs ({exc.strerror or exc})")


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
        _print_json(
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
        return
    out.print(f"[bold]{_e(s.title)}[/bold] ({_e(s.name)}) — inputs are valid")
    t = Table(show_header=False, box=None)
    t.add_row("factors", _e(", ".join(s.factor_names)))
    t.add_row(
        "outcomes",
        _e(
            ", ".join(
                f"{n} ({len(o.candidates)} candidates)" if o.candidates else n
                for n, o in s.outcomes.items()
            )
        ),
    )
    t.add_row("indicators", _e(", ".join(s.indicators) or "-"))
    t.add_row("evidence rows", f"{len(ev.frame)} in {len(ev.files)} file(s)")
    t.add_row("by kind", _e(", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"))
    t.add_row("date span", f"{span[0]} .. {span[1]}")
    t.add_row("horizons", ", ".join(f"{h} months" for h in s.horizons))
    out.print(t)


RunsOpt = Annotated[Path, typer.Option("--runs", help="Run store folder.")]
ReadScenarioOpt = Annotated[
    str | None,
    typer.Option(
        "--scenario",
        "-s",
        help=f"Scenario whose runs to read (default: {DEFAULT_SCENARIO}, or that of --run);"
        " runs of other scenarios are never mixed in.",
    ),
]
RunOpt = Annotated[
    str | None,
    typer.Option("--run", help="Run id to read (default: the scenario's latest run)."),
]


def _phase_printer(quiet: bool):
    """A Rich status line for long work; silent with --quiet (for cron)."""
    if quiet:
        return None, None
    status = err.status("starting", spinner="dots")
    return status, lambda msg: status.update(f"[cyan]{_e(msg)}[/cyan]")


@app.command()
def update(
    scenario: ScenarioOpt = DEFAULT_SCENARIO,
    root: RootOpt = Path("."),
    runs: RunsOpt = Path("runs"),
    seed: Annotated[
        int,
        typer.Option(min=0, max=2**32 - 1, help="Random seed (same inputs + seed = same numbers)."),
    ] = 1,
    draws: Annotated[int, typer.Option(min=1, help="Posterior draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(min=0, help="Warm-up draws per chain.")] = 1000,
    chains: Annotated[int, typer.Option(min=1, help="Number of chains.")] = 4,
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
    from forecast.inference.sampling import SamplerSettings
    from forecast.runs.store import RunStore, StoreBusy, StoreError
    from forecast.runs.update import run_update

    if sampler not in ("nutpie", "pymc"):
        _fail(f"--sampler must be nutpie or pymc, got {sampler!r}")
    inputs = _inputs(scenario, root)
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"--runs {runs}: cannot use it as the run store ({exc.strerror or exc})")
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
        with _store_warnings():
            result = run_update(
                inputs, RunStore(runs), settings, force=force, cold=cold, on_phase=on_phase
            )
    except StoreBusy as exc:
        _fail(str(exc), EXIT_BUSY)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        if status:
            status.stop()
    run = result.run
    if not result.fitted:
        if not quiet:
            err.print(f"Nothing changed since run {_e(run.id)}; not refitting (use --force).")
    elif not quiet:
        err.print(f"Wrote run {_e(run.path)}")
    if not result.converged:
        _not_converged_banner(run.manifest)
        raise typer.Exit(EXIT_NOT_CONVERGED)


def _not_converged_banner(manifest: dict) -> None:
    diag = manifest.get("diagnostics", {})
    err.print(
        "[bold white on red] NOT CONVERGED [/bold white on red] "
        "[red]this posterior failed the diagnostics gate; do not rely on its numbers:[/red]"
    )
    problems = diag.get("problems", []) if isinstance(diag, dict) else []
    for p in problems if isinstance(problems, list) else [problems]:
        err.print(f"[red]  - {_e(p)}[/red]")


def _select(
    runs: Path, scenario: str | None, run_id: str | None, last: int | None = None
) -> list[Run]:
    """The runs a read command shows, oldest first, the chosen one last (see
    ``RunStore.select``); never runs of another scenario. Exits with the bad-input code and a
    clear message if there are none, ``run_id`` is unknown, or a run was altered."""
    from forecast.runs.store import RunStore, StoreError

    store = RunStore(runs)
    with _store_warnings():
        try:
            if scenario is None:
                scenario = store.load(run_id, verify=False).scenario if run_id else DEFAULT_SCENARIO
            found = store.select(scenario, run_id, last=last)
        except StoreError as exc:
            _fail(str(exc))
        if not found:
            others = [s for s in store.scenarios() if s != scenario]
            if others:
                _fail(
                    f"No runs in {runs} for scenario {scenario!r}; it has runs of"
                    f" {', '.join(others)} (choose one with --scenario)."
                )
            _fail(
                f"No runs in {runs} for scenario {scenario!r}; run"
                f" `forecast update --scenario {scenario} --runs {runs}` first."
            )
    return found


@app.command()
def summary(
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Print a run's forecasts (default: the scenario's latest) with its convergence status.

    Examples:
      forecast summary --runs runs
      forecast summary --runs runs --format json | jq '.forecasts[0]'
      forecast summary --scenario mini --run 20260801T060000123456Z-0123abcd
    """
    from forecast.runs.update import forecast_records

    run = _select(runs, scenario, run_id, last=1)[-1]
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
        _print_json(body)
        return
    if m["converged"]:
        d = m["diagnostics"]
        out.print(
            f"[bold]Run {_e(run.id)}[/bold] ({_e(m['scenario'])}, evidence to"
            f" {_e(m.get('origin_date'))}) [green]converged[/green]: R-hat {d['max_rhat']:.3f}, "
            f"min ESS {min(d['min_ess_bulk'], d['min_ess_tail']):.0f}, 0 divergences"
        )
        if d.get("method") == "psis":
            reused = m.get("reused")
            note = reused.get("posterior", "") if isinstance(reused, dict) else ""
            out.print(f"warm update: {_e(note)}")
    else:
        out.print(f"[bold]Run {_e(run.id)}[/bold] ({_e(m['scenario'])})")
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
            _e(f"{by_h[h]['probability']:.0%} [{by_h[h]['lower']:.0%}–{by_h[h]['upper']:.0%}]")
            if h in by_h
            else "-"
            for h in horizons
        ]
        t.add_row(
            _e(o) if c is None else "",
            _e(c or "(any open)") if rows_has_candidates(rows, o) else "",
            *cells,
        )
    out.print(t)


def rows_has_candidates(rows: dict, outcome: str) -> bool:
    return any(o == outcome and c is not None for o, c in rows)


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
    scenario: ReadScenarioOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Last run to list (default: the latest).")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Horizon (months) of the headline numbers.")] = 12,
    format: FormatOpt = Format.table,
) -> None:
    """Every run of a scenario: date, convergence, headline probabilities and the change since
    the run before.

    Examples:
      forecast history --runs runs
      forecast history --runs runs --scenario mini --horizon 24 --format json
    """
    from forecast.runs.update import forecast_records

    entries, prev = [], None
    for run in _select(runs, scenario, run_id):
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
        _print_json({"horizon_months": horizon, "runs": entries})
        return
    outcomes = list(entries[-1]["probability"])
    t = Table(title=f"P(outcome within {horizon} months) by run (change since previous run)")
    t.add_column("run")
    t.add_column("evidence to")
    t.add_column("converged")
    for o in outcomes:
        t.add_column(_e(o.replace("_", " ")), justify="right")
    for e in entries:
        cells = []
        for o in outcomes:
            p, c = e["probability"].get(o), e["change"].get(o)
            cells.append(
                "-" if p is None else f"{p:.0%}" + (f" ({c:+.0%})" if c is not None else "")
            )
        conv = "[green]yes[/green]" if e["converged"] else "[bold red]NO[/bold red]"
        t.add_row(_e(e["id"]), _e(e["origin_date"]), conv, *cells)
    out.print(t)


def _split_target(target: str) -> tuple[str, str | None]:
    o, _, c = target.partition(":")
    return o, c or None


@app.command()
def explain(
    target: Annotated[str, typer.Argument(help="OUTCOME or OUTCOME:CANDIDATE.")],
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    top: Annotated[int, typer.Option(min=0, help="How many evidence groups to list.")] = 10,
    format: FormatOpt = Format.table,
) -> None:
    """Which evidence moved this outcome's forecast (PSIS on stored log-likelihoods, no refit).

    Shows the change since the scenario's previous run attributed to the rows added since then,
    and the influence of each evidence group (kind:target) in the run's fit.

    Examples:
      forecast explain accords_expansion --runs runs
      forecast explain accords_expansion:saudi_arabia --format json
    """
    from forecast.runs.explain import K_HAT_OK, change_since, influences

    found = _select(runs, scenario, run_id, last=2)
    run = found[-1]
    outcome, candidate = _split_target(target)
    try:
        infl = influences(run, outcome, candidate)
        change = change_since(run, found[-2], outcome, candidate) if len(found) > 1 else None
        frame = run.inputs().evidence.frame
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    except InputError as exc:
        _bad_input(exc)

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
        _print_json(body)
        return
    horizons = sorted(infl[0].effect) if infl else []
    if change is not None:
        out.print(f"[bold]{_e(target)}[/bold]: change since run {_e(found[-2].id)}")
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
                    _e(f"{ri['file']}:{ri['row']}"),
                    _e(ri["date"]),
                    _e(f"{ri['kind']}:{ri['target']}"),
                    f"{ri['value']:g}",
                    *[f"{i.effect[h]:+.1%}" for h in horizons],
                    _khat(i.k_hat, K_HAT_OK),
                    _e(f"{ri['source']} {ri['source_url']}"),
                )
            out.print(t)
        else:
            out.print("  no evidence rows were added (the change comes from refitting alone)")
    t = Table(title=f"Influence of each evidence group on {_e(target)} in run {_e(run.id)}")
    t.add_column("evidence group")
    t.add_column("rows", justify="right")
    for h in horizons:
        t.add_column(f"Δ {h} mo", justify="right")
    t.add_column("k̂", justify="right")
    for i in infl[:top]:
        t.add_row(
            _e(i.label),
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
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            help=f"FACTOR=VALUE in standard units, |VALUE| <= {MAX_WHATIF_LEVEL:g}.",
        ),
    ],
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Forecasts if factors were held at given levels from now on, beside the unconditional ones.

    Computed from a run's posterior draws (default: the scenario's latest run), without refitting.

    Examples:
      forecast whatif --set us_mideast_commitment=1.5
      forecast whatif --set russia_regional_leverage=-1 --set iran_hostility=2 --format json
    """
    from forecast.runs.what_if import whatif as run_whatif

    hold = _parse_hold(set_)
    run = _select(runs, scenario, run_id, last=1)[-1]
    try:
        table = run_whatif(run, hold)
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    except InputError as exc:
        _bad_input(exc)
    if format is Format.json:
        recs = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        _print_json({"run": run.id, "hold": hold, "forecasts": recs})
        return
    if not run.manifest["converged"]:
        _not_converged_banner(run.manifest)
    held = ", ".join(f"{k} = {v:g}" for k, v in hold.items())
    t = Table(title=f"What if {_e(held)} (standard units) from the origin on")
    for c in ("outcome", "candidate", "horizon", "forecast", "what-if", "change"):
        t.add_column(c, justify="right" if c not in ("outcome", "candidate") else "left")
    for r in table.itertuples(index=False):
        cand = r.candidate if isinstance(r.candidate, str) else ""
        t.add_row(
            _e(r.outcome),
            _e(cand),
            f"{r.horizon_months} mo",
            f"{r.probability:.0%}",
            f"{r.probability_whatif:.0%}",
            f"{r.change:+.0%}",
        )
    out.print(t)


def _parse_hold(items: list[str]) -> dict[str, float]:
    """``--set FACTOR=VALUE`` options as ``{factor: level}``; exits with the bad-input code on a
    value that is not a finite number within ``MAX_WHATIF_LEVEL`` or a factor given twice."""
    hold: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value, sep = math.nan, ""
        if not sep or not name:
            _fail(f"--set expects FACTOR=NUMBER, got {item!r}")
        if not math.isfinite(value) or abs(value) > MAX_WHATIF_LEVEL:
            _fail(
                f"--set {item!r}: the level of {name!r} must be a finite number of standard units"
                f" between -{MAX_WHATIF_LEVEL:g} and {MAX_WHATIF_LEVEL:g}"
            )
        if name in hold:
            _fail(f"--set {item!r}: {name!r} is already set to {hold[name]:g}")
        hold[name] = value
    return hold


@app.command()
def report(
    runs: RunsOpt = Path("runs"),
    scenario: ReadScenarioOpt = None,
    run_id: RunOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write index.html into.")] = Path(
        "report"
    ),
) -> None:
    """Write a self-contained HTML report of a run (default: the scenario's latest run) in one
    folder, no network needed.

    Headline forecasts with intervals, convergence in plain words, the forecast history, factor
    paths, what moved since the previous run and its evidence, the evidence log and the manifest.

    Examples:
      forecast report --runs runs --out report
      forecast report --runs runs --out shared/forecast-report   # then send the folder
    """
    from forecast.report.html import write_report

    found = _select(runs, scenario, run_id)
    try:
        page = write_report(found, out)
    except OSError as exc:
        _fail(f"{out}: cannot write the report ({exc.strerror or exc})")
    except InputError as exc:
        _bad_input(exc)
    if not found[-1].manifest["converged"]:
        _not_converged_banner(found[-1].manifest)
    err.print(f"Wrote {_e(page)}")


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
    from forecast.data.append import append_row
    from forecast.data.inputs import scenario_paths

    toml, data = scenario_paths(_scenario_name(scenario), root)
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
    for key, text in row.items():
        # forecast.data.append writes a lone "\r" unquoted and then cannot parse its own row back
        if "\r" in text:
            _fail(f"--{key.replace('_', '-')} {text!r}: carriage returns (\\r) are not allowed")
    try:
        n = append_row(toml, data, file, row)
    except InputError as exc:
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False)
        _fail(f"Row refused ({len(exc.problems)} problem(s)); the log is unchanged.")
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename or data}: cannot add the row ({exc.strerror or exc})")
    out.print(
        f"Added {_e(data / file)}:{n} ({_e(kind)} {_e(target)} = {_e(value)})."
        " Run `forecast update` to refit."
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
    workers: Annotated[int, typer.Option(min=1, help="Local Dask worker processes.")] = 2,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Random seed (fits and bootstrap).")
    ] = 1,
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
    from forecast.data.questions import load_questions
    from forecast.report.backtest_report import print_scores, write_backtest
    from forecast.skill.backtest import BacktestSettings, run_backtest
    from forecast.skill.links import links_path, load_links

    try:
        lead_days = tuple(sorted({int(x) for x in leads.split(",") if x.strip()}))
        if not lead_days or min(lead_days) < 0 or max(lead_days) > MAX_LEAD_DAYS:
            raise ValueError
    except ValueError:
        _fail(f"--leads must be whole days 0..{MAX_LEAD_DAYS}, comma-separated, got {leads!r}")
    inputs = _inputs(scenario, root)
    try:
        qs = load_questions(questions, crowd)
        links = load_links(links_path(scenario, root), inputs.scenario)
    except InputError as exc:
        _bad_input(exc)
    except OSError as exc:  # a path the OS refuses outright (name too long, ...)
        _fail(f"{exc.filename}: cannot read it ({exc.strerror or exc})")
    settings = BacktestSettings(leads=lead_days, seed=seed, use_factors=factors)
    status, on_phase = _phase_printer(quiet)
    client = _dask_client(scheduler, workers)
    try:
        if status:
            status.start()
        result = run_backtest(qs, inputs, links, settings, client=client, on_phase=on_phase)
    except ValueError as exc:
        _fail(str(exc))
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
            err.print(f"Wrote {_e(out_dir)}")
    if format is Format.json:
        print(json.dumps({"leads": {str(k): v for k, v in result.scores.items()}}))
    else:
        print_scores(result, out)


def _dask_client(scheduler: str | None, workers: int):
    """A client of the given Dask scheduler, or of a new local cluster of worker processes.

    A scheduler that cannot be reached within ``SCHEDULER_TIMEOUT_S`` (or a malformed address)
    exits with the bad-input code.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except Exception as exc:  # any failure to connect: bad address, refused, timed out
            _fail(
                f"--scheduler {scheduler!r}: cannot connect to a Dask scheduler there"
                f" ({type(exc).__name__}: {exc})"
            )
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster)
