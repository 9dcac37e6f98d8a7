"""Fleet and network health (technicians, operators): devices reporting against registered,
last seen, battery, radio quality (RSSI / SNR / spreading factor), gateways, decode errors
and dead letters. Device state comes from the `icone_device_activity` view; radio panels
read the uplinks (icone_uplink_radio) over at most the last 7 days of the range (no rollup of radio data)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, stat, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.boards.common_sql import ALL_SITES
from grafana.panels import board, common, query_variable, thresholds
from grafana.sql import RANGE_TO, Format, Select, alias, since_hours_before_to, var_in

UID = "icone-fleet"
RADIO_HOURS = 7 * 24

ACTIVE = (var_in("a.site_id", "site"), "a.status = 'active'")
NETWORK_WINDOW = (f"u.time >= {since_hours_before_to(RADIO_HOURS)}", f"u.time <= {RANGE_TO}")
RADIO_WINDOW = (
    *NETWORK_WINDOW,
    "u.dev_eui IN (SELECT dev_eui FROM devices WHERE site_id IN ($site))",
)

REPORTING = Select(
    columns=(
        alias("count(*) FILTER (WHERE a.reporting)", "reporting"),
        alias("count(*)", "registered"),
    ),
    source="icone_device_activity a",
    where=ACTIVE,
)

DEVICES = Select(
    columns=(
        alias("a.name", "device"),
        alias("a.model", "model"),
        alias("a.site_id", "site"),
        alias("a.last_seen", "last seen"),
        alias("a.silent_s", "silent for"),
        alias("a.median_interval_s", "usual interval"),
        alias("a.reporting", "reporting"),
        alias("a.battery_level", "battery %"),
        alias("a.rssi", "RSSI dBm"),
        alias("a.snr", "SNR dB"),
        alias("a.spreading_factor", "SF"),
    ),
    source="icone_device_activity a",
    where=ACTIVE,
    order_by=("a.reporting", "a.silent_s DESC NULLS FIRST"),
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
    source="icone_uplink_radio u",
    where=RADIO_WINDOW,
    group_by=("1",),
    order_by=("1",),
)

SPREADING_FACTORS = Select(
    columns=(
        alias("'SF' || coalesce(u.spreading_factor::text, '?')", "spreading factor"),
        alias("count(*)", "uplinks"),
    ),
    source="icone_uplink_radio u",
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
    source="icone_uplink_radio u CROSS JOIN LATERAL unnest(u.gateway_ids) AS g(gateway_id)",
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
    source="icone_uplink_radio u",
    # every device, registered or not: an unknown device has no site
    where=(*NETWORK_WINDOW, "u.decode_status NOT IN ('ok', 'warnings')"),
    group_by=("1", "2"),
    order_by=("1", "2"),
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
                description="Active devices heard within three of their usual uplink "
                "intervals (icone_device_activity.reporting), against those registered.",
                unit="none",
                queries=[(REPORTING, table_)],
                width=6,
                height=8,
            ).thresholds(thresholds("green"))
        )
        .with_panel(
            common(
                table.Panel(),
                pid=3,
                title="Last seen",
                description="Every active device: last uplink, time silent, usual interval "
                "(median gap of its last 20 uplinks), battery and last radio figures; "
                "silent devices first.",
                unit="s",
                queries=[(DEVICES, table_)],
                width=18,
                height=8,
            )
        )
        .with_panel(
            common(
                bargauge.Panel(),
                pid=4,
                title="Lowest batteries",
                description="The 20 lowest battery levels reported in the last 30 days.",
                unit="percent",
                queries=[(BATTERY, table_)],
                width=8,
                height=8,
            ).thresholds(thresholds("red", (20, "orange"), (40, "green")))
        )
        .with_row(dashboard.Row("Radio").id(5))
        .with_panel(
            common(
                timeseries.Panel(),
                pid=6,
                title="RSSI and SNR",
                description="Average best-gateway RSSI (dBm) and SNR (dB) of the uplinks, "
                "over at most the last 7 days of the range.",
                unit="none",
                queries=[(RADIO, ts)],
                width=16,
                height=8,
            )
        )
        .with_panel(
            common(
                bargauge.Panel(),
                pid=7,
                title="Spreading factors",
                description="Uplinks per spreading factor over at most the last 7 days of "
                "the range (SF12 costs 32x the airtime of SF7).",
                unit="short",
                queries=[(SPREADING_FACTORS, table_)],
                width=8,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=8,
                title="Gateways",
                description="Gateways that received uplinks, over at most the last 7 days "
                "of the range: uplinks, devices heard, last uplink.",
                unit="short",
                queries=[(GATEWAYS, table_)],
                width=8,
                height=8,
            )
        )
        .with_row(dashboard.Row("Errors").id(9))
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=10,
                title="Dead letters and decode errors",
                description="Messages that could not be parsed, decoded or stored (dead "
                "letters, by stage) and uplinks stored with decoding errors or from unknown "
                "devices (network-wide: not filtered by site; at most the last 7 days); "
                "`icone deadletters list` shows the reasons.",
                unit="short",
                queries=[(DEAD_LETTERS, ts), (DECODE_ERRORS, ts)],
                width=24,
                height=8,
            )
        )
        .build()
    )
