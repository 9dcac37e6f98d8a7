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

from grafana.boards.common_sql import WATER, last_night
from grafana.boards.datacenter import ASHRAE_MAX_C
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
    summary="{{ $labels.device }}: every reading of the last 15 min above 27 °C "
    "(lowest {{ $values.B.Value }} °C)",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("d.name", "device"),
            alias("d.site_id", "site"),
            alias("min(m.value)", "value"),
        ),
        source="measurements m JOIN devices d ON d.dev_eui = m.dev_eui "
        "JOIN sites s ON s.id = d.site_id",
        where=(
            "s.kind IN ('datacenter', 'server_room')",
            "m.metric = 'temperature'",
            "m.channel = ''",
            "$__timeFilter(m.time)",
        ),
        group_by=("d.name", "d.site_id"),
    ),
    window_s=900,
    comparison="gt",
    threshold=ASHRAE_MAX_C,
    pending="0s",
    severity="critical",
)

SUSPECTED_LEAK = AlertRule(
    uid="icone-suspected-leak",
    title="Suspected water leak (night flow above threshold two nights running)",
    summary="{{ $labels.meter }} ({{ $labels.site }}): night minimum above "
    f"{LEAK_THRESHOLDS[0]} m³/h on the last two nights",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("d.name", "meter"),
            alias("h.site_id", "site"),
            alias("h.lowest_min_flow", "value"),
        ),
        source=call(
            "icone_night_flow_high",
            last_night("now()"),
            LEAK_THRESHOLDS[0],
            "2",
            "NULL",
            lit(WATER),
        )
        + " h JOIN devices d ON d.dev_eui = h.dev_eui",
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
    "{{ $values.B.Value }} of its usual intervals",
    query=Select(
        columns=(
            alias("now()", "time"),
            alias("a.name", "device"),
            alias("coalesce(a.site_id, '')", "site"),
            alias("a.silent_s / a.median_interval_s", "value"),
        ),
        source="icone_device_activity a",
        where=("a.status = 'active'", "a.median_interval_s > 0"),
    ),
    window_s=3600,
    comparison="gt",
    threshold=3.0,
    pending="10m",
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

RULES: tuple[AlertRule, ...] = (RACK_INLET_HOT, SUSPECTED_LEAK, DEVICE_SILENT, DEAD_LETTERS_RISING)


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
