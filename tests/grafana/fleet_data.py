"""The demo fleet's history (with the demo's datacenter meters and rack-inlet sensors) written through the real pipeline (ChirpStack events -> decoders
-> batch writer), no broker: 35 days of uplinks every 3 h per device, the last 6 h every
15 min, an unrecorded meter replacement 6 h ago, a water meter at the end of its battery, a few
unparseable messages (dead letters) and an uplink from an unregistered device."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from hardware import scenarios, simulator
from hardware.catalogue import CATALOGUE_DIR, load_catalogue
from hardware.chirpstack_events import topic_for
from hardware.fleet import VirtualDevice, build_fleet, datacenter_devices
from hardware.truth import GroundTruth
from icone.demo import register_fleet
from icone.reference import sync_reference_data
from ingest_service.batch_writer import BatchWriter
from storage.records import InboundMessage
from storage.rollups import refresh_rollups
from tests.ingest.helpers import process, uplink

FLEET_SIZE = 24
HISTORY_DAYS = 35
RECENT_HOURS = 6


def _messages(
    fleet: list[VirtualDevice], start: datetime, end: datetime, every: timedelta, now: datetime
) -> list[InboundMessage]:
    step = every / len(fleet)
    count = int((end - start) / step)
    stream = simulator.events(fleet, start, step, protobuf=False)
    return [InboundMessage(t, p, now) for t, p in itertools.islice(stream, count)]


def fill(url: str) -> datetime:
    """Write the fleet's history into the migrated database at `url`; returns its `now`."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=HISTORY_DAYS)
    recent = now - timedelta(hours=RECENT_HOURS)
    catalogue = load_catalogue()
    fleet = build_fleet(catalogue, FLEET_SIZE, start=start)
    fleet += datacenter_devices(catalogue, len(fleet), start)  # as the demo does
    # a meter whose battery is at its end: the alarm panels have an active alarm at any hour
    # (the fleet's leak alarms are active only at night, Paris time)
    worn = next(d for d in fleet if d.model == "axioma-qalcosonic-w1")  # status on every uplink
    worn.state.battery_level = 5.0
    sync_reference_data(url, CATALOGUE_DIR)
    register_fleet(url, fleet)
    messages = _messages(fleet, start, recent, timedelta(hours=3), now)
    # an electricity meter replaced unrecorded 6 h ago: the data-quality panel has an
    # observation for every range (the fleet's scenario, tests use it for the counter rule)
    replaced = scenarios.targets_of(fleet, "unrecorded_replacement")[0]
    scenarios._replace_pme(replaced, GroundTruth())
    messages += _messages(fleet, recent, now - timedelta(minutes=1), timedelta(minutes=15), now)
    broken = [
        InboundMessage(topic_for(d.dev_eui), b'{"deduplicationId": ' + str(i).encode(), now)
        for i, d in enumerate(fleet[:3])
    ]
    broken.append(uplink(1, tagged=False))  # an unregistered device: stored, not decoded
    pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=2, open=True)
    try:
        pool.wait(timeout=30)
        writer = BatchWriter(pool, process)
        for i in range(0, len(messages), 500):
            writer.store(writer.prepare(messages[i : i + 500]))
        writer.store(writer.prepare(broken))
    finally:
        pool.close()
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_rollups(conn, start - timedelta(days=1))
    return now
