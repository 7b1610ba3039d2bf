"""`forecast report` on the mini run store: sections, convergence banner, what moved, escaping."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli import EXIT_BAD_INPUT, app
from forecast.report.html import BASIS, build_context, convergence, render
from forecast.runs.store import RunStore

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
    assert {"factors", "evidence", "evidence-log", "manifest", "manifest-facts"} <= p.ids
    assert len(p.imgs) == 5  # forecasts, history, what moved, factor paths, loadings
    assert all(src.startswith("data:image/png;base64,") for src in p.imgs)
    assert not {"script", "link", "iframe"} & set(p.tags)  # nothing to fetch, nothing to run


def test_headline_table_lists_outcomes_candidates_and_intervals(page, mini_runs):
    html, _ = page
    table = html[html.index('id="headline"') : html.index("</table>", html.index('id="headline"'))]
    for label in ("A normalization deal", "Alpha", "Beta", "Bases kept"):
        assert f"<td>{label}</td>" in table
    assert table.count('<th class="num">within') == 3
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
    banner = html[html.index('id="convergence"') - 60 : html.index("</section>")]
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


def test_a_warm_update_says_in_the_banner_that_it_reweighted(mini_runs):
    context = build_context(RunStore(mini_runs).runs())
    context["convergence"] = convergence(
        {
            "converged": True,
            "reused": {"posterior": "run 20260101T000000Z-0123abcd (NUTS) reweighted"},
            "diagnostics": {
                "max_rhat": 1.004,
                "min_ess_bulk": 900,
                "min_ess_tail": 950,
                "divergences": 0,
                "chains": 4,
                "method": "psis",
                "pareto_k": 0.12,
            },
        }
    )
    banner = render(context).split('id="convergence"')[1].split("</section>")[0]
    assert "did not sample afresh" in banner
    assert "run 20260101T000000Z-0123abcd (NUTS) reweighted" in banner
    assert "Pareto k̂ (0.12)" in banner


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
