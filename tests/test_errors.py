"""Located errors (``forecast.data.errors``): one line per problem, escapes visible."""

from __future__ import annotations

import pytest

from forecast.data.errors import InputError, Problem, one_line


def test_one_line_escapes_only_what_cannot_be_printed() -> None:
    assert one_line("plain text, é ñ 日本") == "plain text, é ñ 日本"
    # printable characters stay as they are even beside escaped ones: a backslash or a quote is
    # not doubled, only the newline, tab, NUL and DEL are written as escapes
    assert one_line("C:\\dir\n'q' \"d\"\t\x00\x7f") == "C:\\dir\\n'q' \"d\"\\t\\x00\\x7f"
    assert one_line("") == ""


def test_problem_str_escapes_every_part() -> None:
    p = Problem("a\nb.csv", "row\r7", "fi\teld", "line1\nline2")
    assert str(p) == "a\\nb.csv:row\\r7: fi\\teld: line1\\nline2"
    assert "\n" not in str(p)
    assert str(Problem("f.csv", 12, "date", "bad")) == "f.csv:12: date: bad"


def test_input_error_keeps_its_problems() -> None:
    problems = [Problem("f", 2, "x", "m1\nmore"), Problem("g", "(file)", "y", "m2")]
    err = InputError(problems)
    problems.clear()  # a copy is kept
    assert [p.file for p in err.problems] == ["f", "g"]
    assert str(err) == "f:2: x: m1\\nmore\ng:(file): y: m2"
    with pytest.raises(ValueError, match="at least one problem"):
        InputError([])
