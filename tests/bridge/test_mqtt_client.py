"""The bridge's MQTT client (`gateway_bridge.mqtt_client`): paho with buffered reads, its own
PUBLISH decoding for packets without properties, and bulk acknowledgements.

The decoder is held to paho's own on every packet hypothesis makes up (valid or not); the
reads and acknowledgements are checked on real sockets and a real Mosquitto.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway_bridge.config import BrokerAddress
from gateway_bridge.mqtt_client import MAX_PACKETS_PER_READ, BufferedClient, BufferedSocket
from icone.embedded import RunningService
from tests.system.helpers import publisher, wait_for

V5, V311 = MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311


class _CountingSocket:
    """A real socket that counts its recv() calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls = 0

    def recv(self, size: int) -> bytes:
        self.calls += 1
        return self.sock.recv(size)


def test_small_reads_are_served_from_one_system_read() -> None:
    a, b = socket.socketpair()
    with a, b:
        data = bytes(range(256)) * 40  # 10,240 bytes
        a.sendall(data)
        counting = _CountingSocket(b)
        buffered = BufferedSocket(counting)
        got = bytearray()
        sizes = [1, 1, 2, 7, 500, 3, 1, 4096, 10_000]
        for size in sizes:
            chunk = buffered.recv(size)
            assert 0 < len(chunk) <= size
            got += chunk
            if len(got) == len(data):
                break
        assert bytes(got) == data
        assert counting.calls == 1
        assert buffered.pending() == 0
        b.setblocking(False)
        with pytest.raises(
            BlockingIOError
        ):  # nothing left: the socket's own error, as paho expects
            buffered.recv(1)


def test_pending_counts_buffered_bytes_and_other_attributes_pass_through() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"abcdef")
        buffered = BufferedSocket(b)
        assert buffered.recv(2) == b"ab"
        assert buffered.pending() == 4
        assert buffered.fileno() == b.fileno()
        assert buffered.recv(100) == b"cdef"
        assert buffered.pending() == 0


def _publish_body(
    topic: bytes, mid: int | None, properties: Properties | None, payload: bytes
) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if mid is not None:
        body += struct.pack("!H", mid)
    if properties is not None:
        body += properties.pack()  # type: ignore[no-untyped-call]
    return body + payload


def _handle(
    client_class: type[mqtt.Client], protocol: MQTTProtocolVersion, header: int, body: bytes
) -> Any:
    """What a client makes of one PUBLISH packet: the message its callback got, or the error."""
    client = client_class(
        CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol, manual_ack=True
    )
    got: list[mqtt.MQTTMessage] = []
    client.on_message = lambda _c, _u, msg: got.append(msg)
    client._in_packet = {
        "command": header,
        "have_remaining": 1,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(body),
        "packet": bytearray(body),
        "to_process": 0,
        "pos": 0,
    }
    try:
        rc = client._handle_publish()
    except Exception as exc:
        return ("raised", type(exc).__name__)
    if not got:
        return ("no message", rc)
    msg = got[0]
    props = msg.properties
    # paho gives an empty Properties object where ours gives None: the same information.
    props_json = props.json() if props is not None else {}  # type: ignore[no-untyped-call]
    return (
        rc,
        msg.topic if _utf8(msg) else None,
        msg._topic,
        msg.payload,
        msg.mid,
        msg.qos,
        msg.dup,
        msg.retain,
        props_json,
        type(msg.payload),
    )


def _utf8(msg: mqtt.MQTTMessage) -> bool:
    try:
        _ = msg.topic
    except UnicodeDecodeError:
        return False
    return True


_properties = st.one_of(
    st.none(),
    st.builds(lambda: Properties(PacketTypes.PUBLISH)),  # present but empty
    st.integers(1, 1 << 20).map(lambda s: _with(MessageExpiryInterval=s)),
    st.text(max_size=10).map(lambda v: _with(UserProperty=[("k", v)])),
)


def _with(**values: Any) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return props


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    topic=st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=20)),
    qos=st.integers(0, 3),
    dup=st.booleans(),
    retain=st.booleans(),
    mid=st.integers(0, 65535),
    properties=_properties,
    payload=st.binary(max_size=300),
    protocol=st.sampled_from([V5, V311]),
    cut=st.one_of(st.none(), st.integers(0, 40)),
)
def test_publish_decoding_matches_paho(
    topic: bytes,
    qos: int,
    dup: bool,
    retain: bool,
    mid: int,
    properties: Properties | None,
    payload: bytes,
    protocol: MQTTProtocolVersion,
    cut: int | None,
) -> None:
    header = 0x30 | (dup << 3) | (qos << 1) | retain
    body = _publish_body(
        topic, mid if qos else None, properties if protocol == V5 else None, payload
    )
    if cut is not None:
        body = body[:cut]  # truncated or otherwise malformed packets too
    ours = _handle(BufferedClient, protocol, header, body)
    theirs = _handle(mqtt.Client, protocol, header, body)
    assert ours == theirs


