"""Located input errors: every problem names its file, row (or key path) and field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    ``where`` is a spreadsheet row number for CSV files (header = row 1) or a dotted key
    path for TOML files; ``field`` names the column or key that is wrong.
    """

    file: str
    where: int | str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.where}: {self.field}: {self.message}"


class InputError(Exception):
    """Raised when an input file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("InputError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
