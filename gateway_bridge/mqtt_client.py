"""paho's client with fewer system calls per message: buffered reads, acknowledgements in bulk.

paho reads every packet with three `recv` calls (its first byte, its length, its body) and
one `select` before each packet, and sends every PUBACK with a `send` of its own (plus a
wake-up byte on its socket pair when another thread acknowledges). At thousands of
messages per second these system calls are most of the bridge's receive cost. This
subclass changes only that plumbing:

- the socket is wrapped so that one `recv` of up to 64 KiB serves many of paho's small
  reads, and paho's loop reads the packets already buffered (up to 100) before it selects
  again (it asks the socket for `pending()` bytes, the hook paho already has for TLS);
- PUBLISH packets without properties (ChirpStack's) are decoded here, without the MQTT 5
  `Properties` object paho builds for every one of them;
- `ack_many` queues the PUBACKs of a whole batch as one write.

Sessions, keep-alive, reconnection and every other packet stay paho's. The private parts
used here (`_create_socket`, `_handle_publish`, `_in_packet`, `_handle_on_message`,
`_packet_queue`) are those of paho-mqtt 2.2, which the project pins;
tests/bridge/test_mqtt_client.py holds the decoding to paho's own and checks the rest on a
real broker.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

_READ_SIZE = 65536
_PUBACK_PACKET = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id
_U16 = struct.Struct("!H")
# Packets read per loop_read() call at most: a socket that never runs dry refills the buffer
# as it is read, and paho's loop must get back to writing (acknowledgements, keep-alive).
MAX_PACKETS_PER_READ = 100


class BufferedSocket:
    """A socket whose `recv` serves small reads from one larger read."""

    __slots__ = ("_buffer", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        pos = self._pos
        buffered = len(self._buffer) - pos
        if buffered <= 0:
            # May raise BlockingIOError or an SSL want-read: paho handles both as before.
            data: bytes = self._sock.recv(max(size, _READ_SIZE))
            if len(data) <= size:
                return data
            self._buffer, self._pos = data, size
            return data[:size]
        end = pos + min(size, buffered)
        self._pos = end
        return self._buffer[pos:end]

    def pending(self) -> int:
        """Bytes readable without a system call (ours, and the TLS layer's)."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buffer) - self._pos + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """paho's `Client` with buffered reads and bulk acknowledgements."""

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho reads one packet per select(); read on while bytes sit in our buffer, up to
        # MAX_PACKETS_PER_READ so that writes and keep-alive still get their turn.
        rc = super().loop_read(max_packets)
        sock = self._sock
        if not isinstance(sock, BufferedSocket):  # None: the connection was lost meanwhile
            return rc
        buffered: BufferedSocket = sock
        for _ in range(MAX_PACKETS_PER_READ - 1):
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not buffered:
                break
            if buffered.pending() <= 0:
                break
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        # paho builds an MQTT 5 `Properties` object for every PUBLISH (a third of its
        # receive time); ChirpStack's events carry none. Packets without properties, at
        # QoS 0 or 1, are decoded here; anything else (QoS 2, properties, a malformed
        # packet) goes to paho's own decoder, which also reports the malformed ones.
        header: int = self._in_packet["command"]
        packet: bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        try:
            (topic_len,) = _U16.unpack_from(packet, 0)
            pos = 2 + topic_len
            mid = 0
            if qos:
                (mid,) = _U16.unpack_from(packet, pos)
                pos += 2
            if v5:
                if packet[pos] != 0:
                    return super()._handle_publish()
                pos += 1
        except (struct.error, IndexError):
            return super()._handle_publish()
        if qos > 1 or pos > len(packet) or topic_len == 0:
            return super()._handle_publish()
        message = mqtt.MQTTMessage(mid=mid, topic=bytes(packet[2 : 2 + topic_len]))
        message.dup = bool(header & 0x08)
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.payload = bytes(memoryview(packet)[pos:])
        message.timestamp = time.monotonic()
        self._handle_on_message(message)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages (manual acks) with one queued write."""
        pack = _PUBACK_PACKET.pack
        packet = b"".join([pack(mqtt.PUBACK, 2, mid) for mid in mids])
        if packet:
            self._packet_queue(mqtt.PUBACK, packet, 0, 0)
