"""Energy board (energy managers): electricity per site per day and month, year-on-year,
top consumers, TIC tariff registers, active alarms. Figures come from `icone_consumption`;
the panels only add them up per site and register for display."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, dashboard, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.boards.common_sql import ENERGY, SITE_KINDS, SITES_BY_KIND, consumption
from grafana.panels import board, common, query_variable
from grafana.sql import Format, Select, alias, lit, var_in

UID = "icone-energy"

METERS = Select(
    columns=("DISTINCT d.dev_eui AS __value", "d.name AS __text"),
    source="devices d JOIN measurements_daily m ON m.dev_eui = d.dev_eui",
    where=(
        var_in("d.site_id", "site"),
        "m.metric = " + lit(ENERGY),
        "m.bucket > now() - interval '400 days'",
    ),
    order_by=("2",),
)
FILTERS = (var_in("c.site_id", "site"), var_in("c.dev_eui", "meter"))


def _per_site(bucket: str) -> Select:
    return Select(
        columns=(
            alias("c.bucket", "time"),
            alias("concat_ws(' ', c.site_id, nullif(c.channel, ''))", "metric"),
            alias("sum(c.consumption)", "value"),
        ),
        source=consumption(bucket, ENERGY),
        where=FILTERS,
        group_by=("1", "2"),
        order_by=("1", "2"),
    )


def _period_totals(shift: str | None) -> Select:
    return Select(
        columns=("c.site_id", "c.channel", alias("sum(c.consumption)", "kwh")),
        source=consumption("day", ENERGY, shift),
        where=FILTERS,
        group_by=("1", "2"),
    )


YEAR_ON_YEAR = Select(
    ctes=(("cur", _period_totals(None)), ("prev", _period_totals("1 year"))),
    columns=(
        alias("cur.site_id", "site"),
        alias("cur.channel", "register"),
        alias("cur.kwh", "this period"),
        alias("prev.kwh", "same period a year before"),
    ),
    source="cur LEFT JOIN prev ON prev.site_id = cur.site_id AND prev.channel = cur.channel",
    order_by=("1", "2"),
)

TOP_CONSUMERS = Select(
    columns=(
        alias("d.name", "meter"),
        alias("c.site_id", "site"),
        alias("c.channel", "register"),
        alias("sum(c.consumption)", "kWh"),
    ),
    source=consumption("day", ENERGY) + " JOIN devices d ON d.dev_eui = c.dev_eui",
    where=FILTERS,
    group_by=("1", "2", "3"),
    order_by=("4 DESC",),
    limit=10,
)

TARIFF_REGISTERS = Select(
    columns=(
        alias("c.bucket", "time"),
        alias("c.site_id || ' ' || c.channel", "metric"),
        alias("sum(c.consumption)", "value"),
    ),
    source=consumption("day", ENERGY),
    where=(*FILTERS, "c.channel IN ('HCHC', 'HCHP')"),
    group_by=("1", "2"),
    order_by=("1", "2"),
)

ACTIVE_ALARMS = Select(
    columns=(
        alias("a.since", "since"),
        alias("d.name", "device"),
        alias("a.site_id", "site"),
        alias("a.code", "alarm"),
        alias("a.detail", "detail"),
    ),
    source="icone_active_alarms a JOIN devices d ON d.dev_eui = a.dev_eui",
    where=(var_in("a.site_id", "site"),),
    order_by=("1 DESC",),
)


def build() -> Dashboard:
    ts, table_ = Format.TIME_SERIES, Format.TABLE
    return (
        board(
            UID,
            "ICONE · Énergie",
            "Electricity per site: daily and monthly kWh from the meters' registers "
            "(icone_consumption), year-on-year, top consumers, TIC tariff registers, alarms.",
            ["energy"],
        )
        .time("now-30d", "now")
        .refresh("15m")
        .with_variable(query_variable("site_kind", "Site kind", SITE_KINDS))
        .with_variable(query_variable("site", "Site", SITES_BY_KIND))
        .with_variable(query_variable("meter", "Meter", METERS))
        .with_row(dashboard.Row("Consumption").id(1))
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=2,
                title="Electricity per site and day",
                description="kWh per local day (Europe/Paris) and register, summed over the "
                "selected meters of each site (icone_consumption, day buckets).",
                unit="kwatth",
                queries=[(_per_site("day"), ts)],
                width=16,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=3,
                title="This period against the same period a year before",
                description="kWh per site and register over the dashboard's range and over "
                "the same range one year earlier (empty when no reading reached back then).",
                unit="kwatth",
                queries=[(YEAR_ON_YEAR, table_)],
                width=8,
                height=8,
            )
        )
        .with_panel(
            common(
                barchart.Panel(),
                pid=4,
                title="Electricity per site and month",
                description="kWh per local calendar month and register (icone_consumption, "
                "month buckets); the first and last months are partial when the range is.",
                unit="kwatth",
                queries=[(_per_site("month"), ts)],
                width=12,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=5,
                title="Top consumers",
                description="The ten meter registers with the most kWh over the range.",
                unit="kwatth",
                queries=[(TOP_CONSUMERS, table_)],
                width=12,
                height=8,
            )
        )
        .with_row(dashboard.Row("Tariffs and alarms").id(6))
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=7,
                title="TIC tariff registers (off-peak HC / peak HP)",
                description="kWh per day on the Linky registers HCHC (heures creuses) and "
                "HCHP (heures pleines), kept apart as the supplier bills them.",
                unit="kwatth",
                queries=[(TARIFF_REGISTERS, ts)],
                width=14,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=8,
                title="Active alarms",
                description="Alarms whose latest state sent by the device is active "
                "(icone_active_alarms), newest first.",
                unit="dateTimeAsIso",
                queries=[(ACTIVE_ALARMS, table_)],
                width=10,
                height=8,
            )
        )
        .build()
    )
