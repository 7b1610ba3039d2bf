"""No input gives a traceback: the CLI and the run store under random and hostile text.

Every argument and option of ``check``, ``evidence add``, ``summary``, ``history``, ``explain``,
``whatif``, ``report`` and ``backtest`` (up to where it would start fitting) gets random text
(Rich markup such as ``[/red]``, ``$...$`` mathtext, control characters, very long strings,
NaN/inf numbers); the command must exit 0, 2, 3 or 4 and never raise. Then one test per bug the
adversarial pass found: markup in user text, a corrupt manifest beside good runs, scenario
filtering, non-finite what-if levels, ``$`` in labels of the report's figures, a bad scheduler.

The run store is real but fitted without MCMC: ``forecast.runs.update.sample`` is replaced by
``jitter_sample`` (draws scattered around the model's initial point), so a run has every file
and group a sampled one has, in seconds. Its runs are marked not converged.
"""

from __future__ import annotations

import json
import shutil
import traceback
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecast.cli import EXIT_BAD_INPUT, EXIT_NOT_CONVERGED, MAX_WHATIF_LEVEL, app

FIXTURE = Path(__file__).parent / "fixtures" / "mini"
EXIT_CODES = {0, 2, 3, 4}
# what the labels and the added evidence row say: markup, broken mathtext, an emoji code
HOSTILE = "[/red] $x^$ :smile: [bold]"
SETTINGS = {"draws": 20, "tune": 0, "chains": 2, "seed": 1, "retries": 0}
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

runner = CliRunner()


