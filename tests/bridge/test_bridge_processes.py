"""`icone bridge --processes N` (icone.bridge_processes): N bridge processes in one share group,
each with its own client id and spool; kill -9 of one mid-stream loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway_bridge.config import BridgeConfig, BrokerAddress
from icone.bridge_processes import BridgeProcesses, ProcessPlan
from icone.embedded import RunningService
from tests.bridge.test_delivery import _publish_all, _register, _uplinks
from tests.system.helpers import count, publisher, wait_for


def _create_session(url: str, client_id: str, topic: str) -> None:
    """A persistent session subscribed to `topic`, then left: the broker queues for it."""
    broker = BrokerAddress.from_url(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if broker.username:
        client.username_pw_set(
            broker.username, broker.password.get_secret_value() if broker.password else None
        )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 600
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(broker.host, broker.port, clean_start=True, properties=props)
    client.loop_start()
    assert subscribed.wait(10)
    client.disconnect()
    client.loop_stop()


def test_processes_share_the_stream_and_survive_a_kill(
    broker: RunningService, database: str, tmp_path: Path
) -> None:
    _register(database)
    tag = uuid.uuid4().hex[:6]
    plan = ProcessPlan(
        database_url=database,
        mqtt_url=broker.url,
        client_id=f"procs-{tag}",
        processes=2,
        share_group=f"procs-{tag}",
        env={"ICONE_STATE_DIR": str(tmp_path), "ICONE_LOG_LEVEL": "WARNING"},
    )
    # Sessions first (what a previous run of the same processes leaves behind): nothing
    # published from now on can miss a member, however slowly the children start.
    topic = BridgeConfig(BrokerAddress.from_url(broker.url)).topic
    for client_id in plan.client_ids():
        _create_session(broker.url, client_id, f"$share/{plan.share_group}/{topic}")
    messages = _uplinks(4000, seed=11)
    group = BridgeProcesses(plan, restart_delay_s=0.5, stop_timeout_s=60)
    stop = threading.Event()
    group.start()
    supervisor = threading.Thread(target=group.supervise, args=(stop, 0.1), daemon=True)
    supervisor.start()
    try:
        client = publisher(broker.url)
        _publish_all(client, messages)
        client.disconnect()
        wait_for(
            lambda: count(database, "SELECT count(*) FROM uplinks") >= 500,
            timeout=60,
            what="the first uplinks stored",
        )
        victim = plan.client_ids()[0]
        os.kill(group.pids[victim], signal.SIGKILL)
        wait_for(lambda: group.restarts >= 1, timeout=30, what="the killed process restarted")
        wait_for(
            lambda: count(database, "SELECT count(*) FROM uplinks") == 4000,
            timeout=120,
            what="4,000 uplinks",
        )
    finally:
        stop.set()
        supervisor.join(90)
    assert not supervisor.is_alive()
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == 4000
    assert count(database, "SELECT count(*) FROM measurements") == 12_000
    assert count(database, "SELECT count(*) FROM dead_letters") == 0
    # Each process had its own spool, named after its own client id.
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == plan.client_ids()
