"""grafana.macros against the expansions Grafana's PostgreSQL data source produces (examples
worked from its macro engine and the variable interpolation of its SQL front end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grafana.macros import (
    ExpansionError,
    QueryContext,
    VariableValue,
    expand,
    format_interval,
    go_float,
)

FROM = datetime(2026, 10, 1, tzinfo=UTC)
TO = datetime(2026, 10, 8, 0, 0, 0, 250000, tzinfo=UTC)


def ctx(interval: timedelta = timedelta(minutes=90), timescaledb: bool = True) -> QueryContext:
    return QueryContext(FROM, TO, interval, timescaledb)


def test_time_macros() -> None:
    sql = "SELECT $__time(t), $__timeEpoch(t) WHERE $__timeFilter(t) AND a > $__timeFrom() AND a < $__timeTo()"
    assert expand(sql, ctx()) == (
        'SELECT t AS "time", extract(epoch from t) as "time" '
        "WHERE t BETWEEN '2026-10-01T00:00:00Z' AND '2026-10-08T00:00:00.25Z' "
        "AND a > '2026-10-01T00:00:00Z' AND a < '2026-10-08T00:00:00.25Z'"
    )


def test_time_group_in_both_modes() -> None:
    sql = "SELECT $__timeGroupAlias(t, $__interval), $__timeGroup(t, '1d', 0)"
    assert expand(sql, ctx()) == (
        "SELECT time_bucket('3600.000s',t) AS \"time\", time_bucket('86400.000s',t)"
    )
    assert expand(sql, ctx(timescaledb=False)) == (
        'SELECT floor(extract(epoch from t)/3600)*3600 AS "time", '
        "floor(extract(epoch from t)/86400)*86400"
    )
    # a bare $__timeGroup followed by a comma is aliased, as Grafana keeps for old queries
    assert expand("$__timeGroup(t, 1h), x", ctx()) == "time_bucket('3600.000s',t) AS \"time\", x"
    # Go prints large floats in exponent form: 30 days
    assert expand("$__timeGroup(t, 30d)", ctx(timescaledb=False)) == (
        "floor(extract(epoch from t)/2.592e+06)*2.592e+06"
    )


def test_interval_globals() -> None:
    assert expand("$__interval $__interval_ms", ctx()) == "1h 5400000"
    assert [format_interval(timedelta(seconds=s)) for s in (0.0005, 0.5, 59, 61, 86400 * 400)] == [
        "1ms",
        "500ms",
        "59s",
        "1m",
        "1y",
    ]
    assert [go_float(x) for x in (3600.0, 604800.0, 1e6, 0.5, 31536000.0)] == [
        "3600",
        "604800",
        "1e+06",
        "0.5",
        "3.1536e+07",
    ]
    assert (
        expand("$__unixEpochFilter(e)", ctx()) == "e >= 1790812800 AND e <= 1791417600"
    )  # date -u -d 2026-10-01 +%s


def test_variables_are_quoted_as_grafana_quotes_them() -> None:
    variables = {
        "site": VariableValue(("nord", "l'est"), True),  # multi / All: a list of literals
        "one": VariableValue("w001", True),  # a single value of a multi variable: quoted
        "plain": VariableValue("it's", False),  # a plain variable: not quoted, ' doubled
    }
    sql = "IN ($site) AND d = $one AND p = $plain AND q = ${plain:sqlstring} AND [[plain]]"
    assert expand(sql, ctx(), variables) == (
        "IN ('nord','l''est') AND d = 'w001' AND p = it''s AND q = 'it''s' AND it''s"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("$__timeFilter(date_trunc('day', t))", "exactly one column"),
        ("$__nonsense(t)", "unknown macro"),
        ("$__timeGroup(t)", "needs a column and an interval"),
        ("WHERE x = $undefined", "undefined variable"),
        ("$__timeGroup(t, soon)", "invalid interval"),
    ],
)
def test_what_grafana_rejects_is_rejected(sql: str, message: str) -> None:
    with pytest.raises(ExpansionError, match=message):
        expand(sql, ctx())
