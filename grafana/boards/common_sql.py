"""SQL fragments several boards share (all over the storage layer's read interface)."""

from __future__ import annotations

from grafana.sql import RANGE_FROM, RANGE_TO, Select, alias, call, lit

ENERGY = "energy_active_import_index"
WATER = "water_volume_index"

SITES_BY_KIND = (
    "SELECT id AS __value, name AS __text FROM sites WHERE kind IN ($site_kind) ORDER BY name"
)
SITE_KINDS = "SELECT DISTINCT kind AS __value FROM sites ORDER BY 1"
ALL_SITES = "SELECT id AS __value, name AS __text FROM sites ORDER BY name"

# A multi-value site variable as the text[] the indicator functions take.
SITES_ARRAY = "ARRAY[$site]::text[]"
# The calendar year (Paris) of the range's end, for the year-on-year functions.
RANGE_YEAR = f"extract(year FROM {RANGE_TO} AT TIME ZONE 'Europe/Paris')::integer"


def indicator(function: str, bucket: str, group: str = "site") -> str:
    """An 0008 indicator function (icone_energy, icone_water...) over the dashboard's range,
    for the selected sites."""
    return call(function, RANGE_FROM, RANGE_TO, lit(bucket), lit(group), SITES_ARRAY) + " f"


def last_night(moment: str) -> str:
    """The last night whose window (01:00-05:00 Paris time) is over at `moment`, as
    icone_water_alerts counts it."""
    return f"(({moment} AT TIME ZONE 'Europe/Paris') - interval '5 hours')::date"


# icone_night_flow takes the last night and a count of nights: the range's days, at least
# the 2 nights of the leak rule and at most 62 (each night is one call).
LAST_NIGHT = last_night(RANGE_TO)
NIGHTS = (
    f"least(62, greatest(2, ceil((icone_epoch({RANGE_TO}) - icone_epoch({RANGE_FROM}))"
    " / 86400)))::integer"
)


def year_on_year(metric: str, unit: str) -> Select:
    """icone_metered_yoy for the selected sites: the range's calendar year so far against the
    year before, per site."""
    return Select(
        columns=(
            alias("f.scope", "site"),
            alias("f.year", "year"),
            alias("f.figure", unit),
            alias("f.previous_figure", f"{unit} the year before"),
            alias("f.change", "change"),
            alias("f.coverage", "coverage"),
        ),
        source=call("icone_metered_yoy", lit(metric), RANGE_YEAR, lit("site"), SITES_ARRAY) + " f",
        order_by=("1",),
    )