def invoke(*args: str):
    """Run the CLI; fail on any uncaught exception or an exit code outside 0, 2, 3, 4."""
    res = runner.invoke(app, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        tb = "".join(traceback.format_exception(*res.exc_info))
        pytest.fail(f"forecast {args!r} raised:\n{tb}")
    assert res.exit_code in EXIT_CODES, (args, res.exit_code, res.output)
    assert "Traceback" not in res.output, res.output
    return res


# --- a run store without MCMC -------------------------------------------------------------------


def jitter_sample(model, settings, on_phase=None, **_kw):
    """A stand-in for ``forecast.inference.sampling.sample``: draws scattered around the initial
    point, transformed like sampled ones (every free variable and deterministic), diagnosed by the
    gate."""
    from forecast.inference.sampling import Fit, diagnose, free_parameter_names

    rng = np.random.default_rng(settings.seed)
    outs = model.unobserved_value_vars
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    start = model.initial_point(random_seed=settings.seed)
    names = [v.name for v in outs]
    n = settings.chains * settings.draws
    draws = [
        fn({k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()}) for _ in range(n)
    ]
    post = {
        name: np.stack([d[i] for d in draws]).reshape(
            settings.chains, settings.draws, *np.shape(draws[0][i])
        )
        for i, name in enumerate(names)
    }
    idata = az.from_dict(
        {
            "posterior": post,
            "sample_stats": {"diverging": np.zeros((settings.chains, settings.draws), bool)},
        },
        dims={name: list(model.named_vars_to_dims.get(name, ())) for name in names},
        coords={k: list(v) for k, v in model.coords.items()},
    )
    diagnostics = diagnose(idata, free_parameter_names(model))
    return Fit(idata=idata, diagnostics=diagnostics, settings=settings, timings={})


def hostile_project(root: Path) -> Path:
    """A copy of the mini example whose title and labels carry ``HOSTILE`` text."""
    for sub in ("priors", "data"):
        shutil.copytree(FIXTURE / sub, root / sub)
    toml = root / "priors" / "mini.toml"
    text = toml.read_text()
    for old in ('"Mini test scenario"', '"A normalization deal"', '"Regional tension"', '"Alpha"'):
        assert old in text
        text = text.replace(old, f"'{old.strip(chr(34))} {HOSTILE}'")
    toml.write_text(text)
    return root


ADDED = {
    "date": "2023-06-15",
    "kind": "likelihood_ratio",
    "target": "deal:alpha",
    "value": "40",
    "horizon_months": "6",
    "source": f"Source {HOSTILE} \\",
    "source_url": "https://example.org/[/red]",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two runs of the hostile mini project (before and after a row with hostile text), in a run
    store whose own path holds markup. Read-only: copy it before changing anything."""
    from forecast.data.append import append_row
    from forecast.data.inputs import load_inputs, scenario_paths
    from forecast.inference.sampling import SamplerSettings
    from forecast.runs.store import RunStore
    from forecast.runs.update import run_update

    root = hostile_project(tmp_path_factory.mktemp("hostile"))
    store = RunStore(root / "runs [/red] $x$")  # "runs [" / "red] $x$"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("forecast.runs.update.sample", jitter_sample)
        run_update(load_inputs("mini", root), store, SamplerSettings(**SETTINGS), cold=True)
        append_row(*scenario_paths("mini", root), "added.csv", ADDED)
        run_update(load_inputs("mini", root), store, SamplerSettings(**SETTINGS), cold=True)
    assert len(store.runs()) == 2
    return store.root


def project_of(store: Path) -> Path:
    return store.parent.parent


@pytest.fixture(scope="module", autouse=True)
def in_tmp(tmp_path_factory):
    """Work in a private folder: nothing a fuzzed relative path names can touch the repository."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


def run_ids(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir() if not p.name.startswith("."))


def copy_store(store: Path, tmp_path: Path) -> Path:
    runs = tmp_path / "runs [/red]"
    shutil.copytree(store, runs)
    return runs


# --- strategies ---------------------------------------------------------------------------------

NASTY = st.sampled_from(
    [
        "[/red]",
        "[bold]",
        "[/]",
        "$x^$",
        "$",
        "\\",
        "[",
        ":smile:",
        "\x00",
        "\x1b[31m",
        "\n",
        "\r",
        "\t",
        "\u202e",
        "x" * 5000,
        "nan",
        "inf",
        "-inf",
        "1e308",
        "NaN",
        "",
        " ",
        "..",
        "/",
        "=",
        ":",
        ",",
        "-1",
        "0",
        "1_0",
    ]
)
TEXT = st.lists(st.one_of(NASTY, st.text(max_size=12)), max_size=4).map("".join)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
    TEXT,
)
FORMAT = st.one_of(st.sampled_from(["table", "json"]), TEXT)


def one_name(text: str) -> str:
    """``text`` as one file-name part (no separators or NUL), for output folders under tmp."""
    name = text.replace("/", "_").replace("\x00", "_")[:100]
    return name if name not in ("", ".", "..") else "_"


# --- fuzz: every argument and option ------------------------------------------------------------


@FUZZ
@given(scenario=TEXT, root=TEXT, format=FORMAT)
def test_fuzz_check(scenario, root, format):
    invoke("check", "--scenario", scenario, "--root", root, "--format", format)


@pytest.fixture(scope="module")
def add_root(tmp_path_factory) -> Path:
    return hostile_project(tmp_path_factory.mktemp("add"))


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {
            "--date": st.one_of(st.just("2023-07-01"), TEXT),
            "--kind": st.one_of(st.sampled_from(["event", "indicator", "forecast"]), TEXT),
            "--target": st.one_of(st.sampled_from(["tension", "stockpile", "deal"]), TEXT),
            "--value": NUMBER,
            "--source": TEXT,
            "--source-url": st.one_of(st.just("https://example.org/x"), TEXT),
            "--file": st.one_of(st.just("fuzz.csv"), TEXT),
            "--horizon-months": NUMBER,
            "--exposure-days": NUMBER,
            "--forecaster": TEXT,
            "--note": TEXT,
            "--scenario": st.one_of(st.just("mini"), TEXT),
        }
    )
)
def test_fuzz_evidence_add(add_root, fields):
    args = [x for kv in fields.items() for x in kv]
    invoke("evidence", "add", *args, "--root", str(add_root))


def read_options(store: Path, runs_text: str, scenario: str | None, run: str | None) -> list[str]:
    """--runs (the real store or random), --scenario and --run (each random, real or absent)."""
    args = ["--runs", str(store) if runs_text == "REAL" else runs_text]
    if scenario is not None:
        args += ["--scenario", scenario]
    if run is not None:
        args += ["--run", run_ids(store)[-1] if run == "REAL" else run]
    return args


