"""Alert rules as code. Each rule is one SQL query over the storage layer (time-series format:
a `time` column, one numeric value and string columns that become the alert's labels, so
each device or stage is its own alert instance), reduced to its last value and compared
with a threshold. Contact points and notification policies are the operator's
(docs/grafana.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.models.alerting import RelativeTimeRange, Rule

from grafana.boards.water import LEAK_THRESHOLDS
from grafana.panels import DATASOURCE, DATASOURCE_UID, FOLDER_UID
from grafana.sql import Format, Select, alias, call, lit
from grafana.sqlquery import SQL

GROUP = "icone"
GROUP_INTERVAL_S = 300  # every rule is evaluated every 5 minutes
EXPRESSIONS_UID = "__expr__"

Comparison = Literal["gt", "lt"]


@dataclass(frozen=True, slots=True)
class AlertRule:
    uid: str
    title: str
    summary: str
    query: Select
    window_s: int  # the query's time range: now - window_s .. now
    comparison: Comparison
    threshold: float
    pending: str  # how long the condition must hold before firing
    severity: Literal["warning", "critical"]
    no_data_ok: bool = True  # an empty result means nothing is wrong


RACK_INLET_HOT = AlertRule(
    uid="icone-rack-inlet-hot",
    title="Rack inlet above the ASHRAE recommended maximum for 15 min",
    summary="{{ $labels.device }} ({{ $labels.site }}): every reading of the last 15 min "
    "above the recommended maximum, the lowest by {{ $values.B.Value }} °C",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("d.name", "device"),
            alias("d.site_id", "site"),
            alias("min(m.value) - min(e.t_max)", "value"),  # ashrae_envelopes: one row
        ),
        source="measurements m JOIN devices d ON d.dev_eui = m.dev_eui "
        "JOIN ashrae_envelopes e ON e.name = 'recommended'",
        where=(
            "d.role = 'rack_inlet'",
            "m.metric = 'temperature'",
            "m.channel = ''",
            "$__timeFilter(m.time)",
        ),
        group_by=("d.name", "d.site_id"),
    ),
    window_s=900,
    comparison="gt",
    threshold=0.0,
    pending="0s",
    severity="critical",
)

SUSPECTED_LEAK = AlertRule(
    uid="icone-suspected-leak",
    title="Suspected water leak",
    summary="{{ $labels.meter }} ({{ $labels.site }}): {{ $labels.alert }} (night minimum "
    f"above {LEAK_THRESHOLDS[0]} m³/h on the last two nights, or the meter's own alarm)",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("d.name", "meter"),
            alias("a.site_id", "site"),
            alias("a.alert", "alert"),
            alias("1.0::float8", "value"),
        ),
        source=call("icone_water_alerts", "now()", "NULL", LEAK_THRESHOLDS[0])
        + " a JOIN devices d ON d.dev_eui = a.dev_eui",
        where=("a.alert IN ('night_flow_high', 'leak', 'burst')",),
    ),
    window_s=3600,
    comparison="gt",
    threshold=0.0,
    pending="0s",
    severity="warning",
)

DEVICE_SILENT = AlertRule(
    uid="icone-device-silent",
    title="Device silent for more than three of its uplink intervals",
    summary="{{ $labels.device }} ({{ $labels.site }}) silent for "
    "{{ $values.B.Value }} uplink intervals of its model",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("a.name", "device"),
            alias("coalesce(a.site_id, '')", "site"),
            alias("a.silent_intervals", "value"),
        ),
        source="icone_device_activity a",
        where=("a.status = 'active'", "a.silent_intervals IS NOT NULL"),
    ),
    window_s=3600,
    comparison="gt",
    threshold=3.0,
    pending="10m",
    severity="warning",
)

PUE_DATA_ERROR = AlertRule(
    uid="icone-pue-data-error",
    title="PUE data error (facility energy below IT energy)",
    summary="{{ $labels.site }}: E_DC < E_IT on {{ $values.B.Value }} of the last two days; "
    "check the facility and IT meters (icone_datacenter)",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("f.site_id", "site"),
            alias("count(*) FILTER (WHERE f.pue_status LIKE 'data error%')::float8", "value"),
        ),
        source=call("icone_datacenter", "now() - interval '1 day'", "now()", lit("day")) + " f",
        group_by=("f.site_id",),
    ),
    window_s=86400,
    comparison="gt",
    threshold=0.0,
    pending="0s",
    severity="warning",
)

DEAD_LETTERS_RISING = AlertRule(
    uid="icone-dead-letters-rising",
    title="Dead letters rising",
    summary="{{ $values.B.Value }} new dead letters at stage {{ $labels.stage }} in 15 min "
    "(icone deadletters list --stage {{ $labels.stage }})",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("l.stage", "stage"),
            alias("count(*)::float8", "value"),
        ),
        source="dead_letters l",
        where=("$__timeFilter(l.received_at)",),
        group_by=("l.stage",),
    ),
    window_s=900,
    comparison="gt",
    threshold=0.0,
    pending="0s",
    severity="warning",
)

RULES: tuple[AlertRule, ...] = (
    RACK_INLET_HOT,
    SUSPECTED_LEAK,
    DEVICE_SILENT,
    PUE_DATA_ERROR,
    DEAD_LETTERS_RISING,
)


def build_rule(rule: AlertRule) -> Rule:
    query = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(RelativeTimeRange(from_val=rule.window_s, to=0))
        .model(
            SQL(rule.query.render()).ref_id("A").format(Format.TIME_SERIES).datasource(DATASOURCE)
        )
    )
    reduce = (
        alerting.Query("B")
        .datasource_uid(EXPRESSIONS_UID)
        .model(
            expr.TypeReduce()
            .ref_id("B")
            .expression("A")
            .reducer("last")
            .settings(expr.ExprTypeReduceSettings().mode("dropNN"))
        )
    )
    condition = (
        alerting.Query("C")
        .datasource_uid(EXPRESSIONS_UID)
        .model(
            expr.TypeThreshold()
            .ref_id("C")
            .expression("B")
            .conditions(
                [
                    expr.ExprTypeThresholdConditions().evaluator(
                        expr.ExprTypeThresholdConditionsEvaluator()
                        .type(rule.comparison)
                        .params([rule.threshold])
                    )
                ]
            )
        )
    )
    return (
        alerting.Rule(rule.title)
        .uid(rule.uid)
        .folder_uid(FOLDER_UID)
        .rule_group(GROUP)
        .org_id(1)
        .condition("C")
        .queries([query, reduce, condition])
        .for_val(rule.pending)
        .no_data_state("OK" if rule.no_data_ok else "NoData")
        .exec_err_state("Error")
        .labels({"team": "icone", "severity": rule.severity})
        .annotations({"summary": rule.summary})
        .build()
    )
