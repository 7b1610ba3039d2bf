"""Numbers and dates in the words a policy reader expects: estimative words, calendar dates."""

from __future__ import annotations

from datetime import date

ESTIMATIVE_SCALE: tuple[tuple[float, str], ...] = (
    (0.05, "almost no chance"),
    (0.20, "very unlikely"),
    (0.45, "unlikely"),
    (0.55, "roughly even chance"),
    (0.80, "likely"),
    (0.95, "very likely"),
    (1.00, "almost certain"),
)
"""Words of likelihood as (upper bound, word), from the US Intelligence Community's scale.

Office of the Director of National Intelligence, Intelligence Community Directive 203,
"Analytic Standards", 2 January 2015, section D.6.e(2) ("Properly expresses and explains
uncertainties"), item (a) on expressions of likelihood: almost no chance 1–5%, very unlikely
5–20%, unlikely 20–45%, roughly even chance 45–55%, likely 55–80%, very likely 80–95%, almost
certain 95–99%. Below 1% reads as "almost no chance" and above 99% as "almost certain"; a bound
two bands share belongs to the band above it (5% is "very unlikely").
"""

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)  # English whatever the machine's locale, as the rest of the report is


def estimative_word(p: float) -> str:
    """The ICD 203 word for probability ``p`` (``ESTIMATIVE_SCALE``).

    ``p`` is first rounded to whole percent, as the report prints it, so the word never
    contradicts the number beside it (44.6% is shown as 45%, "roughly even chance").
    """
    if not 0.0 <= p <= 1.0:  # also refuses nan
        raise ValueError(f"a probability must lie in [0, 1], got {p!r}")
    shown = round(p * 100) / 100
    return next(
        (word for bound, word in ESTIMATIVE_SCALE if shown < bound), ESTIMATIVE_SCALE[-1][1]
    )


def long_date(d: date) -> str:
    """A date as a reader writes it, ``31 January 2027`` (no leading zero, no locale)."""
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"
