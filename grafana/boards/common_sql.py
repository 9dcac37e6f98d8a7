"""SQL fragments several boards share (all over the storage layer's read interface)."""

from __future__ import annotations

from grafana.sql import RANGE_FROM, RANGE_TO, call, lit

ENERGY = "energy_active_import_index"
WATER = "water_volume_index"

SITES_BY_KIND = (
    "SELECT id AS __value, name AS __text FROM sites WHERE kind IN ($site_kind) ORDER BY name"
)
SITE_KINDS = "SELECT DISTINCT kind AS __value FROM sites ORDER BY 1"
ALL_SITES = "SELECT id AS __value, name AS __text FROM sites ORDER BY name"


def consumption(bucket: str, metric: str, shift: str | None = None) -> str:
    """`icone_consumption` (THE consumption figure) over the dashboard's range, optionally
    shifted back (`'1 year'` for year-on-year)."""
    frm, to = RANGE_FROM, RANGE_TO
    if shift is not None:
        frm, to = f"{frm} - interval {lit(shift)}", f"{to} - interval {lit(shift)}"
    return call("icone_consumption", frm, to, lit(bucket), "NULL", lit(metric)) + " c"


def last_night(moment: str) -> str:
    """The latest night whose window (01:00-05:00 Paris time) ended at least an hour before
    `moment`: its last hour has then been closed by a later reading."""
    return f"(({moment} AT TIME ZONE 'Europe/Paris') - interval '6 hours')::date"


# The night-flow functions take the last night and a count of nights: the range's days, at
# least the 2 nights of the leak rule and at most 62 (each night is one call).
LAST_NIGHT = last_night(RANGE_TO)
NIGHTS = (
    f"least(62, greatest(2, ceil((icone_epoch({RANGE_TO}) - icone_epoch({RANGE_FROM}))"
    " / 86400)))::integer"
)
