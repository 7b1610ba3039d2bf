"""Measured exports → sourced evidence files: what ``forecast evidence import`` does.

An analyst keeps a reviewable *mapping file* (TOML, e.g. ``imports/<scenario>.toml``) saying which
rows of which export feed which indicator or outcome of a scenario. Each ``[sources.<name>]``
table is one import; its ``kind`` says how the export is read:

* ``acled``: country-month event or fatality counts (optionally by event type, summed) → one
  ``count`` row a month on a count indicator, covering the whole month;
* ``ucdp``: conflict-years (filtered by any columns, e.g. ``conflict_id`` or the side codes) →
  one row a year (dated in ``month``, December by default) on a normal or rating indicator;
* ``series``: any dated numeric column (filtered) → rows on a normal, count or rating indicator;
* ``crowd``: a crowd or market probability history (platform, id, date, prob_yes) → ``forecast``
  rows on an ``outcome[:candidate]``, each with the whole months left to the question's close.

Every row carries the mapping's ``source`` and ``source_url`` and a ``note`` ``import <name>:
<export file name> <natural key>`` (``Lebanon 2023-10``), so a reader can trace it to the export.
An indicator's sign and factor are the scenario's; a crowd question asked the other way round
from its outcome says ``invert = true``.

Each source's rows go to their own file ``data/<scenario>/import_<name>.csv``, which is a
deterministic function of the mapping and the export (rows sorted by date and key, numbers written
as in the export or exactly): importing the same export again leaves the file byte-identical,
importing a longer export adds exactly the new rows. The new files are validated with the whole
log by the log's own validation (``load_snapshot_evidence``), under the scenario lock, before
any is written, each atomically (``replace_atomically``); a row that fails is reported at the
export's file, row and column. Mapping problems are reported at the mapping file, the source's
table and the key. Nothing is written if anything is wrong.
"""

from forecast.data.importing.apply import (
    IMPORT_PREFIX,
    ImportResult,
    RowChange,
    SourceImport,
    import_evidence,
)
from forecast.data.importing.mapping import (
    IMPORT_KINDS,
    AcledSource,
    CrowdSource,
    ImportMapping,
    SeriesSource,
    UcdpSource,
    load_mapping,
    parse_mapping,
    read_mapping_toml,
)

__all__ = [
    "IMPORT_KINDS",
    "IMPORT_PREFIX",
    "AcledSource",
    "CrowdSource",
    "ImportMapping",
    "ImportResult",
    "RowChange",
    "SeriesSource",
    "SourceImport",
    "UcdpSource",
    "import_evidence",
    "load_mapping",
    "parse_mapping",
    "read_mapping_toml",
]
