"""Mosquitto (persistence on) restarted in the middle of a 20,000-uplink stream, with the
bridge as a separate process that reconnects by itself.

Publisher side, a message counts as accepted only once its PUBACK arrived; the stream is
cut when the broker goes away, and the rest is published again after the restart. What
the broker had accepted and not yet delivered (its queue for the bridge's persistent
session, and what was in flight to the bridge) must come out of its persistence file.

The bridge's receiving process is paused (SIGSTOP) while the second half is published and
the broker restarted: the bridge keeps up with this publisher, so without the pause the
broker may hold no backlog at all when it stops. Its ingest workers keep writing meanwhile.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from icone import embedded
from tests.faults.conftest import BridgeFactory
from tests.faults.helpers import (
    Publisher,
    Stream,
    count,
    publish_and_wait,
    stored_dedup_ids,
    uplinks,
    wait_until,
)

N = 20_000
WARM_UP = 1000  # published and stored first: the bridge is connected and consuming


def test_broker_restart_mid_stream_loses_nothing_it_accepted(
    fleet_database: str,
    broker_home: tuple[Path, int],
    stream: Stream,
    bridge_process: BridgeFactory,
) -> None:
    database = fleet_database
    state, port = broker_home
    first = embedded.mosquitto(state, port=port)
    url = first.__enter__().url
    second = None
    paused = False
    try:
        bridge = bridge_process(database, url)
        bridge.start()
        publish_and_wait(url, stream.messages[:WARM_UP])
        wait_until(lambda: uplinks(database) == WARM_UP, "the bridge consuming", 60, bridge)
        os.kill(bridge.pid, signal.SIGSTOP)
        paused = True
        publisher = Publisher(url)
        publisher.start(stream.messages, range(WARM_UP, N))
        wait_until(
            lambda: len(publisher.accepted()) >= N // 2, "half the stream accepted", 60, bridge
        )
        first.__exit__(None, None, None)  # SIGTERM: Mosquitto writes its persistence file
        accepted = list(range(WARM_UP)) + publisher.stop_now()
        stored_at_stop = uplinks(database)
        assert stored_at_stop < len(accepted), "the broker held a backlog for the bridge"
        rest = sorted(set(range(N)) - set(accepted))
        assert rest, "the stream was cut in the middle"

        second = embedded.mosquitto(state, port=port)
        second.__enter__()
        os.kill(bridge.pid, signal.SIGCONT)
        paused = False
        # Everything accepted before the restart arrives without being published again.
        accepted_ids = {stream.dedup_ids[i] for i in accepted}
        wait_until(
            lambda: accepted_ids <= stored_dedup_ids(database),
            f"the {len(accepted)} uplinks accepted before the restart",
            120,
            bridge,
        )
        publish_and_wait(url, [stream.messages[i] for i in rest])
        wait_until(lambda: uplinks(database) >= N, f"all {N} uplinks", 120, bridge)
        assert bridge.terminate() == 0
    finally:
        if paused:
            os.kill(bridge.pid, signal.SIGCONT)
        (second or first).__exit__(None, None, None)
    assert uplinks(database) == N
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == N
    assert stored_dedup_ids(database) == set(stream.dedup_ids[:N])
    assert count(database, "SELECT count(*) FROM measurements") == (
        stream.expected_measurements(range(N))
    )
    assert count(database, "SELECT count(*) FROM dead_letters") == 0
