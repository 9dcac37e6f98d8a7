"""PostgreSQL stopped for 30 s in the middle of the stream, then started again.

The test runs its own embedded PostgreSQL (never the shared session server) and restarts
it on the same data directory and port; the bridge is a separate process throughout.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from icone import embedded
from icone.demo import register_fleet
from icone.embedded import RunningService
from ingest_service.spool import Spool
from storage.migrate import migrate
from tests.faults.conftest import BridgeFactory
from tests.faults.helpers import (
    Publisher,
    Stream,
    count,
    publish_and_wait,
    spool_bytes,
    stored_dedup_ids,
    uplinks,
    wait_until,
)

OUTAGE_S = 30.0
BEFORE, DURING, AFTER = 1500, 6000, 1500  # messages published before, during, after


def test_database_down_30_s_mid_stream_loses_nothing_doubles_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_broker: RunningService,
    stream: Stream,
    bridge_process: BridgeFactory,
) -> None:
    n = BEFORE + DURING + AFTER
    state = tmp_path / "pg"
    first = embedded.postgres(state)
    server = first.__enter__()
    database, port = server.url, server.port
    # The port may still be in TIME_WAIT when the server comes back; postgres binds it with
    # SO_REUSEADDR, only the free-port probe would refuse it.
    real_free_port = embedded.free_port
    monkeypatch.setattr(embedded, "free_port", lambda preferred=None: preferred or real_free_port())
    second = None
    try:
        migrate(database)
        register_fleet(database, stream.fleet)
        bridge = bridge_process(database, own_broker.url)
        bridge.start()
        publish_and_wait(own_broker.url, stream.messages[:BEFORE])
        wait_until(lambda: uplinks(database) == BEFORE, "the first uplinks", 60, bridge)

        spooled_before = spool_bytes(bridge.spool_dir)
        first.__exit__(None, None, None)  # fast shutdown: the bridge's connections are cut
        stopped_at = time.monotonic()
        # The stream goes on at a steady rate for the whole outage.
        publisher = Publisher(own_broker.url, window=100)
        publisher.start(stream.messages, range(BEFORE, BEFORE + DURING), rate=DURING / OUTAGE_S)
        assert len(publisher.join(timeout=OUTAGE_S + 60)) == DURING
        # While the database is down the bridge keeps acknowledging into its spool: every
        # message of the outage is there (a record holds at least the payload's bytes).
        during_bytes = sum(len(p) for _, p in stream.messages[BEFORE : BEFORE + DURING])
        wait_until(
            lambda: spool_bytes(bridge.spool_dir) - spooled_before >= during_bytes,
            "the outage's messages spooled",
            30,
            bridge,
        )
        bridge.check_alive()
        assert time.monotonic() - stopped_at >= OUTAGE_S

        second = embedded.postgres(state, port=port)
        assert second.__enter__().port == port
        publish_and_wait(own_broker.url, stream.messages[BEFORE + DURING : n])
        wait_until(lambda: uplinks(database) >= n, f"all {n} uplinks", 120, bridge)
        bridge.check_alive()  # it never exited
        assert bridge.terminate() == 0

        spool = Spool(bridge.spool_dir, max_bytes=2**30)
        try:
            assert spool.pending == 0  # drained, and the cursor says so durably
            assert spool.recovery is None
        finally:
            spool.close()
        assert uplinks(database) == n
        assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == n
        assert stored_dedup_ids(database) == set(stream.dedup_ids[:n])
        assert count(database, "SELECT count(*) FROM measurements") == (
            stream.expected_measurements(range(n))
        )
        assert count(database, "SELECT count(*) FROM dead_letters") == 0
        assert "storage failed" not in bridge.log_text()
    finally:
        if second is not None:
            second.__exit__(None, None, None)
        else:
            first.__exit__(None, None, None)
