"""How forecasting questions relate to a scenario (``priors/questions/<scenario>.toml``).

The file is reviewable data: the priors of the crowd-calibration model, the topic tags the
calibration pools over, rules that link a question to a factor by its tags and title (a question
about Israel striking Iran resolves "yes" more readily when Iranian hostility is high), explicit
links for known questions, which win over the rules, and questions that ask about one of the
scenario's own targets (``[[targets]]``: "Israel and Lebanon normalize relations in 2025?" is
``accords_expansion:lebanon`` by 2025-12-31), whose probability the scenario then gives itself
(``forecast.skill.targets``). Every number and link carries a rationale and a source. Factor and
target names are checked against the scenario.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from forecast.data.errors import InputError, Problem
from forecast.data.scenario import (
    BetaPrior,
    Name,
    NormalPrior,
    PositiveNumber,
    Scenario,
    Text,
    _Sourced,
    _Strict,
)
from forecast.data.scenario_file import parse_toml, read_toml_text, toml_location, toml_message
from forecast.data.target import Target

OTHER_TOPIC = "other"


class Calibration(_Strict):
    """Priors of the crowd-calibration model (``forecast.skill.calibration``)."""

    extremize: NormalPrior  # slope on the crowd's logit; > 1 makes the aggregate more extreme
    horizon_slope: NormalPrior  # change of that slope per log(days to the scheduled close / 30)
    age_slope: NormalPrior  # change of that slope per 30 days of the crowd point's age
    crowd_bias: NormalPrior  # intercept added to the crowd's logit
    platform_sd: PositiveNumber  # HalfNormal scale of per-platform crowd biases
    crowd_topic_sd: PositiveNumber  # HalfNormal scale of per-topic crowd biases
    base_logit: NormalPrior  # log-odds of "yes" for a question with no crowd forecast
    topic_sd: PositiveNumber  # HalfNormal scale of per-topic base rates (no crowd)
    factor_weight: NormalPrior  # log-odds per standard unit of a linked factor
    # share of the scenario's own log-odds in the pool with the calibrated crowd (target links)
    scenario_weight: BetaPrior
    crowd_floor: PositiveNumber  # crowd probabilities are clipped to [floor, 1 - floor]


class Topic(_Sourced):
    label: Text


class Rule(_Sourced):
    """A question with one of ``tags`` whose title matches ``pattern`` resolves "yes" more
    readily when ``factor`` is high (``sign`` "+") or low ("-")."""

    tags: list[Name] = Field(min_length=1)
    pattern: Text
    factor: Name
    sign: Literal["+", "-"]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return _regex(v)


def _regex(v: str) -> str:
    """``v`` if it is a valid regular expression, else ValueError saying why."""
    try:
        re.compile(v)
    except re.error as e:
        raise ValueError(f"not a valid regular expression: {e}") from None
    return v


class QuestionLink(_Sourced):
    """An explicit link of one question (``platform:id``) to a factor."""

    key: Text
    factor: Name
    sign: Literal["+", "-"]


class TargetLink(_Sourced):
    """A question that asks whether a scenario ``target`` (``outcome`` or ``outcome:candidate``)
    happens, or for a persistence outcome still holds, by the end of its window: ``close`` if
    given, else the question's scheduled close. The question is one ``key`` (``platform:id``), or
    every question with one of ``tags`` whose title matches ``pattern`` (explicit keys win).
    ``sign`` "-": the question's "yes" is the opposite (Russia leaving Syria, for
    ``russia_keeps_syria_bases``)."""

    target: Text
    sign: Literal["+", "-"]
    key: Text | None = None
    tags: list[Name] = Field(default_factory=list)
    pattern: Text | None = None
    close: date | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return None if v is None else _regex(v)

    @model_validator(mode="after")
    def _one_way(self) -> TargetLink:
        if (self.key is None) == (self.pattern is None):
            raise ValueError("give either key, or tags and pattern")
        if self.pattern is not None and not self.tags:
            raise ValueError("a pattern needs tags")
        return self


class LinksFile(_Strict):
    scenario: Name
    calibration: Calibration
    topics: dict[Name, Topic]
    rules: list[Rule] = Field(default_factory=list)
    questions: list[QuestionLink] = Field(default_factory=list)
    targets: list[TargetLink] = Field(default_factory=list)


@dataclass(frozen=True)
class Link:
    """What a question is tied to: a factor and direction, or only topics, or nothing."""

    factor: str | None
    sign: float
    why: str  # "question", "rule <n>", "topic" or "unrelated"


@dataclass(frozen=True)
class QuestionLinks:
    spec: LinksFile

    @property
    def topics(self) -> list[str]:
        """The topics calibration pools over, ``other`` last (tags outside the file)."""
        return [*self.spec.topics, OTHER_TOPIC]

    def topic_weights(self, tags: tuple[str, ...]) -> list[float]:
        """A question's membership in each topic: equal shares of its known tags, else ``other``."""
        known = [t for t in tags if t in self.spec.topics]
        names = self.topics
        w = [0.0] * len(names)
        for t in known or [OTHER_TOPIC]:
            w[names.index(t)] += 1.0 / max(len(known), 1)
        return w

    def link(self, key: str, title: str, tags: tuple[str, ...]) -> Link:
        """The explicit link of ``key`` if any, else the first rule that matches, else topics."""
        for q in self.spec.questions:
            if q.key == key:
                return Link(q.factor, 1.0 if q.sign == "+" else -1.0, "question")
        for i, r in enumerate(self.spec.rules):
            if set(r.tags) & set(tags) and re.search(r.pattern, title):
                return Link(r.factor, 1.0 if r.sign == "+" else -1.0, f"rule {i + 1}")
        if any(t in self.spec.topics for t in tags):
            return Link(None, 0.0, "topic")
        return Link(None, 0.0, "unrelated")

    def target_of(
        self, key: str, title: str, tags: tuple[str, ...]
    ) -> tuple[TargetLink, str] | None:
        """The scenario target a question asks about and why ("targets[i]"): its explicit entry,
        else the first whose tags and title pattern match; None if none."""
        found = [(i, t) for i, t in enumerate(self.spec.targets) if t.key == key] or [
            (i, t)
            for i, t in enumerate(self.spec.targets)
            if t.pattern is not None and set(t.tags) & set(tags) and re.search(t.pattern, title)
        ]
        return (found[0][1], f"targets[{found[0][0]}]") if found else None


