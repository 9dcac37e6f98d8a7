"""Enrichment from the registry: pulse counts -> register metrics with the device's weights."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ingest_service.enrich import Enricher, PulseWeight, parse_pulse_weights
from storage.registry import DeviceSpec, upsert_devices
from tests.ingest.helpers import dev_eui, pool_for, running_service, uplink, wait_for

PULSE_MODEL = "adeunis-pulse-4"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"metric": "temperature", "per_pulse": 1}, "not a counter"),
        ({"metric": "water_volume", "per_pulse": 1}, "not a counter"),  # interval, not register
        ({"metric": "no_such_metric", "per_pulse": 1}, "unknown metric"),
        ({"metric": "water_volume_index", "per_pulse": 0}, "not a positive number"),
        ({"metric": "water_volume_index", "per_pulse": "0.001"}, "not a positive number"),
        ({"metric": "water_volume_index", "per_pulse": True}, "not a positive number"),
        ({"metric": "water_volume_index"}, "not a positive number"),
        ("water_volume_index", "not an object"),
    ],
)
def test_invalid_weights_are_skipped_with_a_reason(
    entry: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw = {"A": entry, "B": {"metric": "energy_active_import_index", "per_pulse": 0.5}}
    with caplog.at_level(logging.WARNING, logger="ingest_service.enrich"):
        weights = parse_pulse_weights("0011223344556677", raw)
    assert weights == {"B": PulseWeight("energy_active_import_index", 0.5)}
    assert problem in caplog.text


def test_pulse_counts_get_weighted_rows_at_ingest(database: str, tmp_path: Path) -> None:
    device = 7
    with psycopg.connect(database) as conn:
        upsert_devices(conn, [DeviceSpec(dev_eui(device), PULSE_MODEL)])
        conn.execute(
            "UPDATE devices SET pulse_weights = %s WHERE dev_eui = %s",
            (
                Jsonb(
                    {
                        "A": {"metric": "water_volume_index", "per_pulse": 0.001},
                        "B": {"metric": "temperature", "per_pulse": 1},  # invalid: ignored
                    }
                ),
                dev_eui(device),
            ),
        )
    counts = [(1234, 5), (1300, 9)]
    stream = [
        uplink(i, PULSE_MODEL, device=device, pulses={"A": a, "B": b})
        for i, (a, b) in enumerate(counts)
    ]
    with (
        pool_for(database) as pool,
        running_service(pool, tmp_path, enrich=Enricher(pool)) as service,
    ):
        service.accept(stream)
        wait_for(lambda: service.stats.committed_messages == 2, what="2 messages committed")
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT metric, channel, value FROM measurements ORDER BY time, metric, channel"
        ).fetchall()
    assert rows == [
        ("pulse_count", "A", 1234.0),
        ("pulse_count", "B", 5.0),
        ("water_volume_index", "A", pytest.approx(1.234)),
        ("pulse_count", "A", 1300.0),
        ("pulse_count", "B", 9.0),
        ("water_volume_index", "A", pytest.approx(1.3)),
    ]
