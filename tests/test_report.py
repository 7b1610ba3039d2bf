"""`forecast report` on the mini run store: sections, convergence banner, what moved, escaping;
for a policy reader: resolution rules, calendar dates, estimative words, old evidence, what the
interval covers, and whether the run was sampled or reweighted."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import EXIT_BAD_INPUT, app
from forecast.report.html import build_context, render, write_report
from forecast.report.run_words import BASIS, NO_RULE, convergence, fit_method, staleness
from forecast.report.words import ESTIMATIVE_SCALE, estimative_word, long_date
from forecast.runs.store import RunStore
from forecast.runs.update import forecast_records, forecast_table

runner = CliRunner()


class Page(HTMLParser):
    """Element ids, image sources, link targets and visible text of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.ids: set[str] = set()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "a":
            self.hrefs.append(a["href"])

    def handle_data(self, data):
        self.text.append(data)


def report(runs: Path, out: Path) -> tuple[str, Page]:
    res = runner.invoke(app, ["report", "-s", "mini", "--runs", str(runs), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text(encoding="utf-8")
    return html, Page(html)


def set_converged(runs: Path, converged: bool) -> None:
    """Mark every run in a copied store as (not) converged, as the diagnostics gate would."""
    for mpath in runs.glob("*/manifest.json"):
        m = json.loads(mpath.read_text())
        m["converged"] = converged
        m["diagnostics"] |= (
            {"max_rhat": 1.002, "min_ess_bulk": 900.0, "min_ess_tail": 800.0, "divergences": 0}
            if converged
            else {"max_rhat": 1.2, "min_ess_bulk": 40.0, "min_ess_tail": 30.0, "divergences": 7}
        )
        mpath.write_text(json.dumps(m))


@pytest.fixture(scope="module")
def page(mini_runs, tmp_path_factory):
    return report(mini_runs, tmp_path_factory.mktemp("report") / "out")


def test_report_has_every_section_and_inline_images(page):
    _, p = page
    assert {"convergence", "forecasts", "headline", "history", "moved", "changes", "added"} <= p.ids
    assert {"stale", "method", "interval-scope", "scale"} <= p.ids
    assert {"factors", "evidence", "evidence-log", "manifest", "manifest-facts", "track"} <= p.ids
    assert len(p.imgs) == 5  # forecasts, history, what moved, factor paths, loadings
    assert all(src.startswith("data:image/png;base64,") for src in p.imgs)
    assert not {"script", "link", "iframe"} & set(p.tags)  # nothing to fetch, nothing to run


def test_headline_table_lists_outcomes_candidates_and_intervals(page, mini_runs):
    html, _ = page
    table = html[html.index('id="headline"') : html.index("</table>", html.index('id="headline"'))]
    for label in ("A normalization deal", "Alpha", "Beta", "Bases kept"):
        assert f"<td>{label}</td>" in table
    assert table.count('<th class="num">by ') == 3
    # a 90% interval under each of 5 rows x 3 horizons, except beta's (resolved: certain)
    bound = r"(&lt;|&gt;)?\d+%"  # "<1%" and ">99%" arrive escaped
    assert len(re.findall(rf"90%: {bound}–{bound}", table)) == 12
    assert table.count("already resolved") == 3
    assert "chance it still holds then" in table  # persistence outcome in plain words
    # under each unresolved number, whether it is mostly prior or mostly evidence
    fc = RunStore(mini_runs).latest().forecast()
    resolved = (fc["lower"] == fc["upper"]) & fc["probability"].isin([0.0, 1.0])
    expected = [BASIS[v] for v in fc.loc[~resolved, "evidence_verdict"] if v in BASIS]
    assert expected, "the mini runs give at least one prior- or data-driven forecast"
    basis = re.findall(r'<span class="iv basis">([^<]*)</span>', table)
    assert sorted(basis) == sorted(expected)


def test_what_moved_names_the_previous_run_and_the_added_row(page, mini_runs):
    html, p = page
    first = sorted(d.name for d in mini_runs.iterdir() if not d.name.startswith("."))[0]
    moved = html[html.index('id="moved"') : html.index('id="factors"')]
    assert first in moved
    added = moved[moved.index('id="added"') :]
    assert added.count("<tr>") == 2  # header and the one added row
    assert "likelihood_ratio: deal:alpha = 40" in added
    assert "https://example.org/second" in p.hrefs


def test_source_text_and_links_are_escaped(page):
    html, p = page
    assert "<b>signal</b>" not in html
    assert "Strong &lt;b&gt;signal&lt;/b&gt; &amp; co" in html
    assert 'href="https://example.org/strong?a=1&amp;b=2"' in html
    assert "https://example.org/strong?a=1&b=2" in p.hrefs  # what the browser follows


def test_evidence_log_marks_new_rows_and_manifest_lists_inputs(page, mini_runs):
    html, _ = page
    log = html[html.index('id="evidence-log"') : html.index('id="manifest"')]
    assert log.count("<tr>") == 1 + 11  # header + every row of the latest run's evidence
    assert log.count('class="tag">new<') == 1
    facts = html[html.index('id="manifest-facts"') :]
    assert "file data/mini/added.csv" in facts and "file priors/mini.toml" in facts


def test_red_banner_when_the_run_did_not_converge(mini_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(mini_runs, runs)
    set_converged(runs, False)
    html, _ = report(runs, tmp_path / "out")
    start = html.index('id="convergence"')
    banner = html[start - 60 : html.index("</section>", start)]
    assert 'class="banner bad"' in banner and "NOT CONVERGED" in banner
    assert "largest R-hat 1.200" in banner and "7 divergent" in banner
    set_converged(runs, True)
    html, _ = report(runs, tmp_path / "out")
    assert "NOT CONVERGED" not in html
    assert 'class="banner good"' in html and "largest R-hat 1.002" in html


def test_first_run_has_nothing_to_compare(mini_runs, tmp_path):
    runs = tmp_path / "runs"
    first = sorted(d for d in mini_runs.iterdir() if not d.name.startswith("."))[0]
    shutil.copytree(first, runs / first.name)
    html, p = report(runs, tmp_path / "out")
    assert "nothing to compare with yet" in html
    assert "added" not in p.ids and len(p.imgs) == 4


def test_convergence_words_name_each_failed_check():
    ok = convergence(
        {
            "converged": False,
            "diagnostics": {
                "max_rhat": 1.0,
                "min_ess_bulk": 50,
                "min_ess_tail": 900,
                "divergences": 0,
            },
        }
    )
    assert not ok["ok"]
    assert any("too few effectively independent draws" in line for line in ok["lines"])
    assert not any("disagree" in line or "divergent" in line for line in ok["lines"])


def make_warm(runs: Path, *, base_run_key: bool = True) -> tuple[str, str]:
    """Mark the latest run of a copied store as a converged warm update of the first run, as
    ``forecast update`` records one (older runs name their base run only in the note)."""
    first, latest = sorted(d.name for d in runs.iterdir() if not d.name.startswith("."))
    mpath = runs / latest / "manifest.json"
    m = json.loads(mpath.read_text())
    m["converged"] = True
    m["diagnostics"] |= {
        "max_rhat": 1.004,
        "min_ess_bulk": 900.0,
        "min_ess_tail": 950.0,
        "divergences": 0,
        "method": "psis",
        "pareto_k": 0.12,
        "importance_efficiency": 0.9,
    }
    note = f"run {first} (NUTS) reweighted: Pareto k̂ 0.12, importance efficiency 0.90"
    m["reused"] = {"posterior": note} | ({"base_run": first} if base_run_key else {})
    mpath.write_text(json.dumps(m))
    return first, latest


@pytest.mark.parametrize("base_run_key", [True, False], ids=["base_run", "note_only"])
def test_a_warm_update_says_once_that_it_reweighted_and_by_how_many_rows(
    mini_runs, tmp_path, base_run_key
):
    runs = tmp_path / "runs"
    shutil.copytree(mini_runs, runs)
    first, _ = make_warm(runs, base_run_key=base_run_key)
    html, p = report(runs, tmp_path / "out")
    text = " ".join(" ".join(p.text).split())
    said = f"This run reweights run {first}'s draws to include 1 new evidence row (PSIS, k̂ = 0.12)"
    assert text.count(said) == 1  # the one row added between the two mini runs
    assert "This run was sampled" not in text and "did not sample afresh" in text
    banner = html[
        html.index('id="convergence"') : html.index("</section>", html.index('id="convergence"'))
    ]
    assert 'id="method"' in banner and 'class="banner good"' in html


def test_a_sampled_run_says_so_once(page, mini_runs):
    _, p = page
    text = " ".join(" ".join(p.text).split())
    n = RunStore(mini_runs).latest().manifest["evidence_rows"]
    said = (
        "This run was sampled (NUTS): its draws come from a fresh fit of the model to all "
        f"{n} evidence rows."
    )
    assert text.count(said) == 1
    assert "reweights" not in text


def test_a_reweighted_run_whose_base_is_gone_still_says_how_it_was_made(mini_runs):
    run = RunStore(mini_runs).latest()
    m = {
        **run.manifest,
        "diagnostics": {**run.manifest["diagnostics"], "method": "psis", "pareto_k": -0.5},
        "reused": {"posterior": "...", "base_run": "20200101T000000000000Z-deadbeef"},
    }
    said = fit_method(SimpleNamespace(manifest=m, id=run.id), [])
    assert said.startswith(
        "This run reweights run 20200101T000000000000Z-deadbeef's draws to include the evidence "
        "that changed since (PSIS, k̂ = -0.50)"
    )


def test_changes_that_show_as_zero_are_not_coloured(mini_runs):
    from types import SimpleNamespace

    context = build_context(RunStore(mini_runs).runs())
    h = context["moved"].horizons[0]
    change = {  # previous -> current at the first horizon: what the table shows, which class
        "deal": (0.30, 0.3004, "+0.0", "flat"),
        "calm": (0.30, 0.2996, "-0.0", "flat"),
        "bases_kept": (0.30, 0.3005, "+0.1", "up"),
    }
    context["moved"] = SimpleNamespace(
        previous=context["moved"].previous,
        horizons=[h],
        added=[],
        changes={
            o: SimpleNamespace(previous={h: a}, current={h: b})
            for o, (a, b, _, _) in change.items()
        },
    )
    table = render(context).split('id="changes"')[1].split("</table>")[0]
    for _o, (_a, _b, shown, cls) in change.items():
        assert f'<span class="{cls}">({shown} pp)</span>' in table


def test_report_without_runs_exits_with_bad_input(tmp_path):
    res = runner.invoke(app, ["report", "--runs", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert res.exit_code == EXIT_BAD_INPUT
    assert "No runs in" in res.output
    assert not (tmp_path / "index.html").exists()


# --- for a policy reader --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "word"),
    [
        (0.0, "almost no chance"),
        (0.004, "almost no chance"),  # below the scale's 1%
        (0.03, "almost no chance"),
        (0.05, "very unlikely"),  # a shared bound belongs to the band above
        (0.19, "very unlikely"),
        (0.23, "unlikely"),
        (0.444, "unlikely"),  # shown as 44%
        (0.446, "roughly even chance"),  # shown as 45%: the word follows the number shown
        (0.50, "roughly even chance"),
        (0.549, "likely"),  # shown as 55%
        (0.79, "likely"),
        (0.80, "very likely"),
        (0.944, "very likely"),
        (0.949, "almost certain"),  # shown as 95%
        (0.95, "almost certain"),
        (0.999, "almost certain"),  # above the scale's 99%
        (1.0, "almost certain"),
    ],
)
def test_estimative_words_follow_the_icd_203_scale(p, word):
    assert estimative_word(p) == word


def test_the_estimative_scale_is_ordered_and_refuses_non_probabilities():
    bounds = [b for b, _ in ESTIMATIVE_SCALE]
    assert bounds == sorted(bounds) and bounds[-1] == 1.0 and len(set(bounds)) == 7
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match="must lie in"):
            estimative_word(bad)


def test_each_cell_says_its_word_beside_its_number_and_the_scale_is_shown(page, mini_runs):
    html, _ = page
    table = html[html.index('id="headline"') : html.index("</table>", html.index('id="headline"'))]
    fc = RunStore(mini_runs).latest().forecast()
    resolved = (fc["lower"] == fc["upper"]) & fc["probability"].isin([0.0, 1.0])
    cells = re.findall(r'<span class="word">([^<]*)</span> · <span class="p">([^<]*)</span>', table)
    assert len(cells) == 12 == (~resolved).sum()  # beta's resolved cells carry no word
    # the table lists targets in the forecast table's order, horizons left to right as stored
    expected = [(estimative_word(p), f"{p:.0%}") for p in fc.loc[~resolved, "probability"]]
    assert [w for w, _ in cells] == [w for w, _ in expected]
    near_certain = ("&lt;1%", "&gt;99%")  # shown instead of 0% or 100%
    assert all(s == e or s in near_certain for (_, s), (_, e) in zip(cells, expected, strict=True))
    legend = html[html.index('id="scale"') : html.index("</ul>", html.index('id="scale"'))]
    items = re.findall(r"<strong>([^<]*)</strong> <span class=\"span\">([^<]*)</span>", legend)
    assert items[0] == ("almost no chance", "below 5%")
    assert items[3] == ("roughly even chance", "45% to 55%")
    assert items[-1] == ("almost certain", "95% or more")
    assert [w for w, _ in items] == [w for _, w in ESTIMATIVE_SCALE]
    assert "ICD 203" in html


def test_each_outcome_shows_its_own_resolution_rule_escaped(page):
    html, p = page
    table = html[html.index('id="headline"') : html.index("</table>", html.index('id="headline"'))]
    text = " ".join(p.text)
    assert "Security or framework agreements do not count." in text
    assert (
        "Text shown as written: <b>not bold</b> [/red] $x$ & co." in text
    )  # as the reader sees it
    assert "&lt;b&gt;not bold&lt;/b&gt; [/red] $x$ &amp; co." in table and "<b>not bold" not in html
    assert "Foreign forces stay at the bases. Ends when they have left both." in table
    assert table.count(NO_RULE) == 1  # calm has no description in the scenario
    # what the numbers are, by kind, beside the rule; candidate rows repeat neither
    assert "Each number: the chance it happens by then." in table
    assert "Each number: the chance it still holds then." in table
    assert "Each number: the chance the condition is met by then." in table
    assert table.count('<span class="meaning">') == 3


def test_horizons_are_calendar_dates_in_the_table_the_report_and_summary(page, mini_runs):
    """The mini runs' evidence ends in June 2023 (the added row, 15 June): a horizon of H months
    ends on the last day of the H-th month after June 2023."""
    expected = {6: "2023-12-31", 12: "2024-06-30", 24: "2025-06-30"}
    run = RunStore(mini_runs).latest()
    assert run.manifest["origin_date"] == "2023-06-15"
    fc = run.forecast()  # the stored table itself
    assert list(fc.columns[:6]) == [
        "outcome",
        "candidate",
        "horizon_months",
        "end_date",
        "probability",
        "lower",
    ]
    assert {"upper", "mcse", "evidence_verdict"} <= set(fc.columns)
    assert dict(zip(fc["horizon_months"], fc["end_date"], strict=True)) == expected
    html, _ = page
    heads = re.findall(r'<th class="num">by ([^<]*)<span class="months">(\d+) months</span>', html)
    assert heads == [
        ("31 December 2023", "6"),
        ("30 June 2024", "12"),
        ("30 June 2025", "24"),
    ]
    assert "Evidence up to <strong>15 June 2023</strong>" in html
    res = runner.invoke(
        app, ["summary", "-s", "mini", "--runs", str(mini_runs), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    records = json.loads(res.stdout)["forecasts"]
    assert {r["horizon_months"]: r["end_date"] for r in records} == expected
    assert all(r["end_date"] == expected[r["horizon_months"]] for r in records)
    res = runner.invoke(app, ["summary", "-s", "mini", "--runs", str(mini_runs)])
    assert res.exit_code == 0, res.output
    header = res.output[: res.output.index("┡")]  # the table's header rows (narrow: may wrap)
    for end in expected.values():
        assert end in header


def test_a_run_stored_before_end_dates_gets_them_from_its_manifest():
    table = pd.DataFrame(
        {"outcome": ["deal"] * 2, "candidate": [None] * 2, "horizon_months": [6, 12]}
        | {"probability": [0.2, 0.3], "lower": [0.1, 0.2], "upper": [0.3, 0.4]}
    )
    old = SimpleNamespace(forecast=lambda: table.copy(), manifest={"origin_date": "2026-07-04"})
    got = forecast_table(old)
    assert list(got.columns[:4]) == ["outcome", "candidate", "horizon_months", "end_date"]
    assert got["end_date"].tolist() == ["2027-01-31", "2027-07-31"]
    assert [r["end_date"] for r in forecast_records(old)] == ["2027-01-31", "2027-07-31"]
    no_evidence = SimpleNamespace(forecast=lambda: table.copy(), manifest={"origin_date": None})
    assert "end_date" not in forecast_table(no_evidence)
    assert forecast_records(no_evidence)[0]["end_date"] is None


def test_staleness_names_the_last_evidence_date_and_the_gap():
    said = staleness("2026-07-04", date(2026, 12, 2))
    assert said == (
        "The evidence ends on 4 July 2026, 151 days before this report: the forecasts do not know "
        "what happened since."
    )
    assert staleness("2026-07-04", date(2026, 8, 3)) is None  # 30 days: within the limit
    assert staleness("2026-07-04", date(2026, 8, 4)) is not None  # 31 days
    assert staleness("2026-07-04", date(2026, 8, 4), limit_days=31) is None
    assert staleness("2026-07-04", date(2026, 7, 1)) is None  # a report dated before its evidence
    assert staleness(None, date(2026, 12, 2)) is None
    assert long_date(date(2027, 1, 31)) == "31 January 2027"


def test_the_report_warns_when_its_evidence_is_old(mini_runs, tmp_path):
    runs = RunStore(mini_runs).runs()
    fresh = Page(write_report(runs, tmp_path / "a", today=date(2023, 7, 15)).read_text())
    assert "stale" not in fresh.ids  # 30 days after the last evidence (15 June 2023)
    html = write_report(runs, tmp_path / "b", today=date(2023, 7, 16)).read_text()
    banner = html[html.index('id="stale"') : html.index("</section>", html.index('id="stale"'))]
    assert "The evidence ends on 15 June 2023, 31 days before this report" in banner
    assert html.index('id="stale"') < html.index('id="forecasts"')  # seen before the numbers
    lax = Page(
        write_report(runs, tmp_path / "c", today=date(2023, 9, 1), stale_after_days=90).read_text()
    )
    assert "stale" not in lax.ids


def test_the_report_says_what_the_interval_covers_and_what_it_does_not(page):
    html, _ = page
    scope = html[
        html.index('id="interval-scope"') : html.index("</p>", html.index('id="interval-scope"'))
    ]
    assert (
        "the model&#39;s uncertainty about its parameters, given the scenario and the evidence"
        in scope
    )
    for left_out in (
        "the scenario itself being wrong (its factors, links and priors)",
        "errors in coding the evidence",
        "events outside the model",
    ):
        assert left_out in scope
    assert html.index('id="interval-scope"') < html.index('id="headline"')  # next to the table


def test_the_track_record_shows_a_given_backtest_and_says_when_there_is_none(
    page, mini_runs, tmp_path
):
    from test_track_record import backtest_folder

    html, _ = page
    track = html[html.index('id="track"') : html.index("</section>", html.index('id="track"'))]
    assert "No backtest was given" in track
    folder = backtest_folder(tmp_path / "bt")
    res = runner.invoke(
        app,
        ["report", "-s", "mini", "--runs", str(mini_runs), "--out", str(tmp_path / "out"),
         "--backtest", str(folder)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    p = Page(html)
    track = html[html.index('id="track"') : html.index("</section>", html.index('id="track"'))]
    assert "7 days before the scheduled close: 12 questions" in track
    assert "the fixed extremized crowd" in track and "better than the crowd" in track
    assert "reached 0 of these forecasts" in track
    assert len(p.imgs) == 6  # and the reliability diagram
    assert html.index('id="track"') < html.index('id="history"')
    bad = runner.invoke(
        app,
        ["report", "-s", "mini", "--runs", str(mini_runs), "--out", str(tmp_path / "o2"),
         "--backtest", str(tmp_path)],
    )  # fmt: skip
    assert bad.exit_code == 2 and "scores.json" in bad.output


def test_a_converged_fit_is_not_said_to_make_the_model_right():
    ok = convergence(
        {
            "converged": True,
            "diagnostics": {"max_rhat": 1.003, "min_ess_bulk": 800, "min_ess_tail": 900},
        }
    )
    assert ok["ok"] and "R-hat 1.003" in ok["lines"][0]
    assert not any("relied on" in line for line in ok["lines"])
    assert "whether the scenario itself is right" in ok["lines"][1]
