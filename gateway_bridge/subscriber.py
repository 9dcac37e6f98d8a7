"""The MQTT side of the bridge: a persistent QoS 1 session, manual acknowledgements.

paho's network thread only queues messages (bounded: backpressure, not growth); one worker
thread groups them into batches, turns them into rows, hands each batch to the sink, and
acknowledges the messages only once the sink returned, that is once their content is
durable. A crash at any instant therefore loses nothing: the broker redelivers whatever
was not acknowledged, and idempotent storage absorbs the repeats.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway_bridge.config import BridgeConfig
from gateway_bridge.errors import BrokerUnavailable
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.mqtt_client import BufferedClient
from storage.records import InboundMessage

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Makes messages durable (spool or database). Returns only when they are; may block
    while it is full (backpressure); raises to stop the bridge."""

    def accept(self, messages: Sequence[InboundMessage]) -> object: ...


class _Message(NamedTuple):
    inbound: InboundMessage
    mid: int
    qos: int
    generation: int  # connection it arrived on: acks are only valid on that connection


@dataclass(slots=True)
class BridgeStats:
    received: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    durable_batches: int = 0
    reconnects: int = 0


class Bridge:
    def __init__(
        self, config: BridgeConfig, sink: Sink, metrics: BridgeMetrics | None = None
    ) -> None:
        self.config = config
        self.stats = BridgeStats()
        self.metrics = metrics or BridgeMetrics()
        self._sink = sink
        # Bounded by hand: a deque append is several times cheaper than Queue.put on paho's
        # thread, which also receives and acknowledges every message (one Python thread
        # for the whole MQTT side; it is the ceiling of the bridge).
        self._inbox: deque[_Message] = deque()
        self._has_items = threading.Event()
        self._space = threading.Condition()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._fatal: str | None = None
        self._generation = 0
        self._client = self._make_client()
        self._worker = threading.Thread(target=self._work, name="bridge-worker", daemon=True)

    # --- connection -------------------------------------------------------------------
    def _make_client(self) -> BufferedClient:
        cfg = self.config
        v5 = cfg.mqtt_version == 5
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        broker = cfg.broker
        if broker.username:
            client.username_pw_set(
                broker.username, broker.password.get_secret_value() if broker.password else None
            )
        if broker.tls:
            client.tls_set(
                ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
                certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(20)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties | None:
        if self.config.mqtt_version != 5:
            return None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = min(self.config.receive_maximum, self.config.queue_size)
        return props

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._fatal = f"broker refused the connection: {reason}"
            logger.error("%s", self._fatal)
            self._stop.set()
            return
        self._generation += 1
        # Re-subscribing on every connection is harmless on a resumed session and needed
        # on a new one (the broker lost our session, or it expired).
        client.subscribe(self.config.subscription, qos=self.config.qos)
        logger.info("connected to %s", self.config.broker)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            self._fatal = (
                f"broker refused the subscription to {self.config.subscription}: {failed[0]}"
            )
            logger.error("%s", self._fatal)
            self._stop.set()
            return
        logger.info("subscribed to %s (QoS %d)", self.config.subscription, self.config.qos)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            self.stats.reconnects += 1
            self.metrics.reconnects.inc()
            logger.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        inbox = self._inbox
        if len(inbox) >= self.config.queue_size:
            # Blocks paho's thread when full: it stops reading the socket and TCP holds the
            # broker back. (Mosquitto 2.0.11 does not keep to our Receive Maximum once we
            # acknowledge, so this bound, not the broker, is what limits memory.)
            with self._space:
                while len(inbox) >= self.config.queue_size:
                    if self._stop.is_set():
                        return  # not queued, not acknowledged: the broker redelivers it
                    self._space.wait(0.5)
        inbound = InboundMessage(msg.topic, bytes(msg.payload), datetime.now(UTC))
        inbox.append(_Message(inbound, msg.mid, msg.qos, self._generation))
        if not self._has_items.is_set():
            self._has_items.set()

    # --- processing -------------------------------------------------------------------
    def _wait_for_items(self, timeout: float) -> bool:
        # Clear, then look: an append after the look sets the event again (no lost wake-up).
        self._has_items.clear()
        return bool(self._inbox) or self._has_items.wait(timeout)

    def _take(self, items: list[_Message], limit: int) -> None:
        inbox = self._inbox
        while inbox and len(items) < limit:
            items.append(inbox.popleft())

    def _next_batch(self) -> list[_Message]:
        """`batch_size` messages, or those that came within `flush_interval_s` of the first."""
        if not self._inbox and not self._wait_for_items(0.2):
            return []
        items: list[_Message] = []
        limit = self.config.batch_size
        self._take(items, limit)
        deadline = time.monotonic() + self.config.flush_interval_s
        while len(items) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._wait_for_items(remaining):
                break
            self._take(items, limit)
        with self._space:
            self._space.notify_all()
        return items

    def _work(self) -> None:
        while not self._stop.is_set() or self._inbox:
            items = self._next_batch()
            if not items:
                if self._stop.is_set():
                    return
                continue
            messages = [i.inbound for i in items]
            received = Counter(m.topic.rsplit("/", 1)[-1] for m in messages)
            for event_type, count in received.items():
                self.stats.received[event_type] += count
                self.metrics.received.labels(event_type).inc(count)
            try:
                self._sink.accept(messages)
            except Exception as exc:  # the sink gave up: stop without acknowledging
                self._fatal = f"storage failed, stopping without acknowledging: {exc}"
                logger.error("%s", self._fatal)
                self._stop.set()
                return
            self.stats.durable_batches += 1
            self.metrics.batch_size.observe(len(items))
            self._acknowledge(items)
            self.metrics.queue_depth.set(len(self._inbox))

    def _acknowledge(self, items: list[_Message]) -> None:
        # An ack on a newer connection would name another packet: skip it; the broker
        # redelivers that message and idempotent storage absorbs the repeat.
        generation = self._generation
        current = [i for i in items if i.qos > 0 and i.generation == generation]
        self._client.ack_many(i.mid for i in current if i.qos == 1)
        for item in current:
            if item.qos == 2:
                self._client.ack(item.mid, item.qos)
        self.stats.acknowledged += len(current)

    # --- lifecycle --------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        """Connect and start processing; raises BrokerUnavailable with a clear reason."""
        broker = self.config.broker
        try:
            self._client.connect(
                broker.host,
                broker.port,
                keepalive=self.config.keepalive_s,
                # MQTT 5 resumes the session with clean_start=False; 3.1.1 uses the
                # clean_session=False given to the client instead.
                clean_start=False
                if self.config.mqtt_version == 5
                else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=self._connect_properties(),
            )
        except (OSError, ssl.SSLError) as exc:
            raise BrokerUnavailable(f"cannot reach MQTT broker {broker}: {exc}") from None
        # The worker runs before the SUBACK: a resumed session delivers its backlog right
        # after CONNACK, beyond our receive maximum (Mosquitto 2.0 resends every unacked
        # message at once), and a full inbox would block paho's thread before it could
        # read the SUBACK we wait for: a deadlock (found by tests/faults, kill -9 + restart).
        self._worker.start()
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.1):
            if self._fatal or time.monotonic() > deadline:
                self._stop.set()  # releases paho's thread if it waits for inbox space
                self._client.loop_stop()
                self._worker.join(timeout=60)
                raise BrokerUnavailable(
                    self._fatal or f"no CONNACK from {broker} in {timeout:.0f} s"
                )

    def run_until(self, stop: threading.Event) -> None:
        """Run until `stop` is set or a fatal error; raises BrokerUnavailable on the latter."""
        while not stop.wait(0.2) and not self._stop.is_set():
            pass
        self.stop()
        if self._fatal:
            raise BrokerUnavailable(self._fatal)

    def stop(self) -> None:
        """Finish the batches already received, acknowledge them, then disconnect."""
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=60)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def fatal_error(self) -> str | None:
        return self._fatal
