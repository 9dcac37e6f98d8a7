"""Datacenter board: IT load against facility energy, PUE over time with its coverage and
status (icone_datacenter), cooling share, rack-inlet temperature and humidity against the
ASHRAE recommended envelope (the envelope is read from the ashrae_envelopes table), and the
share of time inside it (icone_ashrae)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, heatmap, stat, table, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import board, common, query_variable, unit_override
from grafana.sql import RANGE_FROM, RANGE_TO, Format, Select, alias, call, lit, var_text

UID = "icone-datacenter"

SITES = (
    "SELECT id AS __value, name AS __text FROM sites "
    "WHERE kind IN ('datacenter', 'server_room') ORDER BY name"
)
SITE = f"ARRAY[{var_text('site')}]::text[]"  # the single selected site, as the functions take


def _datacenter(bucket: str, *columns: str) -> Select:
    return Select(
        columns=(alias("f.bucket", "time"), *columns),
        source=call("icone_datacenter", RANGE_FROM, RANGE_TO, lit(bucket), SITE) + " f",
        order_by=("1",),
    )


ENERGIES = _datacenter(
    "day",
    alias("f.e_facility", "facility (E_DC)"),
    alias("f.e_it", "IT load (E_IT)"),
    alias("f.e_cooling", "cooling"),
)
PUE_DAILY = _datacenter("day", alias("f.pue", "PUE"), alias("f.coverage", "coverage"))
COOLING_SHARE = _datacenter("day", alias("f.cooling_share", "cooling share"))
PUE_LATEST_MONTH = Select(
    columns=(alias("f.pue", "PUE"), alias("f.coverage", "coverage")),
    source=call("icone_datacenter", RANGE_FROM, RANGE_TO, lit("month"), SITE) + " f",
    order_by=("f.bucket DESC",),
    limit=1,
)
PUE_MONTHS = Select(
    columns=(
        alias("f.bucket", "month"),
        alias("f.pue", "PUE"),
        alias("f.pue_status", "status"),
        alias("f.coverage", "coverage"),
        alias("f.gap_days", "days without reading"),
        alias("f.metering_category", "IT metering"),
    ),
    source=call("icone_datacenter", RANGE_FROM, RANGE_TO, lit("month"), SITE) + " f",
    order_by=("1 DESC",),
)


def _rack_inlets(metric: str) -> Select:
    return Select(
        columns=(alias("h.bucket", "time"), alias("d.name", "metric"), alias("h.avg_v", "value")),
        source="measurements_hourly h JOIN devices d ON d.dev_eui = h.dev_eui",
        where=(
            f"d.site_id = {var_text('site')}",
            "d.role = 'rack_inlet'",
            f"h.metric = {lit(metric)}",
            "h.channel = ''",
            "$__timeFilter(h.bucket)",
        ),
        order_by=("1", "2"),
    )


def _envelope(*columns: str) -> Select:
    """The recommended envelope's limits as flat lines over the range."""
    return Select(
        columns=(alias("v.t", "time"), *columns),
        source=f"ashrae_envelopes e, (VALUES ({RANGE_FROM}), ({RANGE_TO})) v(t)",
        where=("e.name = 'recommended'",),
        order_by=("1",),
    )


HOTTEST = Select(
    columns=(alias("max(h.max_v)", "hottest reading"),),
    source="measurements_hourly h JOIN devices d ON d.dev_eui = h.dev_eui",
    where=(
        f"d.site_id = {var_text('site')}",
        "d.role = 'rack_inlet'",
        "h.metric = 'temperature'",
        "h.channel = ''",
        "$__timeFilter(h.bucket)",
    ),
)

TIME_INSIDE = Select(
    columns=(
        alias("coalesce(nullif(f.location, ''), f.dev_eui)", "rack inlet"),
        alias("f.observed_hours", "hours observed"),
        alias("f.recommended_share", "inside recommended"),
        alias("f.a1_share", "inside A1 allowable"),
        alias("f.humidity_known_share", "humidity known"),
        alias("f.coverage", "coverage"),
    ),
    source=call("icone_ashrae", RANGE_FROM, RANGE_TO, SITE) + " f",
    order_by=("3", "1"),
)


