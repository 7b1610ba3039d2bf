"""Apply each hand mutation from the skill-logic audit to a throw-away copy of the project, run the
tests meant to kill it, and report whether they did (they must fail) — the source tree is never
touched.

    python mutation/verify_hand_mutants.py            # all mutations
    python mutation/verify_hand_mutants.py cutoff     # those whose name contains "cutoff"

Exit status 0 when the unmutated copy passes and every mutation is killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKILL = "tests/test_skill_logic.py"
QUESTIONS = "tests/test_questions.py"
SCORING = "tests/test_scoring.py"

# (name, file, original text, mutated text, tests that must fail)
MUTATIONS: list[tuple[str, str, str, str, list[str]]] = [
    (
        "evidence cutoff one day later (the origin month's first day)",
        "forecast/skill/backtest.py",
        "return (_month_start(month) - pd.Timedelta(days=1)).date()",
        "return (_month_start(month) - pd.Timedelta(days=0)).date()",
        [SKILL],
    ),
    (
        "evidence cutoff one day earlier",
        "forecast/skill/backtest.py",
        "return (_month_start(month) - pd.Timedelta(days=1)).date()",
        "return (_month_start(month) - pd.Timedelta(days=2)).date()",
        [SKILL],
    ),
    (
        "scenario fit uses all evidence (no cutoff)",
        "forecast/skill/backtest.py",
        "ev = known_evidence(inputs.evidence, month)",
        "ev = inputs.evidence",
        [SKILL],
    ),
    (
        "count period may end on the cutoff day's next day",
        "forecast/data/evidence.py",
        "(covered <= when))",
        "(covered <= when + pd.Timedelta(days=1)))",
        [SKILL],
    ),
    (
        "count period must end before the cutoff day",
        "forecast/data/evidence.py",
        "(covered <= when))",
        "(covered < when))",
        [SKILL],
    ),
    (
        "count period one day longer (exposure_days instead of exposure_days - 1)",
        "forecast/data/evidence.py",
        'pd.to_timedelta(days - 1, unit="D")',
        'pd.to_timedelta(days, unit="D")',
        [SKILL],
    ),
    (
        "count rows kept by their start date only",
        "forecast/data/evidence.py",
        '((fr["kind"] != "count") | (covered <= when))',
        '((fr["kind"] != "count") | True)',
        [SKILL],
    ),
    (
        "base rate counts questions resolved on the month's first day",
        "forecast/skill/backtest.py",
        'past = rows[rows["resolved"] < before]',
        'past = rows[rows["resolved"] <= before]',
        [SKILL],
    ),
    (
        "base rate counts questions by origin, not by when they were resolved",
        "forecast/skill/backtest.py",
        'past = rows[rows["resolved"] < before]',
        'past = rows[rows["origin"] < before]',
        [SKILL],
    ),
    (
        "base rate cut at the day after the month begins",
        "forecast/skill/backtest.py",
        'rows["base_rate"] = [_base_rate(rows, _month_start(m)) for m in rows["month"]]',
        'rows["base_rate"] = [_base_rate(rows, _month_start(m) + pd.Timedelta(days=1))'
        ' for m in rows["month"]]',
        [SKILL],
    ),
    (
        "base rate counts a question once per lead",
        "forecast/skill/backtest.py",
        '.drop_duplicates("key")',
        "",
        [SKILL],
    ),
    (
        "resolved = reference date in the loader",
        "forecast/data/questions.py",
        '"resolved": pd.Timestamp(max(ref, resolve) if resolve is not None else ref),',
        '"resolved": pd.Timestamp(ref),',
        [SKILL, QUESTIONS],
    ),
    (
        "resolved = reference date in the plan",
        "forecast/skill/backtest.py",
        '"resolved": q.resolved,',
        '"resolved": q.reference,',
        [SKILL],
    ),
    (
        "calibration trains on questions resolved on the month's first day",
        "forecast/skill/backtest.py",
        'return rows[rows["resolved"] < _month_start(month)], rows[rows["month"] == month]',
        'return rows[rows["resolved"] <= _month_start(month)], rows[rows["month"] == month]',
        [SKILL],
    ),
    (
        "calibration trains on questions whose origin (not resolution) is before the month",
        "forecast/skill/backtest.py",
        'return rows[rows["resolved"] < _month_start(month)], rows[rows["month"] == month]',
        'return rows[rows["origin"] < _month_start(month)], rows[rows["month"] == month]',
        [SKILL],
    ),
    (
        "model and crowd swapped in score_lead's bootstrap",
        "forecast/skill/backtest.py",
        'both["model"],\n                both["crowd"],',
        'both["crowd"],\n                both["model"],',
        [SKILL],
    ),
    (
        "a and b swapped in the bootstrap resamples",
        "forecast/skill/scoring.py",
        "score(a[i], y[i]) - score(b[i], y[i])",
        "score(b[i], y[i]) - score(a[i], y[i])",
        [SKILL, SCORING],
    ),
    (
        "a and b swapped in the bootstrap's point difference",
        "forecast/skill/scoring.py",
        "return score(a, y) - score(b, y), float(lo), float(hi)",
        "return score(b, y) - score(a, y), float(lo), float(hi)",
        [SKILL, SCORING],
    ),
    (
        "bootstrap bounds at the 10th/90th percentiles",
        "forecast/skill/scoring.py",
        "[(1 - level) / 2, 1 - (1 - level) / 2]",
        "[1 - level, level]",
        [SKILL],
    ),
    (
        "bootstrap default level 95%",
        "forecast/skill/scoring.py",
        "level: float = 0.9",
        "level: float = 0.95",
        [SKILL],
    ),
    (
        "reliability: edge values go to the bin below",
        "forecast/skill/scoring.py",
        "np.digitize(p, edges[1:-1])",
        "np.digitize(p, edges[1:-1], right=True)",
        [SKILL],
    ),
    (
        "reliability: linspace edges (0.6 falls just below its edge)",
        "forecast/skill/scoring.py",
        "edges = np.arange(bins + 1) / bins",
        "edges = np.linspace(0.0, 1.0, bins + 1)",
        [SKILL],
    ),
    (
        "reliability: 10 bins by default",
        "forecast/skill/scoring.py",
        "bins: int = 5",
        "bins: int = 10",
        [SKILL],
    ),
    (
        "crowd strictly before the origin day",
        "forecast/data/questions.py",
        '(self.crowd["date"] <= when)]',
        '(self.crowd["date"] < when)]',
        [SKILL, QUESTIONS],
    ),
    (
        "crowd up to a day after the origin",
        "forecast/data/questions.py",
        '(self.crowd["date"] <= when)]',
        '(self.crowd["date"] <= when + pd.Timedelta(days=1))]',
        [SKILL, QUESTIONS],
    ),
    (
        "crowd: the frame's last row instead of the latest date",
        "forecast/data/questions.py",
        'last = s[s["date"] == s["date"].max()].iloc[-1]',
        "last = s.iloc[-1]",
        [SKILL, QUESTIONS],
    ),
    (
        "origin one day after lead days before the reference",
        "forecast/skill/backtest.py",
        "origin = q.reference - pd.Timedelta(days=int(lead))",
        "origin = q.reference - pd.Timedelta(days=int(lead) - 1)",
        [SKILL],
    ),
    (
        "negative crowd probabilities accepted",
        "forecast/data/questions.py",
        'if text.startswith("-") or not NUMBER_RE.match(text):',
        "if not NUMBER_RE.match(text):",
        [QUESTIONS],
    ),
    (
        "crowd probabilities above 1 accepted",
        "forecast/data/questions.py",
        "return p if p <= 1.0 else None",
        "return p if p <= 2.0 else None",
        [QUESTIONS],
    ),
    (
        "unsorted crowd series kept in file order",
        "forecast/data/questions.py",
        'for pt in sorted(series, key=lambda pt: pt["time"]):',
        "for pt in series:",
        [QUESTIONS],
    ),
    (
        "different probabilities at one time accepted out of order",
        "forecast/data/questions.py",
        'if not in_order and first["p"] != pt["p"]:',
        "if False:",
        [QUESTIONS],
    ),
    (
        "crowd points for unknown questions accepted",
        "forecast/data/questions.py",
        "elif q_read and key not in seen:",
        "elif False:",
        [QUESTIONS],
    ),
    (
        "question dates parsed by pandas (now/today accepted)",
        "forecast/data/questions.py",
        "    if not DAY_RE.match(text):\n        return None\n"
        "    try:\n        return date.fromisoformat(text)",
        "    try:\n        return pd.Timestamp(text).date()",
        [QUESTIONS],
    ),
    (
        "resolve before open accepted",
        "forecast/data/questions.py",
        "and d is not None and d < opened:",
        "and False:",
        [QUESTIONS],
    ),
    (
        "row numbers count records, not physical lines",
        "forecast/data/questions.py",
        "            start = reader.line_num + 1",
        "            start += 1",
        [QUESTIONS],
    ),
    (
        "links file for another scenario accepted",
        "forecast/skill/links.py",
        "if isinstance(named, str) and named != scenario.name:",
        "if False:",
        [QUESTIONS],
    ),
]


def copy_project(dest: Path) -> Path:
    main = dest / "main"
    for sub in ("forecast", "tests", "priors", "data"):
        shutil.copytree(REPO / sub, main / sub, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", main / "pyproject.toml")
    shared = REPO.parent / "shared"
    if shared.exists():
        (dest / "shared").symlink_to(shared)  # tests find ../shared/data from the copy too
    return main


def run_tests(main: Path, tests: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(main), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=main, env=env, capture_output=True, text=True).returncode


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not argv or any(a in m[0] for a in argv)]
    with tempfile.TemporaryDirectory(prefix="hand-mutants-") as tmp:
        main_dir = copy_project(Path(tmp))
        all_tests = sorted({t for m in chosen for t in m[4]})
        if run_tests(main_dir, all_tests) != 0:
            print("the unmutated copy fails its tests: nothing to verify")
            return 2
        survived = 0
        for name, file, old, new, tests in chosen:
            path = main_dir / file
            text = path.read_text()
            if text.count(old) != 1:
                print(f"?? {name}: the original text is not found exactly once in {file}")
                survived += 1
                continue
            path.write_text(text.replace(old, new))
            rc = run_tests(main_dir, tests)
            path.write_text(text)
            verdict = "killed" if rc == 1 else f"SURVIVED (pytest exit {rc})"
            survived += rc != 1
            print(f"{verdict:9}  {name}  [{file}; {' '.join(Path(t).name for t in tests)}]")
        print(f"{len(chosen) - survived}/{len(chosen)} mutations killed")
        return 0 if survived == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