RUNS = st.one_of(st.just("REAL"), TEXT)
SCENARIO = st.one_of(st.none(), st.just("mini"), TEXT)
RUN = st.one_of(st.none(), st.just("REAL"), TEXT)


@FUZZ
@given(runs=RUNS, scenario=SCENARIO, run=RUN, format=FORMAT)
def test_fuzz_summary(store, runs, scenario, run, format):
    invoke("summary", *read_options(store, runs, scenario, run), "--format", format)


@FUZZ
@given(runs=RUNS, scenario=SCENARIO, run=RUN, horizon=NUMBER, format=FORMAT)
def test_fuzz_history(store, runs, scenario, run, horizon, format):
    opts = read_options(store, runs, scenario, run)
    invoke("history", *opts, "--horizon", horizon, "--format", format)


@FUZZ
@given(
    target=st.one_of(st.sampled_from(["deal", "deal:alpha", "calm", "deal:"]), TEXT),
    runs=RUNS,
    scenario=SCENARIO,
    run=RUN,
    top=NUMBER,
    format=FORMAT,
)
def test_fuzz_explain(store, target, runs, scenario, run, top, format):
    opts = read_options(store, runs, scenario, run)
    invoke("explain", target, *opts, "--top", top, "--format", format)


SET = st.one_of(
    TEXT,
    st.builds(
        lambda f, v: f"{f}={v}", st.one_of(st.sampled_from(["appetite", "tension"]), TEXT), NUMBER
    ),
)


@FUZZ
@given(sets=st.lists(SET, min_size=1, max_size=3), runs=RUNS, scenario=SCENARIO, run=RUN)
def test_fuzz_whatif(store, sets, runs, scenario, run):
    args = [x for s in sets for x in ("--set", s)]
    res = invoke("whatif", *args, *read_options(store, runs, scenario, run), "--format", "json")
    if res.exit_code == 0:
        json.loads(res.stdout)  # strict JSON: no NaN or Infinity