def build() -> Dashboard:
    ts, table_ = Format.TIME_SERIES, Format.TABLE
    return (
        board(
            UID,
            "ICONE · Datacenter",
            "Energy-based PUE (ISO/IEC 30134-2) with its coverage, IT and facility energy, "
            "cooling share, rack-inlet temperature and humidity against the ASHRAE "
            "recommended envelope and the time spent inside it.",
            ["datacenter"],
        )
        .time("now-30d", "now")
        .refresh("15m")
        .with_variable(query_variable("site", "Site", SITES, multi=False))
        .with_row(dashboard.Row("Energy and PUE").id(1))
        .with_panel(
            common(
                timeseries.Panel(),
                pid=2,
                title="IT load and facility energy",
                description="kWh per local day: the facility meters (E_DC), the IT load "
                "meters (E_IT) and cooling, by device role (icone_datacenter).",
                unit="kwatth",
                queries=[(ENERGIES, ts)],
                width=12,
                height=8,
            )
        )
        .with_panel(
            common(
                timeseries.Panel(),
                pid=3,
                title="PUE per day",
                description="Daily PUE = E_DC / E_IT over the same day (energies, never an "
                "average of ratios), with the share of expected readings present; a day whose "
                "ratio is below 1 is a data error and has no PUE (icone_datacenter).",
                unit="none",
                queries=[(PUE_DAILY, ts)],
                width=12,
                height=8,
            ).override_by_name("coverage", [unit_override("percentunit")])
        )
        .with_panel(
            common(
                stat.Panel(),
                pid=4,
                title="PUE of the latest month",
                description="PUE of the range's latest calendar month (energy-based) and its "
                "coverage (icone_datacenter, month bucket).",
                unit="none",
                queries=[(PUE_LATEST_MONTH, table_)],
                width=6,
                height=7,
            ).override_by_name("coverage", [unit_override("percentunit")])
        )
        .with_panel(
            common(
                timeseries.Panel(),
                pid=5,
                title="Cooling share",
                description="Cooling energy / facility energy per day (icone_datacenter).",
                unit="percentunit",
                queries=[(COOLING_SHARE, ts)],
                width=8,
                height=7,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=6,
                title="PUE by month",
                description="Monthly PUE with its status (data errors named), coverage, days "
                "without reading and where IT energy is metered (The Green Grid category).",
                unit="none",
                queries=[(PUE_MONTHS, table_)],
                width=10,
                height=7,
            )
            .override_by_name("coverage", [unit_override("percentunit")])
            .override_by_name("month", [unit_override("dateTimeAsIso")])
        )
        .with_row(dashboard.Row("Rack inlets").id(7))
        .with_panel(
            common(
                timeseries.Panel(),
                pid=8,
                title="Rack-inlet temperature",
                description="Hourly mean per rack-inlet probe (measurements_hourly) between "
                "the ASHRAE recommended limits (ashrae_envelopes).",
                unit="celsius",
                queries=[
                    (_rack_inlets("temperature"), ts),
                    (
                        _envelope(
                            alias("e.t_min", "recommended min"), alias("e.t_max", "recommended max")
                        ),
                        ts,
                    ),
                ],
                width=18,
                height=9,
            )
        )
        .with_panel(
            common(
                stat.Panel(),
                pid=9,
                title="Hottest reading",
                description="Highest single rack-inlet reading over the range.",
                unit="celsius",
                queries=[(HOTTEST, table_)],
                width=6,
                height=9,
            )
        )
        .with_panel(
            common(
                heatmap.Panel().calculate(True),
                pid=10,
                title="Rack-inlet temperature distribution",
                description="How the probes' hourly means spread over time: a heatmap "
                "Grafana computes from the same series.",
                unit="celsius",
                queries=[(_rack_inlets("temperature"), ts)],
                width=12,
                height=9,
            )
        )
        .with_panel(
            common(
                timeseries.Panel(),
                pid=11,
                title="Rack-inlet relative humidity",
                description="Hourly mean relative humidity per probe, with the recommended "
                "maximum (ashrae_envelopes).",
                unit="humidity",
                queries=[
                    (_rack_inlets("relative_humidity"), ts),
                    (_envelope(alias("e.rh_max", "recommended max")), ts),
                ],
                width=12,
                height=9,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=12,
                title="Time inside the ASHRAE envelopes",
                description="Per rack inlet: hours observed and the share of them inside the "
                "recommended envelope and the A1 allowable one, temperature and humidity "
                "(icone_ashrae); the rest is time outside.",
                unit="percentunit",
                queries=[(TIME_INSIDE, table_)],
                width=24,
                height=7,
            ).override_by_name("hours observed", [unit_override("h")])
        )
        .build()
    )
