"""A starter scenario for ``forecast new NAME`` and the JSON Schema of scenario files.

``write_starter`` writes a commented, valid ``priors/NAME.toml`` (two factors, one indicator, one
event outcome with two candidates, every required table) and ``data/NAME/evidence.csv`` (the
header and three example rows of different kinds), and never overwrites a file.
``scenario_schema_text`` is the JSON Schema of a scenario file, generated from ``Scenario``; the
committed copy ``priors/scenario.schema.json`` is what editors (Taplo) validate against.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from forecast.data.errors import InputError, Problem
from forecast.data.files import replace_atomically
from forecast.data.inputs import scenario_paths
from forecast.data.rules import COLUMNS
from forecast.data.scenario import NAME_HELP, NAME_PATTERN, Scenario

SCHEMA_FILE = "scenario.schema.json"  # in priors/, beside the scenario files
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_STARTER_TOML = """\
#:schema ./scenario.schema.json
# Scenario "{{name}}": a starter written by `forecast new {{name}}`. Edit it, then run
# `forecast check --scenario {{name}}` (every problem is reported as file:key: field: message).
#
# Every number is a table with `rationale` (why this value) and `source` (where it comes from: a
# citation, a URL, or "analyst judgment: ..." for a judgment). Replace each "TODO" with your own.
# Unknown keys are errors. The first line lets editors with Taplo (VS Code: Even Better TOML)
# check this file against priors/scenario.schema.json as you type.
#
# Scale conventions:
# - Each factor is standardized: 0 is its typical level over the scenario, 1 one sd of its
#   movement. It moves monthly as f[t] = r f[t-1] + volatility z[t].
# - An event of strength s (1..3) in the evidence log says the month's standardized innovation was
#   about gain x s (see [event_signal]).
# - Loadings act on the logit of an outcome's monthly hazard: a loading of 1 means one sd of the
#   factor multiplies the monthly odds by e (about 2.7).

name = "{{name}}"                 # must equal the file name (priors/{{name}}.toml, data/{{name}}/)
title = "TODO: a title for the scenario"
description = "TODO: what the scenario follows, and why these factors and outcomes."
start = "2024-01"   # first month of evidence (YYYY-MM)
end = "2027-12"     # last month evidence may be dated in; forecasts run from the last evidence
horizons = [6, 12, 24]          # forecast horizons in months, increasing

# How coded news (event rows: direction x strength on a factor) moves the factors.
[event_signal]
[event_signal.gain]
value = 0.5
rationale = "TODO: why a strength-1 event is about half a monthly sd"
source = "TODO: analyst judgment: ..."
[event_signal.noise]
value = 1.0
rationale = "TODO: how noisy one coded event is, in monthly sds"
source = "TODO: analyst judgment: ..."

# Optional: each outcome's own drift, read by news coded on an outcome (an event row whose target
# is an outcome). Leave it out if you code news on factors only.
[outcome_drift]
[outcome_drift.volatility]
value = 0.3
rationale = "TODO: how far a month's news moves an outcome's logit hazard"
source = "TODO: analyst judgment: ..."
[outcome_drift.reversion]
value = 0.9
rationale = "TODO: how fast such news fades (1 = never)"
source = "TODO: analyst judgment: ..."

# Priors on forecasters (forecast rows: experts, crowds, markets): bias and noise, logit scale.
[forecast_noise]
[forecast_noise.bias_sd]
value = 0.5
rationale = "TODO: how biased a forecaster may be"
source = "TODO: e.g. a calibration study"
[forecast_noise.noise_scale]
value = 0.5
rationale = "TODO: how noisy one forecast is"
source = "TODO: e.g. a calibration study"

# ------------------------------------------------------------------------------------------------
# Factors: the latent forces you think drive events. Each needs at least one indicator or one
# outcome loading with sign "+" or "-", which fixes its direction.

[factors.engagement]
label = "TODO: e.g. Great-power engagement in the region"
description = "TODO: what a high level of this factor means."
[factors.engagement.initial]
mean = 0.0
sd = 1.0
rationale = "TODO: where the factor starts (0 = typical)"
source = "TODO: a citation or URL, or analyst judgment: ..."
[factors.engagement.volatility]
value = 0.3
rationale = "TODO: monthly innovation sd (fixes the unit)"
source = "TODO: a citation or URL, or analyst judgment: ..."
[factors.engagement.reversion]
value = 0.95
rationale = "TODO: monthly pull toward 0 (1 = random walk; optional)"
source = "TODO: a citation or URL, or analyst judgment: ..."
[factors.engagement.loading_scale]
value = 1.0
rationale = "TODO: typical strength of this factor's loadings (optional)"
source = "TODO: a citation or URL, or analyst judgment: ..."

[factors.appetite]
label = "TODO: e.g. Appetite for normalization"
description = "TODO: what a high level of this factor means."
[factors.appetite.initial]
mean = 0.0
sd = 1.0
rationale = "TODO: where the factor starts (0 = typical)"
source = "TODO: a citation or URL, or analyst judgment: ..."
[factors.appetite.volatility]
value = 0.3
rationale = "TODO: monthly innovation sd (fixes the unit)"
source = "TODO: a citation or URL, or analyst judgment: ..."
[factors.appetite.loading_scale]
value = 1.0
rationale = "TODO: typical strength of this factor's loadings (optional)"
source = "TODO: a citation or URL, or analyst judgment: ..."

