"""Water board: m³ per site, minimum night flow against the leak threshold, suspected leaks
(icone_night_flow / icone_night_flow_high, the rule the API and the alert use), meter alarms."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.boards.common_sql import ALL_SITES, LAST_NIGHT, NIGHTS, WATER, consumption
from grafana.panels import board, common, custom_variable, query_variable
from grafana.sql import RANGE_FROM, RANGE_TO, Format, Select, alias, call, lit, var_in

UID = "icone-water"

# m³/h: 10 L/h by default, the order of a running toilet flush valve
LEAK_THRESHOLDS = ["0.01", "0.005", "0.02", "0.05"]
METER_ALARMS = ("leak", "burst", "backflow", "dry")

PER_SITE_DAY = Select(
    columns=(
        alias("c.bucket", "time"),
        alias("c.site_id", "metric"),
        alias("sum(c.consumption)", "value"),
    ),
    source=consumption("day", WATER),
    where=(var_in("c.site_id", "site"),),
    group_by=("1", "2"),
    order_by=("1", "2"),
)

TOTAL = Select(
    columns=(alias("sum(c.consumption)", "m³"),),
    source=consumption("day", WATER),
    where=(var_in("c.site_id", "site"),),
)

NIGHT_FLOW = Select(
    columns=(
        alias("(f.night + time '03:00') AT TIME ZONE 'Europe/Paris'", "time"),
        alias("d.name", "metric"),
        alias("f.min_flow", "value"),
    ),
    source=call("icone_night_flow", LAST_NIGHT, NIGHTS, "NULL", lit(WATER))
    + " f JOIN devices d ON d.dev_eui = f.dev_eui",
    where=(var_in("f.site_id", "site"), "f.hours = f.window_hours"),
    order_by=("1", "2"),
)

THRESHOLD_LINE = Select(
    columns=(alias("v.t", "time"), alias("$leak_threshold::float8", "leak threshold")),
    source=f"(VALUES ({RANGE_FROM}), ({RANGE_TO})) v(t)",
    order_by=("1",),
)

SUSPECTED_LEAKS = Select(
    columns=(
        alias("d.name", "meter"),
        alias("h.site_id", "site"),
        alias("h.lowest_min_flow", "lowest night minimum"),
    ),
    source=call("icone_night_flow_high", LAST_NIGHT, "$leak_threshold", "2", "NULL", lit(WATER))
    + " h JOIN devices d ON d.dev_eui = h.dev_eui",
    where=(var_in("h.site_id", "site"),),
    order_by=("3 DESC",),
)

ALARMS = Select(
    columns=(
        alias("a.since", "since"),
        alias("d.name", "meter"),
        alias("a.site_id", "site"),
        alias("a.code", "alarm"),
    ),
    source="icone_active_alarms a JOIN devices d ON d.dev_eui = a.dev_eui",
    where=(
        var_in("a.site_id", "site"),
        "a.code IN (" + ", ".join(lit(c) for c in METER_ALARMS) + ")",
    ),
    order_by=("1 DESC",),
)


def build() -> Dashboard:
    ts, table_ = Format.TIME_SERIES, Format.TABLE
    return (
        board(
            UID,
            "ICONE · Eau",
            "Water per site (icone_consumption), minimum night flow 01:00-05:00 Paris time "
            "against the leak threshold, suspected leaks and meter alarms.",
            ["water"],
        )
        .time("now-7d", "now")
        .refresh("15m")
        .with_variable(query_variable("site", "Site", ALL_SITES))
        .with_variable(custom_variable("leak_threshold", "Leak threshold (m³/h)", LEAK_THRESHOLDS))
        .with_row(dashboard.Row("Consumption").id(1))
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=2,
                title="Water per site and day",
                description="m³ per local day and site, summed over the site's meters "
                "(icone_consumption, day buckets).",
                unit="m3",
                queries=[(PER_SITE_DAY, ts)],
                width=18,
                height=8,
            )
        )
        .with_panel(
            common(
                stat.Panel(),
                pid=3,
                title="Water over the range",
                description="m³ over the dashboard's range for the selected sites.",
                unit="m3",
                queries=[(TOTAL, table_)],
                width=6,
                height=8,
            )
        )
        .with_row(dashboard.Row("Leaks").id(4))
        .with_panel(
            common(
                timeseries.Panel(),
                pid=5,
                title="Minimum night flow",
                description="Lowest hourly consumption between 01:00 and 05:00 Paris time "
                "per meter and fully covered night (icone_night_flow, at most 62 nights), "
                "with the leak threshold chosen above.",
                unit="suffix: m³/h",
                queries=[(NIGHT_FLOW, ts), (THRESHOLD_LINE, ts)],
                width=14,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=6,
                title="Suspected leaks",
                description="Meters whose night minimum exceeded the threshold on the last "
                "two fully covered nights (icone_night_flow_high, the alert's rule).",
                unit="suffix: m³/h",
                queries=[(SUSPECTED_LEAKS, table_)],
                width=10,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=7,
                title="Meter alarms",
                description="Leak, burst, backflow and dry alarms whose latest state is "
                "active (icone_active_alarms).",
                unit="dateTimeAsIso",
                queries=[(ALARMS, table_)],
                width=24,
                height=7,
            )
        )
        .build()
    )