def _client(address: BrokerAddress, client_id: str) -> BufferedClient:
    client = BufferedClient(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=V5, manual_ack=True
    )
    if address.username:
        client.username_pw_set(
            address.username, address.password.get_secret_value() if address.password else None
        )
    return client


def test_ack_many_acknowledges_on_a_real_broker(broker: RunningService) -> None:
    address = BrokerAddress.from_url(broker.url)
    topic = f"test/acks/{uuid.uuid4().hex[:6]}"
    client_id = f"test-acks-{uuid.uuid4().hex[:6]}"
    # Sizes across the 64 KiB read: packets split over reads, several packets per read.
    payloads = [bytes([i % 251]) * (i * 97 % 150_000) for i in range(400)]

    def session() -> tuple[BufferedClient, list[mqtt.MQTTMessage], threading.Event]:
        client = _client(address, client_id)
        got: list[mqtt.MQTTMessage] = []
        subscribed = threading.Event()
        client.on_message = lambda _c, _u, msg: got.append(msg)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        client.connect(address.host, address.port, clean_start=False, properties=props)
        client.loop_start()
        assert subscribed.wait(10)
        return client, got, subscribed

    first, got, _ = session()
    pub = publisher(broker.url)
    for payload in payloads:
        pub.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    wait_for(lambda: len(got) == len(payloads), what="every message")
    assert [m.payload for m in got] == payloads  # intact and in order
    first.ack_many(m.mid for m in got[:300])  # the rest stays unacknowledged
    # The broker handles one connection's packets in order: once it acknowledges a PUBLISH
    # sent after the PUBACKs, it has processed them. (Waiting for `want_write()` to turn
    # false was racy: paho pops a packet before writing it, and a disconnect right after
    # could reach the broker before the PUBACKs were read, on a loaded machine.)
    first.publish(f"{topic}/sync", b"", qos=1).wait_for_publish(timeout=10)
    first.disconnect()
    first.loop_stop()

    second, again, _ = session()
    wait_for(lambda: len(again) >= 100, what="the unacknowledged messages again")
    second.ack_many(m.mid for m in again)
    wait_for(lambda: not second.want_write(), what="the acknowledgements written")
    second.disconnect()
    second.loop_stop()
    pub.disconnect()
    assert [m.payload for m in again] == payloads[300:]  # exactly the unacknowledged ones
    assert all(m.dup for m in again)  # redelivered, as the broker marks them


def test_a_read_call_stops_after_a_bounded_number_of_packets(broker: RunningService) -> None:
    """A socket that never runs dry must not keep paho's loop from writing (acks, pings)."""
    address = BrokerAddress.from_url(broker.url)
    topic = f"test/bound/{uuid.uuid4().hex[:6]}"
    client_id = f"test-bound-{uuid.uuid4().hex[:6]}"
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 600

    def client() -> BufferedClient:
        return _client(address, client_id)

    first = client()  # the persistent session and its subscription, then away
    subscribed = threading.Event()
    first.on_subscribe = lambda *_: subscribed.set()
    first.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    first.connect(address.host, address.port, clean_start=False, properties=props)
    first.loop_start()
    assert subscribed.wait(10)
    first.disconnect()
    first.loop_stop()
    pub = publisher(broker.url)
    n = 1500  # ~100 bytes each: several per 64 KiB read, more than one bound's worth
    for i in range(n):
        pub.publish(topic, b"x" * 60 + str(i).encode(), qos=1).wait_for_publish(timeout=10)
    pub.disconnect()

    second = client()
    got: list[mqtt.MQTTMessage] = []
    second.on_message = lambda _c, _u, msg: got.append(msg)
    second.connect(address.host, address.port, clean_start=False, properties=props)
    per_call: list[int] = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        before = len(got)
        second.loop(timeout=1.0)  # one select, then one loop_read()
        per_call.append(len(got) - before)
    second.ack_many(m.mid for m in got)
    second.loop(timeout=1.0)
    second.disconnect()
    assert [m.payload for m in got] == [b"x" * 60 + str(i).encode() for i in range(n)]
    assert max(per_call) <= MAX_PACKETS_PER_READ
    assert max(per_call) > 1  # several packets per system read