def links_path(scenario: str, root: Path | str = ".") -> Path:
    return Path(root) / "priors" / "questions" / f"{scenario}.toml"


def load_links(path: str | Path, scenario: Scenario) -> QuestionLinks:
    """Read and validate a question-links file against ``scenario``; raises ``InputError``.

    The file names the scenario it was written for (top-level ``scenario``): a file for another
    scenario is refused, as is a link to a factor the scenario does not have. Every problem is
    reported at once.
    """
    path = Path(path)
    file = str(path)
    raw = parse_toml(read_toml_text(path), file)
    problems = []
    named = raw.get("scenario")
    if isinstance(named, str) and named != scenario.name:
        problems.append(
            Problem(
                file,
                "(top)",
                "scenario",
                f"this file is for scenario {named!r}, not {scenario.name!r}",
            )
        )
    try:
        spec = LinksFile.model_validate(raw)
    except ValidationError as exc:
        problems += [Problem(file, *toml_location(e["loc"]), toml_message(e)) for e in exc.errors()]
        raise InputError(problems) from None
    for where, items in (("rules", spec.rules), ("questions", spec.questions)):
        for i, item in enumerate(items):
            if item.factor not in scenario.factors:
                problems.append(
                    Problem(
                        file,
                        f"{where}[{i}]",
                        "factor",
                        f"unknown factor {item.factor!r} (factors of {scenario.name}: "
                        f"{', '.join(scenario.factors)})",
                    )
                )
    problems += [
        Problem(file, f"targets[{i}]", "target", why)
        for i, link in enumerate(spec.targets)
        if (why := _target_problem(link.target, scenario))
    ]
    if problems:
        raise InputError(problems)
    return QuestionLinks(spec)


def _target_problem(text: str, scenario: Scenario) -> str | None:
    """Why ``text`` is not a target a question can ask about, else None: an event or
    persistence outcome of the scenario, or one of its candidates (a state outcome has no hazard
    to give a question's probability from)."""
    try:
        outcome, candidate = Target.parse(text)
    except ValueError as exc:
        return str(exc)
    o = scenario.outcomes.get(outcome)
    if o is None:
        known = ", ".join(scenario.outcomes)
        return f"unknown outcome {outcome!r} (outcomes of {scenario.name}: {known})"
    if o.kind == "state":
        return (
            f"{outcome} is a state outcome: only event and persistence outcomes can be asked about"
        )
    if candidate is not None and candidate not in o.candidates:
        known = ", ".join(o.candidates) or "none"
        return f"{outcome} has no candidate {candidate!r} (candidates: {known})"
    return None