# ------------------------------------------------------------------------------------------------
# Indicators: measured series of one factor. likelihood = "normal" (a number; evidence kind
# `indicator`), "count" (events per period; kind `count`, with `baseline`) or "rating" (ordered
# `levels`; kind `rating`).

[indicators.visits]
label = "TODO: e.g. High-level visits per quarter"
factor = "engagement"
sign = "+"                      # a higher reading means a higher factor
likelihood = "normal"
transform = "log"               # "identity" (default) or "log" (values must be > 0)
unit = "TODO: the unit of the values in the evidence log"
[indicators.visits.center]
value = 1.0
rationale = "TODO: the typical transformed value (here log of ~3)"
source = "TODO: a citation or URL, or analyst judgment: ..."
[indicators.visits.spread]
value = 0.5
rationale = "TODO: the typical sd of transformed values"
source = "TODO: a citation or URL, or analyst judgment: ..."

# ------------------------------------------------------------------------------------------------
# Outcomes: what you forecast. kind = "event" (happens at some month), "persistence" (holds until
# it ends) or "state" (a measure below/above a threshold for `window` months; see the README).

[outcomes.agreement]
label = "TODO: e.g. A normalization agreement is signed"
kind = "event"
description = "TODO: exactly what counts as happening, and what does not (a resolution rule)."
[outcomes.agreement.base_rate]
monthly = 0.02
logit_sd = 1.0
rationale = "TODO: the monthly chance at typical factor levels"
source = "TODO: e.g. base rate of such agreements"
[outcomes.agreement.candidate_spread]
value = 1.0
rationale = "TODO: how much the candidates differ"
source = "TODO: a citation or URL, or analyst judgment: ..."

[outcomes.agreement.candidates.alpha]
label = "TODO: a first candidate (e.g. a state that might sign)"

[outcomes.agreement.candidates.beta]
label = "TODO: a second candidate"
[outcomes.agreement.candidates.beta.offset]
mean = -0.5
sd = 1.0
rationale = "TODO: why this candidate is less (or more) likely (optional)"
source = "TODO: a citation or URL, or analyst judgment: ..."

[outcomes.agreement.loadings.appetite]
sign = "+"                      # "+", "-" or "free" when theory does not fix it
scale = 1.0
rationale = "TODO: why more appetite makes the agreement more likely"
source = "TODO: a citation or URL, or analyst judgment: ..."

[outcomes.agreement.loadings.engagement]
sign = "free"
scale = 1.0
rationale = "TODO: why engagement matters, either way"
source = "TODO: a citation or URL, or analyst judgment: ..."
"""

# Three example rows of different kinds; the note says to replace them.
_STARTER_ROWS = (
    "2024-03-12,event,appetite,2,TODO: source title,https://example.org/replace-me,,,,,"
    "example row: news that raised the appetite factor (strength 2); replace with a real one",
    "2024-04,indicator,visits,3,TODO: source title,https://example.org/replace-me,,,,,"
    "example row: the measured number in the indicator's unit; replace with a real one",
    "2024-05-01,forecast,agreement:alpha,0.1,TODO: source title,https://example.org/replace-me,"
    "12,,TODO_forecaster,,example row: P(alpha signs within 12 months) by a forecaster; replace",
)


def starter_texts(name: str) -> tuple[str, str]:
    """The starter scenario TOML and evidence CSV for scenario ``name`` (not checked here)."""
    toml = _STARTER_TOML.replace("{{name}}", name)
    csv = ",".join(COLUMNS) + "\n" + "".join(row + "\n" for row in _STARTER_ROWS)
    return toml, csv


def scenario_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a scenario file, generated from ``Scenario``."""
    return {"$schema": JSON_SCHEMA_DIALECT, **Scenario.model_json_schema()}


def scenario_schema_text() -> str:
    """``scenario_json_schema()`` as the text of ``priors/scenario.schema.json``."""
    return json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_starter(name: str, root: Path | str = ".") -> list[Path]:
    """Write ``priors/NAME.toml`` and ``data/NAME/evidence.csv`` under ``root`` (and
    ``priors/scenario.schema.json`` if missing); returns the paths written.

    Raises ``InputError`` if ``name`` is not a scenario name or either file already exists; then
    nothing is written. Each file is written atomically (``replace_atomically``).
    """
    toml_path, data_dir = scenario_paths(name, root) if _is_name(name) else (None, None)
    if toml_path is None or data_dir is None:
        raise InputError([Problem("forecast new", "NAME", "name", f"{name!r}: {NAME_HELP}")])
    csv_path = data_dir / "evidence.csv"
    existing = [p for p in (toml_path, csv_path) if p.exists() or p.is_symlink()]
    if existing:
        raise InputError(
            [Problem(str(p), "(file)", "file", "already exists; not overwritten") for p in existing]
        )
    toml, csv = starter_texts(name)
    toml_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    written = []
    schema_path = toml_path.parent / SCHEMA_FILE
    if not schema_path.exists():
        replace_atomically(schema_path, scenario_schema_text())
        written.append(schema_path)
    replace_atomically(toml_path, toml)
    replace_atomically(csv_path, csv)
    return [toml_path, csv_path, *written]


def _is_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None and len(name) <= 64
