"""Energy board (energy managers): kWh per site per day and month, year-on-year, kWh per m²,
kgCO2e, top consumers, TIC tariff registers, active alarms. Every figure is a column of an
indicator function (icone_energy, icone_metered_yoy, icone_emissions, icone_device_figures:
storage/migrations/0008); panels select and label them."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.boards.common_sql import (
    ENERGY,
    SITE_KINDS,
    SITES_ARRAY,
    SITES_BY_KIND,
    indicator,
    year_on_year,
)
from grafana.panels import board, common, query_variable, unit_override
from grafana.sql import RANGE_FROM, RANGE_TO, Format, Select, alias, call, lit, var_in

UID = "icone-energy"

METERS = Select(
    columns=("d.dev_eui AS __value", "d.name AS __text"),
    source="devices d JOIN device_models m ON m.model = d.model",
    where=(var_in("d.site_id", "site"), "m.category = 'energy'", "d.status = 'active'"),
    order_by=("2",),
)


def _per_site(bucket: str, value: str = "f.figure") -> Select:
    return Select(
        columns=(alias("f.bucket", "time"), alias("f.scope", "metric"), alias(value, "value")),
        source=indicator("icone_energy", bucket),
        where=("f.register_name = 'total'",),
        order_by=("1", "2"),
    )


YEAR_ON_YEAR = year_on_year(ENERGY, "kWh")

EMISSIONS = Select(
    columns=(
        alias("f.scope", "site"),
        alias("f.period_start", "from"),
        alias("f.period_end", "to"),
        alias("f.kwh", "kWh"),
        alias("f.kgco2e", "kgCO2e"),
        alias("f.factor || ' ' || f.factor_unit", "factor"),
        alias("f.factor_source", "source"),
        alias("f.coverage", "coverage"),
    ),
    source=call("icone_emissions", RANGE_FROM, RANGE_TO, lit("site"), SITES_ARRAY) + " f",
    order_by=("1", "2"),
)

TOP_CONSUMERS = Select(
    columns=(
        alias("d.name", "meter"),
        alias("d.site_id", "site"),
        alias("sum(f.figure)", "kWh"),
    ),
    source=call(
        "icone_device_figures", lit(ENERGY), RANGE_FROM, RANGE_TO, lit("day"), "ARRAY[$meter]"
    )
    + " f JOIN devices d ON d.dev_eui = f.dev_eui",
    where=("f.register = 'total'",),
    group_by=("1", "2"),
    order_by=("3 DESC NULLS LAST",),
    limit=10,
)

TARIFF_REGISTERS = Select(
    columns=(
        alias("f.bucket", "time"),
        alias("f.scope || ' ' || f.register_name", "metric"),
        alias("f.figure", "value"),
    ),
    source=indicator("icone_energy", "day"),
    where=("f.register_name <> 'total'",),
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
            "Electricity per site (icone_energy: main meters, sub-meters excluded, tariff "
            "registers apart), year-on-year, kWh per m², kgCO2e, top consumers, alarms.",
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
                description="kWh per local day (Europe/Paris) and site: the total register "
                "of the site's main meters (icone_energy, day buckets).",
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
                title="Year-on-year",
                description="kWh of the range's calendar year so far against the whole "
                "previous year, per site, with the change and the coverage of the readings "
                "(icone_metered_yoy).",
                unit="kwatth",
                queries=[(YEAR_ON_YEAR, table_)],
                width=8,
                height=8,
            )
            .override_by_name("change", [unit_override("percentunit")])
            .override_by_name("coverage", [unit_override("percentunit")])
            .override_by_name("year", [unit_override("none")])
        )
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=4,
                title="Electricity per site and month",
                description="kWh per local calendar month and site (icone_energy, month "
                "buckets: whole months, also at the range's edges).",
                unit="kwatth",
                queries=[(_per_site("month"), ts)],
                width=12,
                height=8,
            )
        )
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=5,
                title="kWh per m² and month",
                description="Monthly kWh of each site divided by its floor area "
                "(icone_energy.figure_per_m2; sites without a known area have none).",
                unit="suffix: kWh/m²",
                queries=[(_per_site("month", "f.figure_per_m2"), ts)],
                width=12,
                height=8,
            )
        )
        .with_row(dashboard.Row("Emissions and consumers").id(6))
        .with_panel(
            common(
                table.Panel(),
                pid=7,
                title="kgCO2e",
                description="Emissions of each site's electricity: each day's kWh times the "
                "emission factor in force that day (icone_emissions); a factor change splits "
                "the period, days without a factor show no kgCO2e.",
                unit="kwatth",
                queries=[(EMISSIONS, table_)],
                width=14,
                height=8,
            )
            .override_by_name("kgCO2e", [unit_override("suffix: kgCO2e")])
            .override_by_name("coverage", [unit_override("percentunit")])
            .override_by_name("from", [unit_override("dateTimeAsIso")])
            .override_by_name("to", [unit_override("dateTimeAsIso")])
        )
        .with_panel(
            common(
                table.Panel(),
                pid=8,
                title="Top consumers",
                description="The ten selected meters with the most kWh over the range's whole "
                "days (icone_device_figures, total register).",
                unit="kwatth",
                queries=[(TOP_CONSUMERS, table_)],
                width=10,
                height=8,
            )
        )
        .with_row(dashboard.Row("Tariffs and alarms").id(9))
        .with_panel(
            common(
                timeseries.Panel().draw_style(GraphDrawStyle.BARS),
                pid=10,
                title="TIC tariff registers",
                description="kWh per day on each tariff register (Linky HCHC off-peak / HCHP "
                "peak, BASE, supplier registers), kept apart as the supplier bills them "
                "(icone_energy).",
                unit="kwatth",
                queries=[(TARIFF_REGISTERS, ts)],
                width=14,
                height=8,
            )
        )
        .with_panel(
            common(
                table.Panel(),
                pid=11,
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