@settings(FUZZ, max_examples=10)
@given(runs=RUNS, scenario=SCENARIO, run=RUN, out=TEXT)
def test_fuzz_report(store, tmp_path_factory, runs, scenario, run, out):
    """Figures are built but not rendered to PNG here, for speed (a whole report with labels
    holding ``$`` and an output folder holding markup: ``test_dollar_signs_in_labels_...``)."""
    folder = tmp_path_factory.getbasetemp() / "reports" / one_name(out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("forecast.report.html.png_data_uri", lambda fig: "data:image/png;base64,")
        invoke("report", *read_options(store, runs, scenario, run), "--out", str(folder))


@FUZZ
@given(
    questions=TEXT,
    crowd=TEXT,
    leads=st.one_of(st.just("7,30"), NUMBER),
    scenario=st.one_of(st.just("mini"), TEXT),
    root=st.one_of(st.just(str(FIXTURE)), TEXT),
    scheduler=TEXT,
    workers=NUMBER,
    seed=NUMBER,
)
def test_fuzz_backtest_fails_before_fitting(
    questions, crowd, leads, scenario, root, scheduler, workers, seed
):
    """Random question files never exist, so every call stops at input validation."""
    invoke(
        "backtest",
        *("--questions", questions or "missing", "--crowd", crowd or "missing"),
        *("--leads", leads, "--scenario", scenario, "--root", root),
        *("--scheduler", scheduler, "--workers", workers, "--seed", seed, "--quiet"),
    )


# --- one test per fixed bug ---------------------------------------------------------------------


def test_markup_in_user_text_is_printed_literally(store):
    """``[/red]`` in a scenario title, an evidence source, a target, a --set and a --runs path."""
    res = invoke("check", "-s", "mini", "--root", str(project_of(store)))
    assert res.exit_code == 0, res.output
    assert "[/red] $x^$ :smile: [bold]" in res.output
    res = invoke("explain", "deal:alpha", "-s", "mini", "--runs", str(store), "--top", "3")
    assert res.exit_code == 0
    assert "[/red]" in res.output  # the added row's source, in the table
    for args in (["explain", "[/red]"], ["whatif", "--set", "[/red]"]):
        res = invoke(*args, "-s", "mini", "--runs", str(store))
        assert res.exit_code == EXIT_BAD_INPUT and "[/red]" in res.output
    res = invoke("summary", "--runs", "[/red]")
    assert res.exit_code == EXIT_BAD_INPUT and "No runs in [/red]" in res.output


def test_markup_in_an_added_source_is_printed_literally(tmp_path):
    root = hostile_project(tmp_path)
    row = {k: v for k, v in ADDED.items() if k != "horizon_months"}
    args = [x for k, v in row.items() for x in (f"--{k.replace('_', '-')}", v)]
    res = invoke(
        "evidence", "add", *args, "--horizon-months", "6", "-s", "mini", "--root", str(root)
    )
    assert res.exit_code == 0, res.output
    assert "likelihood_ratio deal:alpha = 40" in res.output


def test_update_with_markup_in_the_store_path_exits_not_converged(tmp_path, monkeypatch):
    """The work is done and reported (exit 3, the banner) even when paths hold markup."""
    monkeypatch.setattr("forecast.runs.update.sample", jitter_sample)
    root = hostile_project(tmp_path)
    runs = tmp_path / "[/red] runs"
    opts = [f"--{k}={v}" for k, v in SETTINGS.items()]
    res = invoke(
        "update", "-s", "mini", "--root", str(root), "--runs", str(runs), "--origin=evidence", *opts
    )
    assert res.exit_code == EXIT_NOT_CONVERGED, res.output
    assert f"Wrote run {runs}" in res.output and "NOT CONVERGED" in res.output


def test_corrupt_manifests_beside_good_runs(store, tmp_path, monkeypatch):
    """Unreadable manifests (truncated, null, an array) are skipped with a warning each; reads
    and update still work (every read command selects runs the same way: ``_select``)."""
    runs = copy_store(store, tmp_path)
    bad = []
    for i, text in enumerate(['{"scenario": "mi', "null", "[]"]):
        bad.append(runs / f"2020010{i + 1}T000000000000Z-0000000{i}")
        bad[-1].mkdir()
        (bad[-1] / "manifest.json").write_text(text)
    for args in (["summary"], ["history"], ["whatif", "--set", "appetite=1"]):
        res = invoke(*args, "-s", "mini", "--runs", str(runs))
        assert res.exit_code == 0, (args, res.output)
        for b in bad:
            assert f"warning: skipped a run: {b / 'manifest.json'}" in res.output
    monkeypatch.setattr("forecast.runs.update.sample", jitter_sample)
    opts = [f"--{k}={v}" for k, v in SETTINGS.items()]
    root = project_of(store)
    res = invoke(
        "update", "-s", "mini", "--root", str(root), "--runs", str(runs), "--origin=evidence", *opts
    )
    assert res.exit_code == EXIT_NOT_CONVERGED, res.output  # not 1: nothing crashed
    assert "Nothing changed since run" in res.output and "NOT CONVERGED" in res.output
    assert res.output.count("warning: skipped a run") == 3  # once each, though listed twice
    res = invoke("summary", "-s", "mini", "--runs", str(runs), "--run", bad[1].name)
    assert res.exit_code == EXIT_BAD_INPUT
    assert f"{bad[1] / 'manifest.json'}: the run manifest is null" in res.output


def test_read_commands_never_mix_scenarios(store, tmp_path):
    """A run of another scenario, newer than every mini run, is never read for mini."""
    runs = copy_store(store, tmp_path)
    mini_ids = run_ids(runs)
    other = runs / "29990101T000000000000Z-ffffffff"
    shutil.copytree(runs / mini_ids[-1], other)
    m = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**m, "scenario": "other"}))

    def body(*args):
        res = invoke(*args, "--runs", str(runs), "--format", "json")
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    assert body("summary", "-s", "mini")["run"]["id"] == mini_ids[-1]
    assert [r["id"] for r in body("history", "-s", "mini")["runs"]] == mini_ids
    assert body("explain", "deal", "-s", "mini")["run"] == mini_ids[-1]
    assert body("whatif", "--set", "appetite=1", "-s", "mini")["run"] == mini_ids[-1]
    assert body("summary", "-s", "other")["run"]["id"] == other.name
    assert [r["id"] for r in body("history", "-s", "other")["runs"]] == [other.name]
    # --run picks a run (and its scenario); the previous run of explain is of the same scenario
    assert body("summary", "--run", mini_ids[0])["run"]["id"] == mini_ids[0]
    assert "since_previous" not in body("explain", "deal", "--run", mini_ids[0])
    assert [r["id"] for r in body("history", "--run", mini_ids[0])["runs"]] == mini_ids[:1]
    # the default scenario has no runs here: a clear message naming the ones there are
    res = invoke("summary", "--runs", str(runs))
    assert res.exit_code == EXIT_BAD_INPUT and "it has runs of mini, other" in res.output
    for args in (["--run", "20000101T000000Z-00000000"], ["-s", "other", "--run", mini_ids[0]]):
        res = invoke("summary", "--runs", str(runs), *args)
        assert res.exit_code == EXIT_BAD_INPUT, res.output
        assert "no run" in res.output or "is of scenario 'mini', not 'other'" in res.output


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "-11", "Infinity"])
def test_whatif_refuses_non_finite_and_absurd_levels(store, value):
    res = invoke("whatif", "--set", f"appetite={value}", "-s", "mini", "--runs", str(store))
    assert res.exit_code == EXIT_BAD_INPUT
    assert f"--set 'appetite={value}'" in res.output and "finite number" in res.output


