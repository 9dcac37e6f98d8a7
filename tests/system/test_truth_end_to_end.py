"""The virtual fleet with every scenario, through the real broker and bridge into the
database: the API's consumption equals the fleet's ground truth within the registers'
resolution, per device and per site, in hour, day and month buckets, in both storage modes.

Late uplinks are published after the rollups were refreshed over their days, and the figures
are read at once: they must count in the very next query."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.fleet import VirtualDevice, build_fleet
from hardware.scenarios import SCENARIOS, MeterSwap, Run, hourly_run, targets_of
from hardware.truth import COUNTER_REGISTERS, hour_start
from icone.demo import register_fleet
from icone.embedded import RunningService
from storage import apikeys
from storage.consumption import consumption
from storage.rollups import refresh_rollups
from tests.storage.helpers import fresh_database
from tests.system.helpers import bridge, bridge_config, count, publisher, wait_for
from tests.system.truth import bucketed, mismatches, register_truth, site_truth

HOURS = 40
BUCKETS = ("hour", "day", "month")


@pytest.fixture(params=["plain", pytest.param("timescale", marks=pytest.mark.timescale)])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "plain":
        yield str(request.getfixturevalue("database"))
        return
    with fresh_database(request.getfixturevalue("timescale_url")) as url:
        from storage.migrate import migrate

        migrate(url, "timescale")
        yield url


def _fleet(start: datetime) -> list[VirtualDevice]:
    """One device of every model with a counter register."""
    catalogue = load_catalogue()
    return build_fleet(
        {m: catalogue[m] for m in COUNTER_REGISTERS}, len(COUNTER_REGISTERS), start, seed=12
    )


def _record_swaps(conn: psycopg.Connection[Any], swaps: list[MeterSwap]) -> None:
    """What the technician enters in the registry after swapping a meter."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO meter_swaps (dev_eui, metric, channel, swapped_at, old_final_index, "
            "new_initial_index, recorded_by) VALUES (%s, %s, %s, %s, %s, %s, 'technician')",
            [
                (
                    s.dev_eui,
                    s.metric,
                    s.channel,
                    s.swapped_at,
                    s.old_final_index,
                    s.new_initial_index,
                )
                for s in swaps
            ],
        )


def _publish(broker: RunningService, database: str, run: Run) -> None:
    """On-time uplinks, a rollup refresh over the run, then the late ones."""
    client = publisher(broker.url)
    total = len(run.on_time) + len(run.late)
    with bridge(bridge_config(broker.url), database):
        for topic, payload in simulator.run_messages(run.on_time, protobuf=False):
            client.publish(topic, payload, qos=1)
        wait_for(
            lambda: count(database, "SELECT count(*) FROM uplinks") == len(run.on_time),
            what="the on-time uplinks",
        )
        with psycopg.connect(database, autocommit=True) as conn:
            refresh_rollups(conn, run.start - timedelta(days=1))
        for topic, payload in simulator.run_messages(run.late, protobuf=False, seed=8):
            client.publish(topic, payload, qos=1)
        wait_for(
            lambda: count(database, "SELECT count(*) FROM uplinks") == total,
            what="the late uplinks",
        )
    client.disconnect()


def _readings(
    conn: psycopg.Connection[Any], dev_eui: str, metric: str, channel: str
) -> list[float]:
    rows = conn.execute(
        "SELECT value FROM measurements WHERE dev_eui = %s AND metric = %s AND channel = %s "
        "ORDER BY time",
        (dev_eui, metric, channel),
    ).fetchall()
    return [float(v) for (v,) in rows]


def _device(fleet: list[VirtualDevice], scenario: str) -> VirtualDevice:
    return targets_of(fleet, scenario)[0]


def _assert_scenarios_happened(
    conn: psycopg.Connection[Any], fleet: list[VirtualDevice], run: Run
) -> None:
    def drops(scenario: str, metric: str, channel: str) -> list[tuple[float, float]]:
        values = _readings(conn, _device(fleet, scenario).dev_eui, metric, channel)
        return [(a, b) for a, b in itertools.pairwise(values) if b < a]

    backflow = drops("backflow", "water_volume_index", "")
    assert backflow, "the backflow meter never stepped back"
    assert all(a - b < 0.01 for a, b in backflow), backflow  # litres, not a reset
    restart = drops("pulse_restart", "pulse_count", "A")
    assert len(restart) == 1, restart
    assert restart[0][1] < 0.1 * restart[0][0], restart
    replaced = drops("unrecorded_replacement", "energy_active_import_index", "EA_s")
    assert len(replaced) == 1, replaced
    assert replaced[0][1] < 0.1 * replaced[0][0], replaced
    swapped = drops("recorded_swap", "energy_active_import_index", "HCHC")
    assert len(swapped) == 1, swapped
    assert len(run.swaps) == 2, run.swaps
    assert conn.execute("SELECT count(*) FROM meter_swaps").fetchone() == (2,)
    late = conn.execute(
        "SELECT count(*) FROM uplinks l WHERE l.dev_eui = ANY(%s) AND EXISTS (SELECT 1 "
        "FROM uplinks o WHERE o.dev_eui = l.dev_eui AND o.time > l.time "
        "AND o.received_at < l.received_at)",
        ([d.dev_eui for d in targets_of(fleet, "late_uplinks")],),
    ).fetchone()
    assert late is not None
    assert late[0] == len(run.late) == 8  # each arrived after newer ones


def test_api_consumption_equals_fleet_ground_truth(broker: RunningService, store: str) -> None:
    start = hour_start(datetime.now(UTC)) - timedelta(hours=HOURS + 2)
    fleet = _fleet(start)
    run = hourly_run(fleet, start, HOURS, list(SCENARIOS))
    register_fleet(store, fleet)
    with psycopg.connect(store) as conn:
        _record_swaps(conn, run.swaps)
        token = apikeys.create_key(conn, "truth", "admin")
    _publish(broker, store, run)

    problems: list[str] = []
    with psycopg.connect(store) as conn:
        _assert_scenarios_happened(conn, fleet, run)
        for bucket in BUCKETS:
            for device in fleet:
                rows = consumption(conn, run.start, run.end, bucket, dev_eui=device.dev_eui)
                for register in COUNTER_REGISTERS[device.model]:
                    actual = {
                        r.bucket: r.consumption
                        for r in rows
                        if (r.metric, r.channel) == (register.metric, register.channel)
                    }
                    expected = bucketed(register_truth(run.truth, device, register), bucket)
                    problems += [
                        f"{bucket} {device.model} {register.metric}/{register.channel} {m}"
                        for m in mismatches(actual, expected, 2 * register.resolution)
                    ]
    with TestClient(create_app(store)) as http:
        headers = {"Authorization": f"Bearer {token}"}
        for bucket in BUCKETS:
            for site, metric in sorted(
                {(d.site_id, r.metric) for d in fleet for r in COUNTER_REGISTERS[d.model]}
            ):
                response = http.get(
                    f"/sites/{site}/consumption",
                    params={
                        "metric": metric,
                        "from": run.start.isoformat(),
                        "to": run.end.isoformat(),
                        "bucket": bucket,
                    },
                    headers=headers,
                )
                assert response.status_code == 200, response.text
                actual = {
                    datetime.fromisoformat(p["bucket"]): p["value"] for p in response.json()["data"]
                }
                expected, tolerance = site_truth(run.truth, fleet, site, metric, bucket)
                problems += [
                    f"{bucket} site {site} {metric} {m}"
                    for m in mismatches(actual, expected, tolerance)
                ]
    assert not problems, "\n".join(problems)
