"""``forecast new NAME`` (a commented, valid starter scenario that never overwrites) and
``forecast schema`` (the JSON Schema of scenario files, with its committed copy kept current)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli import EXIT_BAD_INPUT, EXIT_OK, app
from forecast.data import (
    COLUMNS,
    KINDS,
    SCHEMA_FILE,
    InputError,
    Scenario,
    load_inputs,
    scenario_schema_text,
    write_starter,
)

runner = CliRunner()


def test_starter_loads_and_passes_check(tmp_path: Path) -> None:
    written = write_starter("gulf", tmp_path)
    toml, csv = tmp_path / "priors" / "gulf.toml", tmp_path / "data" / "gulf" / "evidence.csv"
    assert written == [toml, csv, tmp_path / "priors" / SCHEMA_FILE]
    inputs = load_inputs("gulf", tmp_path)
    s = inputs.scenario
    assert s.name == "gulf"
    assert len(s.factors) == 2 and len(s.indicators) == 1
    (outcome,) = s.outcomes.values()
    assert outcome.kind == "event" and len(outcome.candidates) == 2
    assert s.outcome_drift is not None  # the optional table is shown too
    kinds = set(inputs.evidence.frame["kind"])
    assert len(kinds) == 3 and kinds <= set(KINDS)
    assert csv.read_text(encoding="utf-8").splitlines()[0] == ",".join(COLUMNS)
    res = runner.invoke(app, ["check", "--scenario", "gulf", "--root", str(tmp_path)])
    assert res.exit_code == EXIT_OK, res.output
    assert "inputs are valid" in res.output


def test_starter_is_commented_with_placeholders(tmp_path: Path) -> None:
    """Every sourced number says what to write in its rationale and source."""
    write_starter("gulf", tmp_path)
    text = (tmp_path / "priors" / "gulf.toml").read_text(encoding="utf-8")
    assert text.startswith(f"#:schema ./{SCHEMA_FILE}\n")
    sourced: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "rationale" in node:
                sourced.append(node)
            for v in node.values():
                walk(v)

    walk(tomllib.loads(text))
    assert len(sourced) >= 15
    for table in sourced:
        # a placeholder that says what to write, not a bare "TODO"
        assert table["rationale"].startswith("TODO: "), table
        assert table["source"].startswith("TODO: "), table


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    write_starter("gulf", tmp_path)
    toml = tmp_path / "priors" / "gulf.toml"
    toml.write_text("# mine\n", encoding="utf-8")
    csv = tmp_path / "data" / "gulf" / "evidence.csv"
    csv.unlink()
    with pytest.raises(InputError) as exc:
        write_starter("gulf", tmp_path)
    assert [p.file for p in exc.value.problems] == [str(toml)]
    assert toml.read_text(encoding="utf-8") == "# mine\n"
    assert not csv.exists()  # nothing written when one file exists
    res = runner.invoke(app, ["new", "gulf", "--root", str(tmp_path)])
    assert res.exit_code == EXIT_BAD_INPUT
    assert f"{toml}:(file): file: already exists" in res.stderr
    assert "nothing was written" in res.stderr
    assert toml.read_text(encoding="utf-8") == "# mine\n" and not csv.exists()


def test_refuses_existing_evidence_file(tmp_path: Path) -> None:
    csv = tmp_path / "data" / "gulf" / "evidence.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("mine\n", encoding="utf-8")
    res = runner.invoke(app, ["new", "gulf", "--root", str(tmp_path)])
    assert res.exit_code == EXIT_BAD_INPUT
    assert str(csv) in res.stderr
    assert csv.read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / "priors" / "gulf.toml").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "Upper", "x[red]y[/red]", "", "a\nb"])
def test_bad_names_are_refused_literally(tmp_path: Path, name: str) -> None:
    res = runner.invoke(app, ["new", name, "--root", str(tmp_path / "p")])
    assert res.exit_code == EXIT_BAD_INPUT
    assert repr(name) in res.stderr  # shown as written, never parsed as markup
    assert "nothing was written" in res.stderr
    assert not (tmp_path / "p").exists() and not (tmp_path / "escape").exists()


def test_cli_prints_what_it_wrote(tmp_path: Path) -> None:
    res = runner.invoke(app, ["new", "gulf", "--root", str(tmp_path)])
    assert res.exit_code == EXIT_OK, res.output
    for rel in ("priors/gulf.toml", "data/gulf/evidence.csv", f"priors/{SCHEMA_FILE}"):
        assert f"wrote {tmp_path / rel}" in res.stdout
    assert load_inputs("gulf", tmp_path).scenario.name == "gulf"


def test_existing_schema_file_is_kept(tmp_path: Path) -> None:
    schema = tmp_path / "priors" / SCHEMA_FILE
    schema.parent.mkdir()
    schema.write_text("{}\n", encoding="utf-8")
    assert schema not in write_starter("gulf", tmp_path)
    assert schema.read_text(encoding="utf-8") == "{}\n"


def test_committed_schema_is_current(repo_root: Path) -> None:
    """priors/scenario.schema.json is what the code generates: regenerate it with
    ``forecast schema > priors/scenario.schema.json`` after changing ``Scenario``."""
    committed = (repo_root / "priors" / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == scenario_schema_text()


def test_schema_command_prints_the_schema() -> None:
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == EXIT_OK
    body = json.loads(res.stdout)
    assert body["$schema"].startswith("https://json-schema.org/")
    assert body["additionalProperties"] is False  # unknown keys are errors, as in the loader
    assert set(body["required"]) >= {"name", "event_signal", "forecast_noise", "factors"}
    assert body["properties"].keys() == Scenario.model_fields.keys()


def test_readme_has_an_example_of_every_command(repo_root: Path) -> None:
    """Every command and subcommand of the CLI appears in the README as ``forecast NAME ...``."""
    import typer.main

    def names(cmd: object, prefix: str) -> list[str]:
        subs = getattr(cmd, "commands", None)  # a group (Typer vendors its own click)
        if subs:
            return [n for k, c in subs.items() for n in names(c, f"{prefix} {k}")]
        return [prefix]

    commands = names(typer.main.get_command(app), "forecast")
    assert {"forecast new", "forecast schema", "forecast evidence add"} <= set(commands)
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    missing = [c for c in commands if f"\n{c} " not in readme]
    assert not missing, f"no README example line starting with: {missing}"