def test_whatif_at_the_bound_gives_valid_json(store):
    level = f"appetite={-MAX_WHATIF_LEVEL:g}"
    res = invoke("whatif", "--set", level, "-s", "mini", "--runs", str(store), "-f", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["hold"] == {"appetite": -MAX_WHATIF_LEVEL}


def test_dollar_signs_in_labels_render_the_report_figures(store, tmp_path):
    """Labels with ``$x^$`` (invalid mathtext) are drawn literally in every figure; the output
    folder's name holds markup too."""
    out = tmp_path / "report [bold] $x$ :smile: \\"
    res = invoke("report", "-s", "mini", "--runs", str(store), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert f"Wrote {out / 'index.html'}" in res.output
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5
    assert "Mini test scenario [/red] $x^$" in html


def test_bad_scheduler_exits_with_bad_input(tmp_path, monkeypatch):
    monkeypatch.setattr("forecast.cli.backtest.SCHEDULER_TIMEOUT_S", 1)
    q, c = tmp_path / "q.csv", tmp_path / "c.csv"
    q.write_text(
        "platform,id,title,topic_tags,open_date,close_date,resolve_date,resolution,lead_ref_date\n"
        "m,1,Will it?,conflict,2022-01-01,2022-06-01,2022-06-01,1,2022-06-01\n"
    )
    c.write_text("platform,id,date,prob_yes\nm,1,2022-02-01,0.2\n")
    base = ["backtest", "--questions", str(q), "--crowd", str(c), "-s", "mini"]
    base += ["--root", str(FIXTURE), "--no-factors", "--quiet"]
    import dask

    before = dask.config.get("scheduler", None)
    for scheduler in ("nonsense", "tcp://127.0.0.1:1", "[/red]"):
        res = invoke(*base, "--scheduler", scheduler)
        assert res.exit_code == EXIT_BAD_INPUT, res.output
        assert f"--scheduler {scheduler!r}: cannot connect" in res.output
    # a failed client must not leave dask's default scheduler pointing at nothing (later netCDF
    # writes in the same process would fail)
    assert dask.config.get("scheduler", None) == before
    base[2] = str(tmp_path)  # --questions: a folder
    res = invoke(*base)
    assert res.exit_code == EXIT_BAD_INPUT
    assert f"{tmp_path}:(file): file: is a directory" in res.output
