"""Every panel's and alert rule's query, expanded as Grafana expands it, runs read-only as
Grafana's role on a database filled by the demo fleet (plain PostgreSQL always, TimescaleDB
when ICONE_TEST_TIMESCALE_URL is set), for the last 6 h, 30 days and year: no SQL error, the
columns Grafana needs, and rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from numbers import Real

import pytest

from grafana.export import alert_rules, dashboards
from grafana.macros import QueryContext, expand
from tests.grafana.conftest import FleetDatabase
from tests.grafana.grafana_run import RANGES, context, panels, run, variable_values

BOARDS = dashboards()


def _numeric(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


@pytest.mark.parametrize("board_name", sorted(BOARDS))
@pytest.mark.parametrize("all_selected", [True, False], ids=["All", "first option"])
def test_every_panel_query_runs_as_the_reader(
    fleet_db: FleetDatabase, board_name: str, all_selected: bool
) -> None:
    board = BOARDS[board_name]
    now = datetime.now(UTC)
    failures = []
    with fleet_db.reader() as conn:
        for range_name, length, interval in RANGES:
            ctx = context(now, length, interval, fleet_db.timescaledb)
            variables = variable_values(conn, board, ctx, all_selected)
            for panel in panels(board):
                for target in panel["targets"]:
                    result = run(conn, expand(target["rawSql"], ctx, variables))
                    where = f"{board_name} / {panel['title']} / {target['refId']} / {range_name}"
                    if target["format"] == "time_series":
                        assert "time" in result.columns, f"{where}: no time column"
                        numeric = [c for c in result.columns if c not in ("time", "metric")]
                        for row in result.rows:
                            values = dict(zip(result.columns, row, strict=True))
                            assert any(_numeric(values[c]) or values[c] is None for c in numeric), (
                                f"{where}: no numeric value"
                            )
                    if panel["type"] == "stat":
                        assert len(result.rows) == 1, f"{where}: a stat needs one row"
                    if not result.rows and all_selected:
                        failures.append(where)
    assert not failures, f"empty for the demo fleet: {failures}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["uid"])
def test_every_alert_query_runs_as_the_reader(fleet_db: FleetDatabase, rule: dict) -> None:
    query = next(d for d in rule["data"] if d["refId"] == "A")
    assert query["datasourceUid"] != "__expr__"
    window = query["relativeTimeRange"]
    now = datetime.now(UTC)
    ctx = QueryContext(
        now - timedelta(seconds=window["from"]),
        now - timedelta(seconds=window["to"]),
        timedelta(minutes=1),
        fleet_db.timescaledb,
    )
    with fleet_db.reader() as conn:
        result = run(conn, expand(query["model"]["rawSql"], ctx))
    assert query["model"]["format"] == "time_series"  # the only format alert rules accept
    assert result.columns[0] == "time"
    assert result.columns[-1] == "value"
    for row in result.rows:
        assert _numeric(row[-1]), f"{rule['uid']}: value {row[-1]!r} is not a number"
        assert all(isinstance(v, str) for v in row[1:-1]), "label columns must be text"
