"""Publishes the virtual fleet's uplinks to the broker as ChirpStack v4 `up` events."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hardware.chirpstack_events import encode_event, topic_for, uplink_event
from hardware.fleet import VirtualDevice
from hardware.scenarios import Uplink, take_uplink

logger = logging.getLogger(__name__)


class PublishError(Exception):
    """The simulator could not connect or publish."""


def message(uplink: Uplink, rng: random.Random, protobuf: bool) -> tuple[str, bytes]:
    """An uplink as ChirpStack publishes it: (topic, payload)."""
    event = uplink_event(
        dev_eui=uplink.dev_eui,
        model=uplink.model,
        f_port=uplink.f_port,
        payload=uplink.payload,
        time=uplink.time,
        f_cnt=uplink.f_cnt,
        rng=rng,
    )
    return topic_for(uplink.dev_eui), encode_event(event, protobuf)


def uplink_message(
    device: VirtualDevice, now: datetime, rng: random.Random, protobuf: bool
) -> tuple[str, bytes]:
    """The device's next uplink at `now`, as ChirpStack would publish it: (topic, payload)."""
    return message(take_uplink(device, now), rng, protobuf)


def run_messages(
    uplinks: Iterable[Uplink], protobuf: bool, seed: int = 7
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of a scenario run's uplinks, in the given order."""
    rng = random.Random(seed)
    for uplink in uplinks:
        yield message(uplink, rng, protobuf)


def events(
    fleet: list[VirtualDevice], start: datetime, step: timedelta, protobuf: bool, seed: int = 7
) -> Iterator[tuple[str, bytes]]:
    """Endless (topic, payload) stream: device after device, simulated time advancing by
    `step` per uplink. Used for backlogs (benchmarks) where time runs faster than life."""
    rng = random.Random(seed)
    now = start
    while True:
        for device in fleet:
            now += step
            yield uplink_message(device, now, rng, protobuf)


def connect(
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    client_id: str = "icone-simulator",
    tls_ca: str | None = None,
) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if username:
        client.username_pw_set(username, password)
    if tls_ca is not None:
        client.tls_set(ca_certs=tls_ca)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"cannot reach MQTT broker {host}:{port}: {exc}") from None
    client.loop_start()
    return client


def publish_all(
    client: mqtt.Client,
    stream: Iterator[tuple[str, bytes]],
    count: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish `count` messages at QoS 1 as fast as the broker takes them; wait for PUBACKs.
    `progress(done)` is called after each block of acknowledged messages."""
    infos = []
    try:
        for i, (topic, payload) in zip(range(count), stream, strict=False):
            infos.append(client.publish(topic, payload, qos=1))
            if len(infos) >= 2000:
                for info in infos:
                    info.wait_for_publish(timeout=60)
                infos.clear()
                if progress is not None:
                    progress(i + 1)
        for info in infos:
            info.wait_for_publish(timeout=60)
    except (RuntimeError, ValueError) as exc:  # paho: connection lost, queue refused
        raise PublishError(f"publishing stopped: {exc}") from exc
    return count


def run_realtime(
    client: mqtt.Client,
    fleet: list[VirtualDevice],
    rate: float,
    stop: threading.Event,
    protobuf: bool = False,
    seed: int = 7,
) -> int:
    """Publish uplinks at `rate` per second with the real clock, until `stop`."""
    rng = random.Random(seed)
    sent = 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        device = fleet[sent % len(fleet)]
        topic, payload = uplink_message(device, datetime.now(UTC), rng, protobuf)
        client.publish(topic, payload, qos=1)
        sent += 1
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    logger.info("simulator published %d uplinks", sent)
    return sent
