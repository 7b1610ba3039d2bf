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
        """``<file>:<where>: <field>: <message>`` on one line (control characters escaped)."""
        file, where, field, message = map(
            one_line, (self.file, str(self.where), self.field, self.message)
        )
        return f"{file}:{where}: {field}: {message}"


def one_line(text: str) -> str:
    """``text`` with newlines and other unprintable characters written as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InputError(Exception):
    """Raised when an input file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("InputError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
