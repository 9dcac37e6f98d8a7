"""What every ICONE panel has: the provisioned data source, one or more SQL targets, a title,
a description, a unit, an explicit id and size. Boards call `common` on an SDK panel builder."""

from __future__ import annotations

from typing import TypeVar

from grafana_foundation_sdk.builders import (
    barchart,
    bargauge,
    dashboard,
    geomap,
    heatmap,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders.common import FrameGeometrySource, MapLayerOptions
from grafana_foundation_sdk.models.common import FrameGeometrySourceMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from grafana.sql import Format, Select
from grafana.sqlquery import PG_PLUGIN_ID, SQL

DATASOURCE_UID = "icone-postgres"  # pinned by grafana/provisioning/datasources/icone.yaml
DATASOURCE = DataSourceRef(type_val=PG_PLUGIN_ID, uid=DATASOURCE_UID)
FOLDER_UID = "icone"
FOLDER_TITLE = "ICONE"

P = TypeVar(
    "P",
    timeseries.Panel,
    stat.Panel,
    table.Panel,
    bargauge.Panel,
    barchart.Panel,
    heatmap.Panel,
    geomap.Panel,
)


def common(
    panel: P,
    *,
    pid: int,
    title: str,
    description: str,
    unit: str,
    queries: list[tuple[Select | str, Format]],
    width: int,
    height: int,
) -> P:
    panel = (
        panel.id(pid)
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
    )
    for index, (query, fmt) in enumerate(queries):
        text = query.render() if isinstance(query, Select) else query
        panel = panel.with_target(
            SQL(text).ref_id(chr(ord("A") + index)).format(fmt).datasource(DATASOURCE)
        )
    return panel


def thresholds(base: str, *steps: tuple[float, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps(
            [Threshold(value=None, color=base)] + [Threshold(value=v, color=c) for v, c in steps]
        )
    )


def query_variable(
    name: str, label: str, sql: Select | str, *, multi: bool = True
) -> dashboard.QueryVariable:
    """A variable filled by SQL (`__value` / `__text` columns), refreshed on load; multi-value
    variables include All, which Grafana expands to every option (no custom all value: it
    would be inserted raw)."""
    text = sql.render() if isinstance(sql, Select) else sql
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(text)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
        .hide(VariableHide.DONT_HIDE)
    )


def custom_variable(name: str, label: str, values: list[str]) -> dashboard.CustomVariable:
    """A single-value variable with fixed choices, the first being the default."""
    return (
        dashboard.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .current(VariableOption(text=values[0], value=values[0], selected=True))
        .multi(False)
        .include_all(False)
    )


def board(uid: str, title: str, description: str, tags: list[str]) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["icone", "generated", *tags])
        .timezone("Europe/Paris")
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )


def unit_override(unit: str) -> DynamicConfigValue:
    """A field override setting the unit of one column of a table."""
    return DynamicConfigValue(id_val="unit", value=unit)


def basemap_layer() -> MapLayerOptions:
    """Grafana's default base map (CartoDB tiles, no key needed)."""
    return MapLayerOptions().type("default").name("Basemap")


def markers_layer(name: str, color_field: str) -> MapLayerOptions:
    """A geomap markers layer placed by the `latitude` / `longitude` columns and coloured by
    `color_field` through the panel's thresholds (Grafana 11 `markers` layer options)."""
    style = {
        "color": {"field": color_field, "fixed": "green"},
        "size": {"fixed": 8, "min": 4, "max": 12},
        "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
    }
    return (
        MapLayerOptions()
        .type("markers")
        .name(name)
        .config({"showLegend": True, "style": style})
        .location(
            FrameGeometrySource()
            .mode(FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .tooltip(True)
    )
