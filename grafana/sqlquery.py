"""The PostgreSQL query target the foundation SDK lacks (it has builders for Prometheus,
Loki... but none for SQL data sources), written as the SDK's custom-query recipe says: a
`Dataquery` variant registered under the plugin id, and a builder."""

from __future__ import annotations

from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from grafana.sql import Format

# The plugin id since Grafana 10.2.3 (`postgres` remains an alias).
PG_PLUGIN_ID = "grafana-postgresql-datasource"


class SQLQuery(cogvariants.Dataquery):
    def __init__(
        self,
        raw_sql: str = "",
        ref_id: str | None = None,
        format: Format = Format.TIME_SERIES,
        datasource: DataSourceRef | None = None,
        hide: bool | None = None,
    ) -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.format = format
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rawSql": self.raw_sql,
            "format": str(self.format),
            "rawQuery": True,
            "editorMode": "code",
        }
        if self.ref_id is not None:
            out["refId"] = self.ref_id
        if self.datasource is not None:
            out["datasource"] = self.datasource.to_json()
        if self.hide is not None:
            out["hide"] = self.hide
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        ds = data.get("datasource")
        return cls(
            raw_sql=str(data.get("rawSql", "")),
            ref_id=data.get("refId"),
            format=Format(data.get("format", Format.TIME_SERIES)),
            datasource=DataSourceRef.from_json(ds) if isinstance(ds, dict) else None,
            hide=data.get("hide"),
        )


def variant_config() -> cogruntime.DataqueryConfig:
    return cogruntime.DataqueryConfig(identifier=PG_PLUGIN_ID, from_json_hook=SQLQuery.from_json)


def register() -> None:
    """Let the SDK decode dashboards holding SQL targets (idempotent)."""
    cogruntime.register_dataquery_variant(variant_config())


class SQL(cogbuilder.Builder[SQLQuery]):
    def __init__(self, raw_sql: str) -> None:
        self._internal = SQLQuery(raw_sql=raw_sql)

    def build(self) -> SQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def format(self, fmt: Format) -> Self:
        self._internal.format = fmt
        return self

    def datasource(self, ref: DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self
