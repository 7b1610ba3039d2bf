"""``Target``: the one parser and printer of ``outcome`` / ``outcome:candidate``."""

from __future__ import annotations

import pytest

from forecast.data.target import Target


@pytest.mark.parametrize("text", ["deal", "deal:alpha", "accords_expansion:saudi_arabia"])
def test_parse_and_print_round_trip(text):
    assert str(Target.parse(text)) == text


def test_parts_and_tuple_behaviour():
    assert Target.parse("deal:alpha") == Target("deal", "alpha") == ("deal", "alpha")
    assert Target.parse("deal") == Target("deal") == ("deal", None)
    outcome, candidate = Target.parse("deal:alpha")
    assert (outcome, candidate) == ("deal", "alpha")


@pytest.mark.parametrize("text", ["", ":", ":alpha", "deal:", "deal:alpha:beta"])
def test_bad_text_gives_a_clear_error(text):
    with pytest.raises(ValueError, match=r"not a target .*: write outcome or outcome:candidate"):
        Target.parse(text)
