"""Datacenter board: rack-inlet temperature and humidity against the ASHRAE recommended
envelope, from the hourly rollup (`measurements_hourly`) of the probes in datacenter and
server-room sites."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, heatmap, stat, timeseries
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import board, common, query_variable, thresholds
from grafana.sql import Format, Select, alias, var_in

UID = "icone-datacenter"

# ASHRAE TC 9.9 recommended envelope for classes A1-A4 (dry bulb 18-27 °C; relative
# humidity at most 60 %), the same constants as the alert rule.
ASHRAE_MIN_C = 18.0
ASHRAE_MAX_C = 27.0
ASHRAE_MAX_RH = 60.0

SITES = (
    "SELECT id AS __value, name AS __text FROM sites "
    "WHERE kind IN ('datacenter', 'server_room') ORDER BY name"
)


def _hourly(metric: str) -> Select:
    return Select(
        columns=(alias("h.bucket", "time"), alias("d.name", "metric"), alias("h.avg_v", "value")),
        source="measurements_hourly h JOIN devices d ON d.dev_eui = h.dev_eui",
        where=(
            var_in("d.site_id", "site"),
            f"h.metric = '{metric}'",
            "h.channel = ''",
            "$__timeFilter(h.bucket)",
        ),
        order_by=("1", "2"),
    )


HOTTEST = Select(
    columns=(alias("max(h.max_v)", "hottest reading"),),
    source="measurements_hourly h JOIN devices d ON d.dev_eui = h.dev_eui",
    where=(
        var_in("d.site_id", "site"),
        "h.metric = 'temperature'",
        "h.channel = ''",
        "$__timeFilter(h.bucket)",
    ),
)


def _band(style: GraphThresholdsStyleMode) -> common_builders.GraphThresholdsStyleConfig:
    return common_builders.GraphThresholdsStyleConfig().mode(style)


def build() -> Dashboard:
    ts, table_ = Format.TIME_SERIES, Format.TABLE
    return (
        board(
            UID,
            "ICONE · Datacenter",
            "Rack-inlet temperature and humidity of the datacenter and server-room probes "
            "against the ASHRAE recommended envelope (18-27 °C, at most 60 % RH).",
            ["datacenter"],
        )
        .time("now-24h", "now")
        .refresh("5m")
        .with_variable(query_variable("site", "Site", SITES))
        .with_row(dashboard.Row("Rack inlets").id(1))
        .with_panel(
            common(
                timeseries.Panel().thresholds_style(_band(GraphThresholdsStyleMode.LINE_AND_AREA)),
                pid=2,
                title="Rack-inlet temperature",
                description="Hourly mean per probe (measurements_hourly); the shaded band "
                "outside 18-27 °C is outside the ASHRAE recommended envelope.",
                unit="celsius",
                queries=[(_hourly("temperature"), ts)],
                width=18,
                height=9,
            ).thresholds(thresholds("blue", (ASHRAE_MIN_C, "green"), (ASHRAE_MAX_C, "red")))
        )
        .with_panel(
            common(
                stat.Panel(),
                pid=3,
                title="Hottest reading",
                description="Highest single temperature reading over the range.",
                unit="celsius",
                queries=[(HOTTEST, table_)],
                width=6,
                height=9,
            ).thresholds(thresholds("blue", (ASHRAE_MIN_C, "green"), (ASHRAE_MAX_C, "red")))
        )
        .with_panel(
            common(
                heatmap.Panel().calculate(True),
                pid=4,
                title="Rack-inlet temperature distribution",
                description="How the probes' hourly means spread over time: a heatmap "
                "Grafana computes from the same series.",
                unit="celsius",
                queries=[(_hourly("temperature"), ts)],
                width=12,
                height=9,
            )
        )
        .with_panel(
            common(
                timeseries.Panel().thresholds_style(_band(GraphThresholdsStyleMode.LINE)),
                pid=5,
                title="Rack-inlet relative humidity",
                description="Hourly mean relative humidity per probe; the line marks the "
                "ASHRAE recommended maximum of 60 %.",
                unit="humidity",
                queries=[(_hourly("relative_humidity"), ts)],
                width=12,
                height=9,
            ).thresholds(thresholds("green", (ASHRAE_MAX_RH, "red")))
        )
        .build()
    )
