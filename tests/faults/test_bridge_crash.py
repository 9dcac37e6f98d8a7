"""kill -9 of the bridge process: in the middle of a 50,000-uplink stream, and with the
spool's last segment torn mid-record as a crash during a write leaves it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import psutil
import pytest

from icone.embedded import RunningService
from ingest_service.spool import encode_record
from storage.records import InboundMessage
from tests.faults.conftest import STREAM_SIZE, BridgeFactory
from tests.faults.helpers import (
    Publisher,
    Stream,
    count,
    frame_count,
    last_segment,
    publish_and_wait,
    stored_dedup_ids,
    uplinks,
    wait_until,
)


def _assert_exactly_once(database: str, stream: Stream, n: int) -> None:
    assert uplinks(database) == n
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == n
    assert stored_dedup_ids(database) == set(stream.dedup_ids[:n])
    assert count(database, "SELECT count(*) FROM measurements") == stream.expected_measurements(
        range(n)
    )
    assert count(database, "SELECT count(*) FROM dead_letters") == 0


@pytest.mark.parametrize("ingest_workers", [0, 2], ids=["threads", "2-workers"])
def test_kill_9_mid_stream_then_restart_stores_every_uplink_exactly_once(
    fleet_database: str,
    own_broker: RunningService,
    stream: Stream,
    bridge_process: BridgeFactory,
    ingest_workers: int,
) -> None:
    database, n = fleet_database, STREAM_SIZE
    bridge = bridge_process(database, own_broker.url, ingest_workers)
    publisher = Publisher(own_broker.url)
    publisher.start(stream.messages, range(n))  # the stream flows throughout
    bridge.start()
    wait_until(lambda: uplinks(database) >= n // 3, "a third of the stream stored", 120, bridge)
    # the workers, and multiprocessing's resource tracker when there are workers
    children = psutil.Process(bridge.pid).children(recursive=True)
    workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) == ingest_workers
    assert bridge.kill() == -9
    at_kill = uplinks(database)
    assert 0 < at_kill < n, "the kill must land in the middle of the stream"
    # Orphaned workers would keep writing and holding connections: they leave with it.
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"ingest workers outlived the killed bridge: {alive}"

    bridge.start()  # same client id (session), same state dir (spool)
    assert len(publisher.join()) == n  # the broker accepted all of it
    wait_until(lambda: uplinks(database) >= n, f"{n} uplinks", 180, bridge)
    assert bridge.terminate() == 0
    _assert_exactly_once(database, stream, n)


def test_torn_spool_tail_after_kill_9_is_cut_off_and_the_broker_redelivers(
    fleet_database: str,
    own_broker: RunningService,
    stream: Stream,
    bridge_process: BridgeFactory,
) -> None:
    database, first, torn, n = fleet_database, 1500, 5, 3000
    bridge = bridge_process(database, own_broker.url)
    with bridge:
        publish_and_wait(own_broker.url, stream.messages[:first])
        wait_until(lambda: uplinks(database) == first, f"{first} uplinks", 60, bridge)
        assert bridge.kill() == -9

    # The crash hit while the next batch was being written: the broker handed these `torn`
    # messages over, the spool write stopped in the middle of the last one, and no ack left.
    batch = stream.messages[first : first + torn]
    publish_and_wait(own_broker.url, batch)  # queued by the broker for the dead bridge
    segment = last_segment(bridge.spool_dir)
    data = segment.read_bytes()
    complete, end = frame_count(data)
    assert end == len(data), "kill -9 cannot tear a write() already returned"
    now = datetime.now(UTC)
    records = [encode_record(InboundMessage(t, p, now)) for t, p in batch]
    cut = len(records[-1]) // 2  # inside the last record's body
    with segment.open("ab") as handle:
        handle.write(b"".join(records[:-1]) + records[-1][:cut])

    bridge.start()
    publish_and_wait(own_broker.url, stream.messages[first + torn : n])
    wait_until(lambda: uplinks(database) >= n, f"{n} uplinks", 60, bridge)
    assert bridge.terminate() == 0
    log = bridge.log_text()
    reported = re.findall(
        rf"spool segment {re.escape(segment.name)}: kept (\d+) complete records, "
        r"discarded (\d+) bytes of a partial or corrupt record",
        log,
    )
    assert reported == [(str(complete + torn - 1), str(cut))], log[-3000:]
    # The complete records of the torn batch came from the spool and again from the broker;
    # the partial one only from the broker: each is stored exactly once.
    _assert_exactly_once(database, stream, n)
