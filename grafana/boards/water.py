"""Water board: m³ per site (icone_water), year-on-year, minimum night flow against the leak
threshold (icone_night_flow), the water alerts (icone_water_alerts: the night-flow leak
rule and the meters' own leak, burst, backflow and dry alarms), and the meters on a map with
their last reading and their alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, geomap, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import Dashboard
from grafana_foundation_sdk.models.geomap import TooltipMode

from grafana.boards.common_sql import (
    ALL_SITES,
    LAST_NIGHT,
    NIGHTS,
    SITES_ARRAY,
    WATER,
    indicator,
    year_on_year,
)
from grafana.panels import (
    basemap_layer,
    board,
    common,
    custom_variable,
    markers_layer,
    query_variable,
    thresholds,
    unit_override,
)
from grafana.sql import RANGE_FROM, RANGE_TO, Format, Select, alias, call, lit, var_in

UID = "icone-water"

# m³/h: 10 L/h by default, the order of a running toilet flush valve
LEAK_THRESHOLDS = ["0.01", "0.005", "0.02", "0.05"]

PER_SITE_DAY = Select(
    columns=(alias("f.bucket", "time"), alias("f.scope", "metric"), alias("f.figure", "value")),
    source=indicator("icone_water", "day"),
    where=("f.register_name = 'total'",),
    order_by=("1", "2"),
)

YEAR_ON_YEAR = year_on_year(WATER, "m³")

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

ALERTS = Select(
    columns=(
        alias("a.alert", "alert"),
        alias("d.name", "meter"),
        alias("a.site_id", "site"),
        alias("a.since", "since"),
        alias("a.detail", "detail"),
    ),
    source=call("icone_water_alerts", RANGE_TO, SITES_ARRAY, "$leak_threshold")
    + " a JOIN devices d ON d.dev_eui = a.dev_eui",
    order_by=("1", "2"),
)

# A meter's last reading per register (channel: a pulse counter's input) at the range's end,
# looked up over the 31 days before it so a silent meter costs one bounded index scan.
LAST_READING_DAYS = 31

# The active water meters as icone_metered counts them (catalogue category water, active),
# placed at their own coordinates or else their site's (a pair, never one of each).
METERS = Select(
    columns=(
        "d.dev_eui",
        "d.name",
        "d.site_id",
        alias(
            "CASE WHEN d.latitude IS NOT NULL AND d.longitude IS NOT NULL "
            "THEN d.latitude ELSE s.latitude END",
            "latitude",
        ),
        alias(
            "CASE WHEN d.latitude IS NOT NULL AND d.longitude IS NOT NULL "
            "THEN d.longitude ELSE s.longitude END",
            "longitude",
        ),
    ),
    source="devices d JOIN device_models m ON m.model = d.model "
    "LEFT JOIN sites s ON s.id = d.site_id",
    where=("m.category = 'water'", "d.status = 'active'", var_in("d.site_id", "site")),
)

METER_ALERTS = Select(
    columns=(
        "a.dev_eui",
        alias("bool_or(a.alert = 'night_flow_high')", "night_flow_high"),
        alias(
            "string_agg(a.alert, ', ' ORDER BY a.alert) FILTER (WHERE a.alert <> 'night_flow_high')",
            "alarms",
        ),
        alias("count(*)", "alerts"),
    ),
    source=call("icone_water_alerts", RANGE_TO, SITES_ARRAY, "$leak_threshold") + " a",
    group_by=("a.dev_eui",),
)

LAST_READING = Select(
    columns=("x.channel", "x.value", "x.time"),
    source="measurements x",
    where=(
        "x.dev_eui = w.dev_eui",
        "x.metric = 'water_volume_index'",
        f"x.time <= {RANGE_TO}",
        f"x.time > {RANGE_TO} - interval '{LAST_READING_DAYS} days'",
    ),
    distinct_on=("x.channel",),
    order_by=("x.channel", "x.time DESC"),
)

MAP = Select(
    ctes=(("meters", METERS), ("meter_alerts", METER_ALERTS)),
    columns=(
        alias("w.name", "meter"),
        alias("w.site_id", "site"),
        alias("w.latitude", "latitude"),
        alias("w.longitude", "longitude"),
        alias("r.channel", "register"),
        alias("r.value", "last reading"),
        alias("k.unit", "unit"),
        alias("r.time", "read at"),
        alias("coalesce(a.night_flow_high, false)", "leak suspected"),
        alias("coalesce(a.alarms, '')", "meter alarms"),
        alias("coalesce(a.alerts, 0)", "alerts"),
    ),
    source="meters w LEFT JOIN LATERAL (\n"
    + LAST_READING.render()
    + "\n) r ON true"
    + " LEFT JOIN metric_kinds k ON k.metric = 'water_volume_index'"
    + " LEFT JOIN meter_alerts a ON a.dev_eui = w.dev_eui",
    where=("w.latitude IS NOT NULL",),
    order_by=("2", "1", "5"),
)


def build() -> Dashboard:
    ts, table_ = Format.TIME_SERIES, Format.TABLE
    return (
        board(
            UID,
            "ICONE · Eau",
            "Water per site (icone_water), year-on-year, minimum night flow 01:00-05:00 "
            "Paris time against the leak threshold, and water alerts at the range's end.",
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
                description="m³ per local day and site: the total of the site's water meters "
                "(icone_water, day buckets).",
                unit="m3",
                queries=[(PER_SITE_DAY, ts)],
                width=16,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=3,
                title="Year-on-year",
                description="m³ of the range's calendar year so far against the previous "
                "year, per site, with the change and coverage (icone_metered_yoy).",
                unit="m3",
                queries=[(YEAR_ON_YEAR, table_)],
                width=8,
                height=8,
            )
            .override_by_name("change", [unit_override("percentunit")])
            .override_by_name("coverage", [unit_override("percentunit")])
            .override_by_name("year", [unit_override("none")])
        )
        .with_row(dashboard.Row("Leaks").id(4))
        .with_panel(
            common(
                timeseries.Panel(),
                pid=5,
                title="Minimum night flow",
                description="Lowest hourly consumption between 01:00 and 05:00 Paris time "
                "per meter and fully covered night (icone_night_flow; the range's nights, at "
                "least 2, at most 62), with the leak threshold chosen above.",
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
                title="Water alerts",
                description="At the range's end: meters whose night minimum exceeded the "
                "threshold on the last two complete nights, and active leak, burst, backflow "
                "and dry alarms sent by the meters (icone_water_alerts).",
                unit="dateTimeAsIso",
                queries=[(ALERTS, table_)],
                width=10,
                height=8,
            )
        )
        .with_row(dashboard.Row("Map").id(7))
        .with_panel(
            common(
                geomap.Panel(),
                pid=8,
                title="Water meters",
                description="The active water meters at their coordinates, else their "
                "site's (meters with neither are not shown), with their last reading of the "
                f"index at the range's end (within {LAST_READING_DAYS} days before it; empty "
                "if none) and their water alerts then (icone_water_alerts, threshold chosen "
                "above): red when a leak is suspected or a meter alarm is active.",
                unit="none",
                queries=[(MAP, table_)],
                width=24,
                height=12,
            )
            .thresholds(thresholds("green", (1, "red")))
            .view(geomap.MapViewConfig().id("fit").zoom(13))
            .basemap(basemap_layer())
            .layers([markers_layer("Water meters", "alerts")])
            .tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
        )
        .build()
    )
