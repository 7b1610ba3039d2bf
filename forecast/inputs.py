"""Where a scenario's files live, loading them together, and hashing them for provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from forecast.evidence import Evidence, load_evidence
from forecast.scenario import Scenario, load_scenario

DEFAULT_SCENARIO = "israel_russia"


@dataclass(frozen=True)
class Inputs:
    """A validated scenario with its evidence, and the files they were read from."""

    scenario: Scenario
    evidence: Evidence
    scenario_file: Path
    evidence_dir: Path

    @property
    def files(self) -> list[Path]:
        return [self.scenario_file, *self.evidence.files]

    def file_hashes(self) -> dict[str, str]:
        """SHA-256 of every input file, keyed by its conventional project path."""
        out = {f"priors/{self.scenario_file.name}": _sha256(self.scenario_file)}
        for f in self.evidence.files:
            out[f"data/{self.evidence_dir.name}/{f.name}"] = _sha256(f)
        return out

    def input_hash(self) -> str:
        """One hash over all input files' contents (names included)."""
        h = hashlib.sha256()
        for name, digest in sorted(self.file_hashes().items()):
            h.update(f"{name}\0{digest}\n".encode())
        return h.hexdigest()


def scenario_paths(name: str, root: Path | str = ".") -> tuple[Path, Path]:
    """``priors/<name>.toml`` and ``data/<name>/`` under ``root``."""
    root = Path(root)
    return root / "priors" / f"{name}.toml", root / "data" / name


def load_inputs(
    name: str = DEFAULT_SCENARIO,
    root: Path | str = ".",
    scenario_file: Path | None = None,
    evidence_dir: Path | None = None,
) -> Inputs:
    """Load and validate a scenario and its evidence log; raises ``InputError`` on bad input."""
    default_toml, default_dir = scenario_paths(name, root)
    scenario_file = Path(scenario_file or default_toml)
    evidence_dir = Path(evidence_dir or default_dir)
    scenario = load_scenario(scenario_file)
    evidence = load_evidence(evidence_dir, scenario)
    return Inputs(scenario, evidence, scenario_file, evidence_dir)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
