"""Fleet and network health (technicians, operators): devices reporting against registered
(icone_fleet), last seen, battery, radio quality (RSSI / SNR / spreading factor), gateways,
decode errors, dead letters and counter observations. Device state comes from the
`icone_device_activity` view; radio panels
read the uplinks table over at most the last 7 days of the range (no rollup of radio data)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, stat, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.boards.common_sql import ALL_SITES, SITES_ARRAY
from grafana.panels import board, common, query_variable, thresholds, unit_override
from grafana.sql import (
    RANGE_FROM,
    RANGE_TO,
    Format,
    Select,
    alias,
    call,
    since_hours_before_to,
    var_in,
)

UID = "icone-fleet"
RADIO_HOURS = 7 * 24

ACTIVE = (var_in("a.site_id", "site"), "a.status = 'active'")
NETWORK_WINDOW = (f"u.time >= {since_hours_before_to(RADIO_HOURS)}", f"u.time <= {RANGE_TO}")
RADIO_WINDOW = (
    *NETWORK_WINDOW,
    "u.dev_eui IN (SELECT dev_eui FROM devices WHERE site_id IN ($site))",
)

FLEET = call("icone_fleet", RANGE_TO, SITES_ARRAY) + " f"

REPORTING = Select(
    columns=(alias("sum(f.reporting)", "reporting"), alias("sum(f.registered)", "registered")),
    source=FLEET,
)

BY_SITE = Select(
    columns=(
        alias("f.site_id", "site"),
        alias("f.category", "category"),
        alias("f.registered", "registered"),
        alias("f.reporting", "reporting"),
        alias("f.silent", "silent"),
        alias("f.low_battery", "low battery"),
        alias("f.uplinks_24h", "uplinks 24 h"),
        alias("f.coverage", "uplinks / expected"),
    ),
    source=FLEET,
    order_by=("1", "2"),
)

DEVICES = Select(
    columns=(
        alias("a.name", "device"),
        alias("a.category", "category"),
        alias("a.site_id", "site"),
        alias("a.location", "location"),
        alias("a.last_seen", "last seen"),
        alias("a.silent_s", "silent for"),
        alias("a.silent_intervals", "silent (uplink intervals)"),
        alias("a.battery_level", "battery %"),
        alias("a.rssi", "RSSI dBm"),
        alias("a.snr", "SNR dB"),
        alias("a.spreading_factor", "SF"),
    ),
    source="icone_device_activity a",
    where=ACTIVE,
    order_by=("a.silent_intervals DESC NULLS FIRST",),
)

BATTERY = Select(
    columns=(alias("a.name", "device"), alias("a.battery_level", "battery")),
    source="icone_device_activity a",
    where=(*ACTIVE, "a.battery_level IS NOT NULL"),
    order_by=("2", "1"),
    limit=20,
)

RADIO = Select(
    columns=(
        "$__timeGroupAlias(u.time, $__interval)",
        alias("avg(u.rssi)", "RSSI dBm"),
        alias("avg(u.snr)", "SNR dB"),
    ),
    source="uplinks u",
    where=RADIO_WINDOW,
    group_by=("1",),
    order_by=("1",),
)

SPREADING_FACTORS = Select(
    columns=(
        alias("'SF' || coalesce(u.spreading_factor::text, '?')", "spreading factor"),
        alias("count(*)", "uplinks"),
    ),
    source="uplinks u",
    where=RADIO_WINDOW,
    group_by=("1",),
    order_by=("1",),
)

GATEWAYS = Select(
    columns=(
        alias("g.gateway_id", "gateway"),
        alias("count(*)", "uplinks"),
        alias("count(DISTINCT u.dev_eui)", "devices"),
        alias("max(u.time)", "last heard"),
    ),
    source="uplinks u CROSS JOIN LATERAL unnest(u.gateway_ids) AS g(gateway_id)",
    where=RADIO_WINDOW,
    group_by=("1",),
    order_by=("2 DESC",),
)

DEAD_LETTERS = Select(
    columns=(
        "$__timeGroupAlias(l.received_at, $__interval)",
        alias("'dead letters: ' || l.stage", "metric"),
        alias("count(*)", "value"),
    ),
    source="dead_letters l",
    where=("$__timeFilter(l.received_at)",),
    group_by=("1", "2"),
    order_by=("1", "2"),
)

DECODE_ERRORS = Select(
    columns=(
        "$__timeGroupAlias(u.time, $__interval)",
        alias("'uplinks: ' || u.decode_status", "metric"),
        alias("count(*)", "value"),
    ),
    source="uplinks u",
    # every device, registered or not: an unknown device has no site
    where=(*NETWORK_WINDOW, "u.decode_status NOT IN ('ok', 'warnings')"),
    group_by=("1", "2"),
    order_by=("1", "2"),
)


OBSERVATIONS = Select(
    columns=(
        alias("o.time", "time"),
        alias("d.name", "meter"),
        alias("o.site_id", "site"),
        alias("o.metric || coalesce(' ' || nullif(o.channel, ''), '')", "register"),
        alias("o.kind", "observation"),
        alias("o.previous", "previous reading"),
        alias("o.value", "reading"),
        alias("o.size", "size"),
        alias("o.unit", "unit"),
    ),
    source=call("icone_counter_observations", RANGE_FROM, RANGE_TO)
    + " o JOIN devices d ON d.dev_eui = o.dev_eui",
    where=(var_in("o.site_id", "site"),),
    order_by=("1 DESC",),
    limit=200,
)


def build() -> Dashboard:
    ts, table_ = Format.TIME_SERIES, Format.TABLE
    return (
        board(
            UID,
            "ICONE · Parc et réseau",
            "Devices reporting against registered, last seen, battery, radio quality, "
            "gateways, decode errors and dead letters.",
            ["fleet", "network"],
        )
        .time("now-24h", "now")
        .refresh("5m")
        .with_variable(query_variable("site", "Site", ALL_SITES))
        .with_row(dashboard.Row("Devices").id(1))
        .with_panel(
            common(
                stat.Panel(),
                pid=2,
                title="Devices reporting / registered",
                description="Active devices with an uplink within max(24 h, two uplink "
                "intervals of their model) before the range's end, against those registered "
                "(icone_fleet).",
                unit="none",
                queries=[(REPORTING, table_)],
                width=6,
                height=7,
            ).thresholds(thresholds("green"))
        )
        .with_panel(
            common(
                table.Panel(),
                pid=3,
                title="Fleet by site and category",
                description="Per site and device category at the range's end: registered, "
                "reporting, silent, low battery, and the last 24 h's uplinks against those "
                "the catalogue's intervals promise (icone_fleet).",
                unit="none",
                queries=[(BY_SITE, table_)],
                width=18,
                height=7,
            ).override_by_name("uplinks / expected", [unit_override("percentunit")])
        )
        .with_panel(
            common(
                table.Panel(),
                pid=4,
                title="Last seen",
                description="Every active device now: last uplink, time silent (also in "
                "uplink intervals of its model), battery and last radio figures; the most "
                "silent first (icone_device_activity).",
                unit="none",
                queries=[(DEVICES, table_)],
                width=16,
                height=8,
            )
            .override_by_name("silent for", [unit_override("s")])
            .override_by_name("last seen", [unit_override("dateTimeAsIso")])
        )
        .with_panel(
            common(
                bargauge.Panel(),
                pid=5,
                title="Lowest batteries",
                description="The 20 lowest battery levels reported in the last 30 days.",
                unit="percent",
                queries=[(BATTERY, table_)],
                width=8,
                height=8,
            ).thresholds(thresholds("red", (20, "orange"), (40, "green")))
        )
        .with_row(dashboard.Row("Radio").id(6))
        .with_panel(
            common(
                timeseries.Panel(),
                pid=7,
                title="RSSI and SNR",
                description="Average best-gateway RSSI (dBm) and SNR (dB) of the uplinks, "
                "over at most the last 7 days of the range.",
                unit="none",
                queries=[(RADIO, ts)],
                width=12,
                height=8,
            )
        )
        .with_panel(
            common(
                bargauge.Panel(),
                pid=8,
                title="Spreading factors",
                description="Uplinks per spreading factor over at most the last 7 days of "
                "the range (SF12 costs 32x the airtime of SF7).",
                unit="short",
                queries=[(SPREADING_FACTORS, table_)],
                width=6,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=9,
                title="Gateways",
                description="Gateways that received uplinks, over at most the last 7 days "
                "of the range: uplinks, devices heard, last uplink.",
                unit="short",
                queries=[(GATEWAYS, table_)],
                width=6,
                height=8,
            )
        )
        .with_row(dashboard.Row("Errors and data quality").id(10))
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=11,
                title="Dead letters and decode errors",
                description="Messages that could not be parsed, decoded or stored (dead "
                "letters, by stage) and uplinks stored with decoding errors or from unknown "
                "devices (network-wide: not filtered by site; at most the last 7 days); "
                "`icone deadletters list` shows the reasons.",
                unit="short",
                queries=[(DEAD_LETTERS, ts), (DECODE_ERRORS, ts)],
                width=12,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=12,
                title="Data quality: counter observations",
                description="Readings the consumption rule had to interpret: resets, "
                "rollovers, steps back (icone_counter_observations), newest first, at most "
                "200.",
                unit="none",
                queries=[(OBSERVATIONS, table_)],
                width=12,
                height=8,
            ).override_by_name("time", [unit_override("dateTimeAsIso")])
        )
        .build()
    )
