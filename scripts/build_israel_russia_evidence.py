"""Build the evidence log of the ``israel_russia`` scenario from the curated timeline.

Reads ``../shared/data/timeline`` (relative to the repository root; override with ``--timeline``)
and writes ``data/israel_russia/{events,resolutions,ratings,counts,indicators}.csv`` (override
the folder with ``--out``). The output depends only on the input files: rows keep the timeline's
order (events sorted by date), and the files are rewritten whole on each run.
``data/israel_russia/README.md`` describes every rule applied here.

Usage::

    python scripts/build_israel_russia_evidence.py [--timeline DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import calendar
import csv
import math
import statistics
import sys
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMELINE = ROOT / ".." / "shared" / "data" / "timeline"
DEFAULT_OUT = ROOT / "data" / "israel_russia"

COLUMNS = (
    "date",
    "kind",
    "target",
    "value",
    "source",
    "source_url",
    "horizon_months",
    "exposure_days",
    "forecaster",
    "note",
)
URL_SEP = " ; "

# --- events: timeline codes -> scenario factors --------------------------------------------------
FACTOR_OF_CODE = {
    "F1": "us_russia_engagement",
    "F2": "us_mideast_commitment",
    "F3": "russia_regional_leverage",
    "F4": "iran_hostility",
    "F5": "gulf_normalization_appetite",
    "F6": "israel_russia_relations",
}
# Each fact enters once. An outcome code (O1..O6: the event made an outcome more (+) or less (-)
# likely) becomes an event on that outcome, which the model reads as news on the outcome's hazard,
# never a factor event with a sign chosen by hand. It is left out when the event already codes the
# factor that mainly drives the outcome: that factor code carries the event's signal, and outcome
# news moves the same factor through the outcome's loadings, so a second row would count it twice.
OUTCOME_NEWS = {
    "O1": ("accords_expansion", "gulf_normalization_appetite"),
    "O3": ("israel_iran_thaw", "iran_hostility"),
    "O4": ("russia_keeps_syria_bases", "russia_regional_leverage"),
    "O6": ("us_russia_rapprochement", "us_russia_engagement"),
}
# O2 (reduced Hezbollah aggression) is a state outcome, a predicate on the Hezbollah attack count,
# with no hazard for news to move: its codes are news on the factor that count reads, with the
# opposite sign (reduced aggression = lower militancy).
STATE_NEWS = {"O2": ("hezbollah_militancy", -1)}
# O5 (Russia mediates Israel-Iran) is driven jointly by F1, F3 and F6, and every O5 event in the
# timeline already codes at least one of them, so O5 codes add no row.
NO_ROW = {"O5"}
MAX_STRENGTH = 3

# --- ratings: the timeline's monthly Hezbollah attack level -> scenario levels ------------------
LEVEL_OF_STATUS = {
    "very low": "very_low",
    "reduced, contested truce": "reduced",
    "high": "high",
    "high until 16 Apr truce": "high",
    "very high": "very_high",
    "very high until 27 Nov ceasefire": "very_high",
}
SKIP_STATUS_PREFIX = "unknown"
ATTACK_LEVEL_ITEM = "Hezbollah attack level (monthly)"

# --- counts: Hezbollah-claimed attacks -----------------------------------------------------------
# Series metrics that count attacks by Hezbollah on Israel over a known period (see README for
# the rows left out: UNIFIL trajectories, the Jerusalem Post cumulative figure, Israeli attacks).
COUNT_METRICS = {"Hezbollah-claimed attacks on Israel", "Hezbollah attacks on Israel in month"}
TRUCE_ITEM = "Hezbollah-claimed attacks during truce"
TRUCE_FIRST, TRUCE_LAST = "2024-12", "2026-02"
NO_CLAIM_PREFIX = "no Hezbollah-claimed attack found"
# The one claimed attack of the truce (warning fire at Shebaa Farms, 2024-12-02).
CLAIMED_IN_TRUCE_MONTH = {"2024-12": 1}
TRUCE_END_URL = (
    "https://en.mercopress.com/2026/03/02/hezbollah-fires-first-cross-border-projectiles-since-"
    "2024-ceasefire-as-israel-strikes-lebanon?utm_source=feed&utm_medium=rss&utm_content="
    "international&utm_campaign=rss"
)
DECEMBER_2024_URL = (
    "https://bastillepost.com/global/article/4432578-lebanon-files-new-complaint-to-un-security-"
    "council-over-israeli-violations-of-ceasefire"
)

# --- one fact, one row: Hezbollah rows that share a source page within a month -------------------
# A monthly rating whose page also gives that month's count restates the count (the measurement) and
# is left out (rule, in ``enter_once``). The other pages were read one by one:
RATING_RESTATES_EVENT = {
    "2023-10": "the page reports the outbreak of cross-border fire that the 2023-10-08 event codes",
}
EVENT_RESTATES = {  # (date, factor) of an event that the month's count or rating already states
    ("2024-12-02", "hezbollah_militancy"): "the one claimed attack is the month's count of 1",
    ("2026-05-15", "hezbollah_militancy"): "the extended ceasefire is the month's 'reduced' rating",
}
DISTINCT_FACT = {  # (date, factor) of an event that states something the shared page's row does not
    ("2024-11-27", "hezbollah_militancy"): "the month's level (very high until the 27th) and the "
    "ceasefire that ended it are two facts",
    ("2025-02-18", "hezbollah_militancy"): "Israel keeping five posts is not a claimed attack: the "
    "count is of Hezbollah-claimed attacks",
    ("2025-03-22", "hezbollah_militancy"): "unclaimed rockets are not in the count of "
    "Hezbollah-claimed attacks",
    ("2026-04-16", "hezbollah_militancy"): "the month's level (heavy fire until the 16th) and the "
    "10-day ceasefire are two facts",
    (
        "2026-06-28",
        "hezbollah_militancy",
    ): "the month's level (reduced under the framework) and the "
    "deal fraying on the 28th are two facts",
}

# --- indicators: IAEA 60% stockpile --------------------------------------------------------------
# Rows whose as-of date is listed here only restate an earlier estimate and are skipped.
STOCKPILE_RESTATEMENTS = {"2026-01-20"}


# --- resolutions ---------------------------------------------------------------------------------
# (target, value, [timeline items], expected status prefix, date field, note)
RESOLUTIONS: list[tuple[str, int, list[str], str, str, str]] = [
    (
        "accords_expansion:kazakhstan",
        1,
        ["Kazakhstan joins Abraham Accords"],
        "occurred",
        "date",
        "Trump announced and the Kazakh MFA confirmed accession to the Abraham Accords",
    ),
    *[
        (
            f"accords_expansion:{cand}",
            0,
            [item],
            "not occurred",
            "last_evidence_date",
            "no normalization step or accession found as of this date",
        )
        for cand, item in [
            ("saudi_arabia", "Saudi Arabia normalizes with Israel"),
            ("oman", "Oman normalizes with Israel"),
            ("indonesia", "Indonesia normalizes with Israel"),
            ("mauritania", "Mauritania normalizes with Israel"),
            ("syria", "Syria normalizes with Israel"),
            ("azerbaijan", "Azerbaijan joins Abraham Accords"),
        ]
    ],
    (
        "accords_expansion:somaliland",
        0,
        ["Somaliland (not UN member)"],
        "partial",
        "last_evidence_date",
        "partial, counted as not happened: Israel recognized Somaliland and Somaliland said it "
        "would join the Accords, but the US did not confirm and no formal accession was found",
    ),
    (
        "accords_expansion:lebanon",
        0,
        ["Lebanon normalizes with Israel"],
        "partial",
        "last_evidence_date",
        "partial, counted as not happened: 2026-06-26 framework commits to ending the state of "
        "war but is explicitly not a peace treaty and establishes no diplomatic relations",
    ),
    (
        "israel_iran_thaw",
        0,
        ["Direct Israel-Iran talks", "Israel-Iran de-escalation / non-aggression agreement"],
        "not occurred",
        "last_evidence_date",
        "no direct Israel-Iran talks or bilateral agreement found; only US-Iran instruments "
        "(ceasefires, MoU) and third-party-announced ceasefires, which do not count",
    ),
    (
        "russia_mediates_israel_iran",
        0,
        ["Russia mediates an Israel-Iran agreement"],
        "not occurred",
        "last_evidence_date",
        "Russian offers and calls only; 2026 US-Iran channels ran via Oman, Pakistan and Qatar; "
        "reported message relaying (2026-01-16) does not count",
    ),
    (
        "us_russia_rapprochement",
        0,
        ["Russia-Ukraine ceasefire or peace deal", "US sanctions relief for Russia"],
        "",
        "last_evidence_date",
        "no general Russia-Ukraine ceasefire or peace deal; sanctions relief only a 30-day oil "
        "license (2026-03-12), which the definition excludes",
    ),
    (
        "russia_keeps_syria_bases",
        1,
        ["Russia retains Hmeimim air base", "Russia retains Tartus naval facility"],
        "retained",
        "last_evidence_date",
        "Russia still at Hmeimim (forces consolidated there) and Tartus (reduced) as of the "
        "latest evidence; no public basing deal",
    ),
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: Iterable[dict[str, str]]) -> int:
    rows = list(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLUMNS})
    return len(rows)


def row(**kw: object) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in kw.items()}


def split_urls(text: str) -> list[str]:
    return [u.strip() for u in text.split(";") if u.strip()]


def dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class Titles:
    """Names a source URL: the source title the timeline gives it, else its reporter, else host."""

    def __init__(self, events: list[dict[str, str]], series: list[dict[str, str]]):
        self.by_url: dict[str, str] = {}
        for s in series:
            self.by_url.setdefault(s["source_url"], f"{s['reported_by']}: {s['metric']}")
        for e in events:  # event titles win over series labels
            self.by_url[e["source_url"]] = e["source_title"]

    def __call__(self, url: str) -> str:
        return self.by_url.get(url) or urlsplit(url).hostname or url

    def join(self, urls: list[str]) -> str:
        return URL_SEP.join(dedupe(self(u) for u in urls))


def event_date(rec: dict[str, str]) -> str:
    prec = rec["date_precision"]
    if prec == "day":
        return rec["date"]
    if prec == "month":
        return rec["date"][:7]
    raise ValueError(f"unexpected date precision {prec!r} in events.csv ({rec['date']})")


def build_events(
    events: list[dict[str, str]], happened: set[tuple[str, str]]
) -> list[dict[str, str]]:
    """One row per (event x code), except codes that would restate a fact entered elsewhere.

    ``happened``: (date, URL) of every resolution that an outcome happened; an event on that day
    from that source is the resolution itself and gets no row of its own.
    """
    out: list[tuple[str, int, dict[str, str]]] = []
    for i, e in enumerate(events):
        codes = [c.strip() for c in e["bears_on"].split(";")]
        direction = {
            k.strip(): int(v) for k, v in (p.split(":") for p in e["direction"].split(";"))
        }
        if set(codes) != set(direction):
            raise ValueError(f"bears_on and direction disagree for event {e['date']} {e['event']}")
        strength = int(e["strength"])
        if not 1 <= strength <= MAX_STRENGTH:
            raise ValueError(f"strength out of range for event {e['date']} {e['event']}")
        coded = {FACTOR_OF_CODE[c] for c in codes if c in FACTOR_OF_CODE}
        targets: list[tuple[str, int, str]] = []
        for c in codes:
            d = direction[c]
            if d not in (-1, 1):
                raise ValueError(f"direction must be +1 or -1, got {d} ({e['date']} {c})")
            if c in FACTOR_OF_CODE:
                targets.append((FACTOR_OF_CODE[c], d, ""))
            elif c in OUTCOME_NEWS:
                outcome, driver = OUTCOME_NEWS[c]
                if driver not in coded:
                    targets.append((outcome, d, f" [{c}{d:+d}: news on the outcome]"))
            elif c in STATE_NEWS:
                factor, sign = STATE_NEWS[c]
                if factor not in coded:
                    targets.append((factor, sign * d, f" [from {c}{d:+d}]"))
                    coded.add(factor)
            elif c not in NO_ROW:
                raise ValueError(f"unknown code {c!r} on event {e['date']} {e['event']}")
        if any((event_date(e), u) in happened for u in split_urls(e["source_url"])):
            continue  # the event is an outcome happening: its resolution row is that fact
        for factor, d, tag in targets:
            out.append(
                (
                    e["date"],
                    i,
                    row(
                        date=event_date(e),
                        kind="event",
                        target=factor,
                        value=d * strength,
                        source=e["source_title"],
                        source_url=e["source_url"],
                        note=e["event"] + tag,
                    ),
                )
            )
    out.sort(key=lambda t: (t[0], t[1]))  # by date, then timeline order
    return [r for _, _, r in out]


def build_resolutions(resolutions: list[dict[str, str]], titles: Titles) -> list[dict[str, str]]:
    by_item = {r["item"]: r for r in resolutions}
    rows = []
    for target, value, items, status_prefix, date_field, note in RESOLUTIONS:
        recs = [by_item[item] for item in items]
        for r in recs:
            if not r["status"].startswith(status_prefix):
                msg = f"{r['item']!r}: status {r['status']!r}, expected {status_prefix!r}"
                raise ValueError(msg)
        dates = [r[date_field] for r in recs]
        urls = dedupe(u for r in recs for u in split_urls(r["source_urls"]))
        status = "; ".join(f"{r['item']}: {r['status']}" for r in recs)
        rows.append(
            row(
                date=min(dates),  # the earliest date at which every cited item supports the value
                kind="resolution",
                target=target,
                value=value,
                source=titles.join(urls),
                source_url=URL_SEP.join(urls),
                note=f"{note} (timeline: {status})",
            )
        )
    return rows


def build_ratings(resolutions: list[dict[str, str]], titles: Titles) -> list[dict[str, str]]:
    rows = []
    for r in resolutions:
        if r["outcome"] != "O2" or r["item"] != ATTACK_LEVEL_ITEM:
            continue
        if r["status"].startswith(SKIP_STATUS_PREFIX):
            continue
        level = LEVEL_OF_STATUS[r["status"]]  # KeyError on a status without a rule
        urls = split_urls(r["source_urls"])
        rows.append(
            row(
                date=r["date"],
                kind="rating",
                target="hezbollah_attack_level",
                value=level,
                source=titles.join(urls),
                source_url=URL_SEP.join(urls),
                note=f"timeline level '{r['status']}': {r['detail']}",
            )
        )
    return rows


def _days(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days + 1


def _months(first: str, last: str) -> list[str]:
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def build_counts(
    series: list[dict[str, str]], resolutions: list[dict[str, str]], titles: Titles
) -> list[dict[str, str]]:
    rows = []
    counts = [s for s in series if s["metric"] in COUNT_METRICS]
    starts = sorted(s["period_start"] for s in counts)
    for s in counts:
        # A day may be counted only once: where a published period runs into the next one (the
        # ITIC weeks 2024-07-22..29 and 2024-07-29..08-04 share 07-29), the earlier period is
        # shortened to end the day before the next begins; the shared day goes to the later one.
        end = s["period_end"]
        later = [d for d in starts if d > s["period_start"]]
        shortened = ""
        if later and end >= later[0]:
            end = (date.fromisoformat(later[0]) - timedelta(days=1)).isoformat()
            shortened = (
                f" as published; counted here as {s['period_start']}..{end} because the next "
                f"report's period starts {later[0]} (each day is counted once)"
            )
        rows.append(
            row(
                date=s["period_start"],
                kind="count",
                target="hezbollah_attacks",
                value=int(s["value"]),
                source=f"{s['reported_by']}: {s['metric']}",
                source_url=s["source_url"],
                exposure_days=_days(s["period_start"], end),
                note=f"{s['period_start']}..{s['period_end']} inclusive"
                + shortened
                + (f"; {s['note']}" if s["note"] else ""),
            )
        )
    truce = next(r for r in resolutions if r["item"] == TRUCE_ITEM)
    truce_urls = [*split_urls(truce["source_urls"]), TRUCE_END_URL]
    monthly = {
        r["date"]: r for r in resolutions if r["outcome"] == "O2" and r["item"] == ATTACK_LEVEL_ITEM
    }
    for month in _months(TRUCE_FIRST, TRUCE_LAST):
        r = monthly[month]
        y, m = map(int, month.split("-"))
        if month in CLAIMED_IN_TRUCE_MONTH:
            n = CLAIMED_IN_TRUCE_MONTH[month]
            if not r["detail"].startswith("one claimed"):
                raise ValueError(f"{month}: expected one claimed attack: {r['detail']!r}")
            urls = dedupe([*truce_urls, DECEMBER_2024_URL, *split_urls(r["source_urls"])])
            what = "one claimed attack (warning fire at Shebaa Farms, 2024-12-02)"
        else:
            n = 0
            if not r["detail"].startswith(NO_CLAIM_PREFIX):
                raise ValueError(f"{month}: expected no claimed attack: {r['detail']!r}")
            urls = dedupe([*truce_urls, *split_urls(r["source_urls"])])
            what = "no Hezbollah-claimed attack found in the month (search result, not a register)"
        rows.append(
            row(
                date=month,
                kind="count",
                target="hezbollah_attacks",
                value=n,
                source=titles.join(urls),
                source_url=URL_SEP.join(urls),
                exposure_days=calendar.monthrange(y, m)[1],
                note=f"truce month: {what}; timeline: {truce['detail']}",
            )
        )
    return rows


def build_indicators(stockpile: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[float]]:
    rows, logs = [], []
    for s in stockpile:
        if s["as_of_date"] in STOCKPILE_RESTATEMENTS:
            continue
        kg = float(s["u60_stockpile_kg"])
        logs.append(math.log(kg))
        host = urlsplit(s["source_url"]).hostname
        rows.append(
            row(
                date=s["as_of_date"][:7],
                kind="indicator",
                target="iran_u60_stockpile",
                value=s["u60_stockpile_kg"],
                source=f"IAEA estimate of Iran's 60% uranium stockpile, reported by {host}",
                source_url=s["source_url"],
                note=f"as of {s['as_of_date']} ({s['date_precision']} precision); {s['note']}",
            )
        )
    return rows, logs


def enter_once(
    events: list[dict[str, str]], ratings: list[dict[str, str]], counts: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(events, ratings) with each fact once: ratings that restate a count from the same page in
    the same month, and the rows listed above, are left out; events that state a fact of their own
    beside a row from the same page are marked ``[distinct fact: why]`` (``forecast check`` reads
    the mark)."""
    count_pages = {(c["date"][:7], u) for c in counts for u in split_urls(c["source_url"])}
    kept_ratings = [
        r
        for r in ratings
        if r["date"] not in RATING_RESTATES_EVENT
        and not any((r["date"], u) in count_pages for u in split_urls(r["source_url"]))
    ]
    kept_events = []
    for e in events:
        key = (e["date"], e["target"])
        if key in EVENT_RESTATES:
            continue
        if key in DISTINCT_FACT:
            e = {**e, "note": f"{e['note']} [distinct fact: {DISTINCT_FACT[key]}]"}
        kept_events.append(e)
    return kept_events, kept_ratings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timeline", type=Path, default=DEFAULT_TIMELINE, help="timeline folder")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = p.parse_args(argv)
    tl: Path = args.timeline
    events = read_csv(tl / "events.csv")
    resolutions = read_csv(tl / "resolutions.csv")
    hezbollah = read_csv(tl / "series_hezbollah_lebanon_conflict.csv")
    stockpile = read_csv(tl / "series_iaea_iran_enriched_uranium.csv")
    titles = Titles(events, hezbollah)

    indicator_rows, logs = build_indicators(stockpile)
    resolution_rows = build_resolutions(resolutions, titles)
    happened = {
        (r["date"], u)
        for spec, r in zip(RESOLUTIONS, resolution_rows, strict=True)
        if spec[3] == "occurred"
        for u in split_urls(r["source_url"])
    }
    counts = build_counts(hezbollah, resolutions, titles)
    event_rows, rating_rows = enter_once(
        build_events(events, happened), build_ratings(resolutions, titles), counts
    )
    outputs = {
        "events.csv": event_rows,
        "resolutions.csv": resolution_rows,
        "ratings.csv": rating_rows,
        "counts.csv": counts,
        "indicators.csv": indicator_rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in outputs.items():
        n = write_csv(args.out / name, rows)
        print(f"{name}: {n} rows")
    print(
        f"iran_u60_stockpile: n={len(logs)}, mean log kg={statistics.fmean(logs):.3f} "
        f"(= {math.exp(statistics.fmean(logs)):.1f} kg), sd={statistics.stdev(logs):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
