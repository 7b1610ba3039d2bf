"""Scenario files: the shipped ones load, and every validation rule reports file:where: field."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from forecast.data.errors import InputError, Problem
from forecast.data.months import month_end, month_label, month_start
from forecast.data.scenario import Scenario
from forecast.data.scenario_file import load_scenario, parse_scenario

TENSION = "[factors.tension]"
VOLATILITY = (
    'volatility = { value = 0.3, rationale = "monthly innovation sd", source = "test fixture" }\n'
)
INNOVATIONS = '[innovations]\ndf = 4.0\nrationale = "r"\nsource = "s"\n'
BASELINE = 'baseline = { value = 20.0, rationale = "typical month", source = "test fixture" }\n'


@pytest.fixture(scope="module")
def mini_text(mini_root: Path) -> str:
    return (mini_root / "priors" / "mini.toml").read_text(encoding="utf-8")


def sub(text: str, old: str, new: str, section: str | None = None) -> str:
    """Replace ``old`` (which must occur exactly once, in ``section`` if given) by ``new``.

    ``section`` is a table header such as ``[factors.tension]``; it spans to the next header.
    """
    i, j = 0, len(text)
    if section is not None:
        i = text.index(section + "\n")
        nxt = text.find("\n[", i + 1)
        j = nxt if nxt >= 0 else len(text)
    part = text[i:j]
    assert part.count(old) == 1, f"{old!r} occurs {part.count(old)} times"
    return text[:i] + part.replace(old, new) + text[j:]


def problems(path: Path) -> list[str]:
    """The located problems ``load_scenario`` raises for ``path`` (it must raise)."""
    with pytest.raises(InputError) as info:
        load_scenario(path)
    for p in info.value.problems:
        assert p.file and str(p.where) and p.field and p.message, p
    return [str(p) for p in info.value.problems]


def assert_reported(errs: list[str], *prefixes: str) -> None:
    for prefix in prefixes:
        assert any(e.startswith(prefix) for e in errs), f"no {prefix!r} in:\n" + "\n".join(errs)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "priors" / "mini.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped scenarios --------------------------------------------------------------------------


def test_shipped_scenario_loads(repo_root: Path) -> None:
    s = load_scenario(repo_root / "priors" / "israel_russia.toml")
    assert s.name == "israel_russia"
    assert s.factor_names == [
        "us_russia_engagement",
        "us_mideast_commitment",
        "russia_regional_leverage",
        "iran_hostility",
        "gulf_normalization_appetite",
        "israel_russia_relations",
        "hezbollah_militancy",
    ]
    assert s.outcome_names == [
        "accords_expansion",
        "hezbollah_aggression_reduced",
        "israel_iran_thaw",
        "russia_keeps_syria_bases",
        "russia_mediates_israel_iran",
        "us_russia_rapprochement",
    ]
    assert list(s.indicators) == [
        "iran_u60_stockpile",
        "hezbollah_attacks",
        "hezbollah_attack_level",
    ]
    assert len(s.outcomes["accords_expansion"].candidates) == 9
    assert s.outcomes["hezbollah_aggression_reduced"].kind == "state"
    assert s.horizons == (6, 12, 24)
    assert (s.start, s.end) == ("2022-01", "2027-12")


def test_mini_scenario_loads(mini_root: Path) -> None:
    s = load_scenario(mini_root / "priors" / "mini.toml")
    assert s.factor_names == ["tension", "appetite"]
    assert s.outcome_names == ["deal", "bases_kept", "calm"]
    assert {n: i.likelihood for n, i in s.indicators.items()} == {
        "stockpile": "normal",
        "attacks": "count",
        "attack_level": "rating",
    }
    assert list(s.outcomes["deal"].candidates) == ["alpha", "beta"]
    assert s.targets() == [
        ("deal", None),
        ("deal", "alpha"),
        ("deal", "beta"),
        ("bases_kept", None),
        ("calm", None),
    ]


@pytest.mark.parametrize(
    ("month", "ahead", "end"),
    [
        ("2026-07", 6, "2027-01-31"),  # evidence through July 2026: six months end in January
        ("2026-07", 0, "2026-07-31"),
        ("2026-12", 0, "2026-12-31"),
        ("2026-12", 1, "2027-01-31"),  # across a year
        ("2023-11", 3, "2024-02-29"),  # a leap February
        ("2025-11", 3, "2026-02-28"),
        ("2026-07", 24, "2028-07-31"),
        ("2026-01", 120, "2036-01-31"),
    ],
)
def test_month_end_counts_whole_months_after_the_origin(month: str, ahead: int, end: str) -> None:
    assert month_end(month, ahead).isoformat() == end


def test_month_helpers_agree_on_labels_dates_and_the_scenario_index(mini_root: Path) -> None:
    assert month_end(date(2024, 2, 10)) == date(2024, 2, 29)  # any day in the month
    assert month_start("2026-11", 3) == date(2027, 2, 1) and month_start("2026-03", -3).month == 12
    assert month_label(date(2026, 1, 31)) == "2026-01"
    s = load_scenario(mini_root / "priors" / "mini.toml")
    labels = s.month_labels(14)
    assert labels[0] == s.start and len(set(labels)) == 14
    for t, label in enumerate(labels):
        assert s.month_start(t) == month_start(label) and s.month_index(s.month_start(t)) == t


def test_scenario_end_date_is_the_last_day_of_its_last_month(mini_root: Path) -> None:
    s = load_scenario(mini_root / "priors" / "mini.toml")
    assert s.end == "2024-12" and s.end_date.isoformat() == "2024-12-31"


@pytest.mark.parametrize("which", ["israel_russia", "mini"])
def test_scenario_round_trip(which: str, repo_root: Path, mini_root: Path, dump_toml) -> None:
    """Loading, writing the parsed values back as TOML and loading again gives the same scenario."""
    root = repo_root if which == "israel_russia" else mini_root
    s = load_scenario(root / "priors" / f"{which}.toml")
    text = dump_toml(s.model_dump(exclude_none=True))
    again = parse_scenario(text, "round-trip.toml")
    assert again == s
    assert again.model_dump() == s.model_dump()


def test_loading_scale_is_optional(tmp_path: Path, mini_text: str) -> None:
    text = "\n".join(ln for ln in mini_text.splitlines() if not ln.startswith("loading_scale"))
    assert "loading_scale" not in text
    s = load_scenario(write(tmp_path, text))
    assert all(f.loading_scale is None for f in s.factors.values())
    # when given, it is still checked
    bad = sub(mini_text, "loading_scale = { value = 1.0", "loading_scale = { value = -1.0", TENSION)
    errs = problems(write(tmp_path, bad))
    assert_reported(
        errs, f"{tmp_path / 'priors' / 'mini.toml'}:factors.tension.loading_scale: value:"
    )


def test_source_offsets_are_optional_and_match_source_text(tmp_path: Path, mini_text: str) -> None:
    """A row belongs to the declared source whose match text its source contains (any case);
    a row of none is the reference; a row of two is an error naming both."""
    assert all(not i.sources for i in load_scenario(write(tmp_path, mini_text)).indicators.values())
    second = ALMA.replace("alma]", "itic]").replace('"Alma"', '"ITIC"')
    s = load_scenario(write(tmp_path, sub(mini_text, BASELINE, BASELINE + ALMA + second)))
    ind = s.indicators["attacks"]
    assert list(ind.sources) == ["alma", "itic"] and ind.sources["alma"].sd == 1.0
    assert ind.source_of("Alma Center via Al-Wakaai") == "alma"
    assert ind.source_of("data from ALMA") == "alma"
    assert ind.source_of("itic weekly") == "itic"
    assert ind.source_of("UNIFIL") is None
    with pytest.raises(ValueError, match=r"alma \('Alma'\), itic \('ITIC'\)"):
        ind.source_of("ITIC citing Alma")


# --- one test per rule: (mutation of the mini scenario, expected "where: field:" prefixes) ------

DEAL_BASE = (
    'base_rate = { monthly = 0.02, logit_sd = 1.0, rationale = "rare", source = "test fixture" }\n'
)
DEAL_SPREAD = (
    'candidate_spread = { value = 1.0, rationale = "states differ", source = "test fixture" }\n'
)


# a source of the mini count indicator's rows with its own level (a sub-table: after the last key)
ALMA = (
    '[indicators.attacks.sources.alma]\nmatch = "Alma"\nsd = 1.0\nrationale = "counts 3x"\n'
    'source = "test fixture"\n'
)


def _no_volatility(t: str) -> str:
    return sub(t, VOLATILITY, "", TENSION)


RULES: dict[str, tuple[list[tuple[str, ...]], list[str]]] = {
    # name: ([([section,] old, new), ...], ["where: field:", ...])
    "malformed_toml": ([("horizons = [6, 12, 24]", "horizons = [6, 12, 24")], ["(toml): syntax:"]),
    "duplicate_table": (
        [("[indicators.attacks]", "[indicators.stockpile]")],
        ["(toml): syntax:"],
    ),
    "unknown_top_level_key": (
        [('title = "Mini test scenario"', 'title = "Mini test scenario"\ncolour = "red"')],
        ["(top): colour: unknown key"],
    ),
    "unknown_nested_key": (
        [('label = "Regional tension"', 'label = "Regional tension"\nvolatilty = 3')],
        ["factors.tension: volatilty: unknown key"],
    ),
    "unknown_key_in_inline_table": (
        [
            (
                'monthly = 0.02, logit_sd = 1.0, rationale = "rare"',
                'monthly = 0.02, median = 1, logit_sd = 1.0, rationale = "rare"',
            )
        ],
        ["outcomes.deal.base_rate: median: unknown key"],
    ),
    "unknown_section": (
        [("[event_signal]", "[event_signals]\nx = 1\n\n[event_signal]")],
        ["(top): event_signals: unknown key"],
    ),
    "missing_top_level_key": (
        [('title = "Mini test scenario"\n', "")],
        ["(top): title: required key is missing"],
    ),
    "missing_nested_key": (
        [('[outcomes.calm]\nlabel = "Attacks stay low"\n', "[outcomes.calm]\n")],
        ["outcomes.calm: label: required key is missing"],
    ),
    "wrong_type_number": (
        [("gain = { value = 1.0,", 'gain = { value = "high",')],
        ["event_signal.gain: value: expected a number, got a string"],
    ),
    "wrong_type_table": (
        [
            (
                'noise = { value = 1.0, rationale = "events are noisy", source = "test fixture" }',
                "noise = 1.0",
            )
        ],
        ["event_signal: noise:"],
    ),
    "wrong_type_list_item": (
        [("horizons = [6, 12, 24]", 'horizons = [6, "twelve", 24]')],
        ["(top): horizons[1]: expected a whole number, got a string"],
    ),
    "wrong_literal": (
        [('likelihood = "count"', 'likelihood = "poisson"')],
        ["indicators.attacks: likelihood: Input should be 'normal', 'count' or 'rating'"],
    ),
    "not_finite": (
        [(TENSION, "volatility = { value = 0.3,", "volatility = { value = inf,")],
        ["factors.tension.volatility: value: must be a finite number, got inf"],
    ),
    "not_positive": (
        [
            (
                'scale = 1.0\nrationale = "appetite drives deals"',
                'scale = 0\nrationale = "appetite drives deals"',
            )
        ],
        ["outcomes.deal.loadings.appetite: scale: Input should be greater than 0"],
    ),
    "bad_name": (
        [("[indicators.attack_level]", "[indicators.Attack-Level]")],
        ["indicators: Attack-Level: not a valid name"],
    ),
    "bad_level_name": (
        [('levels = ["low", "medium", "high"]', 'levels = ["low", "Medium", "high"]')],
        ["indicators.attack_level: levels[1]: not a valid name 'Medium'"],
    ),
    "bad_month": ([('start = "2022-01"', 'start = "2022-13"')], ["(top): start: expected a month"]),
    "bad_month_format": (
        [('end = "2024-12"', 'end = "2024-12-31"')],
        ["(top): end: expected a month"],
    ),
    "month_year_out_of_range": (
        [('start = "2022-01"', 'start = "0000-01"')],
        ["(top): start: year must be between"],
    ),
    "end_before_start": (
        [('end = "2024-12"', 'end = "2021-12"')],
        ["(top): end: must be after start"],
    ),
    "horizons_not_increasing": (
        [("horizons = [6, 12, 24]", "horizons = [12, 6, 24]")],
        ["(top): horizons: horizons must be positive whole months in increasing order"],
    ),
    "horizons_repeated": ([("horizons = [6, 12, 24]", "horizons = [6, 6]")], ["(top): horizons:"]),
    "horizons_not_positive": (
        [("horizons = [6, 12, 24]", "horizons = [0, 6]")],
        ["(top): horizons:"],
    ),
    "horizons_empty": ([("horizons = [6, 12, 24]", "horizons = []")], ["(top): horizons:"]),
    "horizons_too_long": (
        [("horizons = [6, 12, 24]", "horizons = [6, 100000]")],
        ["(top): horizons: horizons must be at most 120 months (ten years), got 100000"],
    ),
    "horizon_boolean": (
        [("horizons = [6, 12, 24]", "horizons = [6, true]")],
        ["(top): horizons[1]: expected a whole number, got a boolean (true)"],
    ),
    "horizon_float": (
        [("horizons = [6, 12, 24]", "horizons = [6, 12.0]")],
        ["(top): horizons[1]: expected a whole number, got a float (12.0)"],
    ),
    "number_boolean": (
        [("gain = { value = 1.0,", "gain = { value = true,")],
        ["event_signal.gain: value: expected a number, got a boolean (true)"],
    ),
    "number_quoted": (
        [("gain = { value = 1.0,", 'gain = { value = "1.0",')],
        ["event_signal.gain: value: expected a number, got a string"],
    ),
    "prior_sd_boolean": (
        [(TENSION, "initial = { mean = 0.0, sd = 1.0,", "initial = { mean = 0.0, sd = false,")],
        ["factors.tension.initial: sd: expected a number, got a boolean (false)"],
    ),
    "not_a_number": (
        [(TENSION, "volatility = { value = 0.3,", "volatility = { value = nan,")],
        ["factors.tension.volatility: value: must be a finite number, got nan"],
    ),
    "unknown_factor_in_loading": (
        [("[outcomes.bases_kept.loadings.tension]", "[outcomes.bases_kept.loadings.tensoin]")],
        ["outcomes.bases_kept.loadings: tensoin: unknown factor 'tensoin'"],
    ),
    "unknown_factor_in_indicator": (
        [
            (
                'factor = "tension"\nsign = "+"\nlikelihood = "count"',
                'factor = "tensoin"\nsign = "+"\nlikelihood = "count"',
            )
        ],
        ["indicators.attacks: factor: unknown factor 'tensoin'"],
    ),
    "normal_indicator_without_center": (
        [('center = { value = 4.0, rationale = "log of ~55 kg", source = "test fixture" }\n', "")],
        ["indicators.stockpile: center: required for likelihood 'normal'"],
    ),
    "normal_indicator_without_spread": (
        [('spread = { value = 1.0, rationale = "a factor of e", source = "test fixture" }\n', "")],
        ["indicators.stockpile: spread: required for likelihood 'normal'"],
    ),
    "count_indicator_without_baseline": (
        [(BASELINE, "")],
        ["indicators.attacks: baseline: required for likelihood 'count'"],
    ),
    "rating_indicator_without_levels": (
        [('levels = ["low", "medium", "high"]\n', "")],
        ["indicators.attack_level: levels: required for likelihood 'rating'"],
    ),
    "rating_levels_repeated": (
        [('levels = ["low", "medium", "high"]', 'levels = ["low", "low"]')],
        ["indicators.attack_level: levels: need at least two distinct levels"],
    ),
    "parameter_of_other_likelihood": (
        [('likelihood = "count"\nbaseline', 'likelihood = "count"\nlevels = ["a", "b"]\nbaseline')],
        ["indicators.attacks: levels: not used by likelihood 'count'"],
    ),
    "transform_on_count": (
        [('likelihood = "count"', 'likelihood = "count"\ntransform = "log"')],
        ["indicators.attacks: transform: only normal indicators take a transform"],
    ),
    "state_outcome_without_measure": (
        [('measure = "attacks"\n', "")],
        ["outcomes.calm: measure: required for kind 'state'"],
    ),
    "state_outcome_unknown_measure": (
        [('measure = "attacks"', 'measure = "atacks"')],
        ["outcomes.calm: measure: unknown factor or indicator 'atacks'"],
    ),
    "state_outcome_rating_measure": (
        [('measure = "attacks"', 'measure = "attack_level"')],
        ["outcomes.calm: measure: a rating indicator cannot be a measure"],
    ),
    "state_outcome_fractional_window": (
        [("window = { value = 3,", "window = { value = 2.5,")],
        ["outcomes.calm: window: must be a whole number of months"],
    ),
    "state_outcome_with_base_rate": (
        [('kind = "state"', 'kind = "state"\n' + DEAL_BASE.rstrip("\n"))],
        ["outcomes.calm: base_rate: state outcomes follow their measure"],
    ),
    "heavy_tails_unknown_factor": (
        [("[event_signal]", INNOVATIONS + 'factors = ["tensoin"]\n\n[event_signal]')],
        ["innovations: factors: unknown factor 'tensoin'"],
    ),
    "heavy_tails_factor_repeated": (
        [("[event_signal]", INNOVATIONS + 'factors = ["tension", "tension"]\n\n[event_signal]')],
        ["innovations: factors: need at least one factor, each once"],
    ),
    "heavy_tails_no_factor": (
        [("[event_signal]", INNOVATIONS + "factors = []\n\n[event_signal]")],
        ["innovations: factors: need at least one factor, each once"],
    ),
    "event_outcome_without_base_rate": (
        [(DEAL_BASE, "")],
        ["outcomes.deal: base_rate: required for kind 'event'"],
    ),
    "persistence_outcome_with_threshold": (
        [
            (
                'kind = "persistence"',
                'kind = "persistence"\nthreshold = { value = 1, rationale = "r", source = "s" }',
            )
        ],
        ["outcomes.bases_kept: threshold: only state outcomes take 'threshold'"],
    ),
    "candidate_spread_without_candidates": (
        [('kind = "persistence"', 'kind = "persistence"\n' + DEAL_SPREAD.rstrip("\n"))],
        ["outcomes.bases_kept: candidate_spread: given but the outcome has no candidates"],
    ),
    "candidates_without_candidate_spread": (
        [(DEAL_SPREAD, "")],
        ["outcomes.deal: candidate_spread: required when an outcome has candidates"],
    ),
    "factor_without_sign_constrained_link": (
        [
            (
                '[outcomes.deal.loadings.appetite]\nsign = "+"',
                '[outcomes.deal.loadings.appetite]\nsign = "free"',
            )
        ],
        ["factors: appetite: needs at least one indicator or one loading with sign"],
    ),
    "number_without_rationale": (
        [(TENSION, 'rationale = "monthly innovation sd", ', "")],
        ["factors.tension.volatility: rationale: required key is missing"],
    ),
    "number_without_source": (
        [
            (
                'rationale = "tension blocks deals"\nsource = "test fixture"\n',
                'rationale = "tension blocks deals"\n',
            )
        ],
        ["outcomes.deal.loadings.tension: source: required key is missing"],
    ),
    "number_with_blank_source": (
        [
            (
                'rationale = "tension blocks deals"\nsource = "test fixture"\n',
                'rationale = "tension blocks deals"\nsource = "  "\n',
            )
        ],
        ["outcomes.deal.loadings.tension: source: String should have at least 1 character"],
    ),
    "sources_on_rating": (
        [
            (
                'levels = ["low", "medium", "high"]\n',
                'levels = ["low", "medium", "high"]\n' + ALMA.replace("attacks", "attack_level"),
            )
        ],
        ["indicators.attack_level: sources: only count and normal indicators take sources"],
    ),
    "source_match_within_another": (
        [
            (
                BASELINE,
                BASELINE + ALMA + ALMA.replace("alma]", "alma_tv]").replace('"Alma"', '"alma TV"'),
            )
        ],
        [
            "indicators.attacks.sources.alma: match: 'Alma' occurs in the match text of source "
            "'alma_tv', so every row of that source would match both"
        ],
    ),
    "source_sd_not_positive": (
        [(BASELINE, BASELINE + ALMA.replace("sd = 1.0", "sd = 0.0"))],
        ["indicators.attacks.sources.alma: sd: Input should be greater than 0"],
    ),
    "source_without_match": (
        [(BASELINE, BASELINE + ALMA.replace('match = "Alma"\n', ""))],
        ["indicators.attacks.sources.alma: match: required key is missing"],
    ),
    "source_without_rationale": (
        [(BASELINE, BASELINE + ALMA.replace('rationale = "counts 3x"\n', ""))],
        ["indicators.attacks.sources.alma: rationale: required key is missing"],
    ),
    "deeply_nested_value": (
        [
            (
                'title = "Mini test scenario"',
                'title = "Mini test scenario"\nx = ' + "[" * 5000 + "]" * 5000,
            )
        ],
        ["(toml): syntax: malformed TOML: values nested too deeply"],
    ),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_each_scenario_rule_is_located(rule: str, tmp_path: Path, mini_text: str) -> None:
    edits, expected = RULES[rule]
    text = mini_text
    for edit in edits:
        section, old, new = edit if len(edit) == 3 else (None, *edit)
        text = sub(text, old, new, section)
    path = write(tmp_path, text)
    errs = problems(path)
    assert_reported(errs, *(f"{path}:{e}" for e in expected))


def test_syntax_error_names_the_line(tmp_path: Path, mini_text: str) -> None:
    path = write(tmp_path, sub(mini_text, 'name = "mini"', "name = mini"))
    (err,) = problems(path)
    assert err.startswith(f"{path}:(toml): syntax: malformed TOML:")
    assert "(at line 2, column 8)" in err


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "priors" / "nope.toml"
    assert problems(path) == [f"{path}:(file): file: No such file or directory"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (err,) = problems(tmp_path)
    assert err.startswith(f"{tmp_path}:(file): file:")


def test_not_utf8(tmp_path: Path, mini_text: str) -> None:
    path = tmp_path / "mini.toml"
    data = sub(mini_text, 'label = "Regional tension"', 'label = "Regional tension\xe9"')
    path.write_bytes(data.encode("latin-1"))
    line = 1 + data[: data.index("\xe9")].count("\n")
    assert problems(path) == [
        f"{path}:(file): encoding: not UTF-8 text: byte 0xe9 at line {line}, column 26"
    ]


def test_utf8_bom_is_accepted(tmp_path: Path, mini_text: str) -> None:
    path = tmp_path / "mini.toml"
    path.write_bytes(b"\xef\xbb\xbf" + mini_text.encode())
    assert load_scenario(path).name == "mini"


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    errs = problems(path)
    assert_reported(errs, f"{path}:(top): name: required key is missing")
    assert len(errs) == len(
        [
            "name",
            "title",
            "start",
            "end",
            "horizons",
            "event_signal",
            "forecast_noise",
            "factors",
            "outcomes",
        ]
    )


def test_structural_errors_are_all_reported_at_once(tmp_path: Path, mini_text: str) -> None:
    text = sub(mini_text, 'title = "Mini test scenario"', 'title = "Mini"\ncolour = "red"')
    text = sub(text, "gain = { value = 1.0,", 'gain = { value = "high",')
    text = _no_volatility(text)
    text = sub(text, 'levels = ["low", "medium", "high"]', 'levels = ["low", "Medium", "high"]')
    path = write(tmp_path, text)
    errs = problems(path)
    assert_reported(
        errs,
        f"{path}:(top): colour: unknown key",
        f"{path}:event_signal.gain: value:",
        f"{path}:factors.tension: volatility: required key is missing",
        f"{path}:indicators.attack_level: levels[1]: not a valid name",
    )
    assert len(errs) == 4


def test_cross_key_errors_are_all_reported_at_once(tmp_path: Path, mini_text: str) -> None:
    text = sub(mini_text, DEAL_BASE, "")
    text = sub(text, "[outcomes.bases_kept.loadings.tension]", "[outcomes.bases_kept.loadings.x]")
    text = sub(text, 'measure = "attacks"', 'measure = "nothing"')
    text = sub(text, 'levels = ["low", "medium", "high"]', 'levels = ["low"]')
    path = write(tmp_path, text)
    errs = problems(path)
    assert errs == [
        f"{path}:indicators.attack_level: levels: need at least two distinct levels",
        f"{path}:outcomes.deal: base_rate: required for kind 'event'",
        f"{path}:outcomes.bases_kept.loadings: x: unknown factor 'x'",
        f"{path}:outcomes.calm: measure: unknown factor or indicator 'nothing'",
    ]


def test_problem_str_format() -> None:
    assert str(Problem("a.toml", "factors.x", "label", "bad")) == "a.toml:factors.x: label: bad"
    assert str(Problem("a.csv", 3, "date", "bad")) == "a.csv:3: date: bad"
    with pytest.raises(ValueError):
        InputError([])


def test_parse_scenario_equals_model_validate(mini_text: str) -> None:
    assert parse_scenario(mini_text, "x") == Scenario.model_validate(tomllib.loads(mini_text))
