"""A PostgreSQL outage in the middle of a stream, on a server of our own.

The test starts its own embedded PostgreSQL (not the shared session server), stops it for
about 10 s while messages keep arriving, then starts it again on the same data directory
and port. The issue's 30 s outage, through MQTT, is exercised by the bridge's system test.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from icone import embedded
from storage.migrate import migrate
from tests.ingest.helpers import count, pool_for, running_service, uplink, wait_for

OUTAGE_S = 10.0
CHUNK = 25


def test_database_outage_loses_nothing_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "pg"
    first = embedded.postgres(state)
    server = first.__enter__()
    url, port = server.url, server.port
    migrate(url)
    # The server's socket may still be in TIME_WAIT when it comes back: postgres binds it
    # with SO_REUSEADDR, only the free-port probe would refuse it, so skip that probe.
    real_free_port = embedded.free_port
    monkeypatch.setattr(embedded, "free_port", lambda preferred=None: preferred or real_free_port())
    sent = 0
    second = None
    try:
        with (
            pool_for(url) as pool,
            running_service(
                pool, tmp_path / "spool", base_delay_s=0.05, max_delay_s=1.0, connect_timeout_s=1.0
            ) as service,
        ):
            service.accept([uplink(i) for i in range(100)])
            sent = 100
            wait_for(lambda: service.stats.committed_messages == 100, what="first 100 stored")

            first.__exit__(None, None, None)  # fast shutdown: connections are cut
            stopped_at = time.monotonic()
            while time.monotonic() - stopped_at < OUTAGE_S:
                service.accept([uplink(i) for i in range(sent, sent + CHUNK)], timeout=5)
                sent += CHUNK
                time.sleep(0.2)  # pacing of the stream, not a wait for a result
            during = service.stats
            assert not during.database_up
            assert during.retries > 0
            assert during.spool_pending > 0
            assert during.committed_messages < sent

            second = embedded.postgres(state, port=port)
            assert second.__enter__().port == port
            service.accept([uplink(i) for i in range(sent, sent + CHUNK)])
            sent += CHUNK
            wait_for(
                lambda: (
                    service.stats.committed_messages == sent and service.stats.spool_pending == 0
                ),
                timeout=60,
                what="the spool drained after the restart",
            )
            after = service.stats
            drainer_alive = any(t.name == "ingest-drainer" for t in threading.enumerate())
        assert after.database_up
        assert drainer_alive  # the service never exited
        assert count(url, "SELECT count(*) FROM uplinks") == sent
        assert count(url, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == sent
        assert count(url, "SELECT count(*) FROM measurements") == 3 * sent
        assert count(url, "SELECT count(*) FROM dead_letters") == 0
    finally:
        if second is not None:
            second.__exit__(None, None, None)
        else:
            first.__exit__(None, None, None)
