"""Shared machinery of the fault tests: a bridge subprocess, a persistent MQTT session,
a publisher that knows which messages the broker accepted, and the row counts a clean
run of a stream gives (computed independently of the bridge under test)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway_bridge.config import BrokerAddress
from hardware import simulator
from hardware.fleet import VirtualDevice

REPO = Path(__file__).resolve().parents[2]
TOPIC_FILTER = "application/+/device/+/event/+"  # the bridge's default subscription
MeasurementKey = tuple[str, str, str, datetime]  # (dev_eui, metric, channel, time)


@dataclass(frozen=True, slots=True)
class Stream:
    """A realistic stream of ChirpStack `up` events from the virtual fleet, with what each
    message must produce: its deduplicationId and its measurement keys."""

    fleet: list[VirtualDevice]
    messages: list[tuple[str, bytes]]  # (topic, payload)
    dedup_ids: list[str]
    measurement_keys: list[tuple[MeasurementKey, ...]]

    def expected_measurements(self, indices: range | Sequence[int]) -> int:
        """Distinct (device, metric, channel, time) keys of these messages: what a clean,
        exactly-once run stores (keys can repeat across messages, e.g. history records)."""
        keys: set[MeasurementKey] = set()
        for i in indices:
            keys.update(self.measurement_keys[i])
        return len(keys)


def dedup_id_of(payload: bytes) -> str:
    return str(json.loads(payload)["deduplicationId"])


# --- the database ------------------------------------------------------------------------


def count(database_url: str, query: str, params: tuple[object, ...] = ()) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def stored_dedup_ids(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {str(r[0]) for r in conn.execute("SELECT deduplication_id FROM uplinks")}


def uplinks(database_url: str) -> int:
    return count(database_url, "SELECT count(*) FROM uplinks")


# --- the bridge as a process ---------------------------------------------------------------


class BridgeProcess:
    """`python -m icone bridge` with a fixed client id and state dir, so a restart resumes
    the same persistent MQTT session and recovers the same spool."""

    def __init__(
        self,
        database_url: str,
        mqtt_url: str,
        state_dir: Path,
        client_id: str,
        log: Path,
        ingest_workers: int = 0,
    ) -> None:
        self.state_dir = state_dir
        self.client_id = client_id
        self.log = log
        self._env = {
            **os.environ,
            "ICONE_DATABASE_URL": database_url,
            "ICONE_MQTT_URL": mqtt_url,
            "ICONE_STATE_DIR": str(state_dir),
            "ICONE_BRIDGE__CLIENT_ID": client_id,
            "ICONE_LOG_LEVEL": "WARNING",
            "ICONE_LOG_JSON": "false",
            "ICONE_BRIDGE__INGEST_WORKERS": str(ingest_workers),
        }
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool" / self.client_id

    def start(self) -> None:
        assert self._proc is None or self._proc.poll() is not None, "already running"
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "icone", "bridge"],
                env=self._env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self._proc.returncode if self._proc else None
            raise AssertionError(f"the bridge exited (code {code}):\n{self.log_text()[-3000:]}")

    def kill(self) -> int:
        """SIGKILL: no clean-up of any kind, like a power cut of the process."""
        return self._signal(signal.SIGKILL, 10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM: the bridge drains what it holds, acknowledges, and exits."""
        return self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: int, timeout: float) -> int:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
        return self._proc.wait(timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> BridgeProcess:
        self.start()
        return self

    def __exit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 60,
    bridge: BridgeProcess | None = None,
) -> None:
    """Poll `condition`; fail on timeout, or at once (with its log) if `bridge` died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if bridge is not None:
            bridge.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


# --- MQTT ------------------------------------------------------------------------------


def _client(broker: BrokerAddress, client_id: str) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if broker.username:
        client.username_pw_set(
            broker.username, broker.password.get_secret_value() if broker.password else None
        )
    return client


def create_session(mqtt_url: str, client_id: str) -> None:
    """Create the bridge's persistent session and subscription before it first runs, so
    the broker queues for it from the first message published (the bridge resumes it)."""
    broker = BrokerAddress.from_url(mqtt_url)
    client = _client(broker, client_id)
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(TOPIC_FILTER, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=True, properties=props)
    client.loop_start()
    try:
        assert subscribed.wait(10), "the broker did not acknowledge the subscription"
    finally:
        client.disconnect()
        client.loop_stop()


class Publisher:
    """Publishes at QoS 1 from a thread; a message counts as accepted by the broker only
    once its PUBACK arrived. `stop_now` abandons the rest (as when the broker goes away)."""

    def __init__(self, mqtt_url: str, window: int = 1000) -> None:
        broker = BrokerAddress.from_url(mqtt_url)
        self._client = simulator.connect(
            broker.host,
            broker.port,
            broker.username,
            broker.password.get_secret_value() if broker.password else None,
            client_id=f"fault-pub-{uuid.uuid4().hex[:8]}",
        )
        self._window = window
        self._infos: list[tuple[int, mqtt.MQTTMessageInfo]] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(
        self,
        messages: Sequence[tuple[str, bytes]],
        indices: Sequence[int],
        rate: float | None = None,
    ) -> None:
        """Publish `messages[i]` for i in `indices`, at most `rate` per second if given."""
        self._thread = threading.Thread(
            target=self._run, args=(messages, indices, rate), name="fault-publisher", daemon=True
        )
        self._thread.start()

    def _run(
        self, messages: Sequence[tuple[str, bytes]], indices: Sequence[int], rate: float | None
    ) -> None:
        started = time.monotonic()
        try:
            for n, i in enumerate(indices):
                if self._halt.is_set():
                    return
                if rate is not None:
                    # pacing of the stream (a realistic arrival rate), not a wait for a result
                    self._halt.wait(max(0.0, started + n / rate - time.monotonic()))
                topic, payload = messages[i]
                info = self._client.publish(topic, payload, qos=1)
                with self._lock:
                    self._infos.append((i, info))
                # bounded: wait for the broker to acknowledge the window before going on
                if len(self._infos) % self._window == 0:
                    for _, earlier in self._infos[-self._window :]:
                        while not earlier.is_published() and not self._halt.is_set():
                            earlier.wait_for_publish(timeout=0.2)
        except BaseException as exc:  # reported by join(); a test thread must not die silently
            self.error = exc

    def accepted(self) -> list[int]:
        """Indices of the messages whose PUBACK arrived."""
        with self._lock:
            return [i for i, info in self._infos if _acknowledged(info)]

    def join(self, timeout: float = 120) -> list[int]:
        """Wait until every message is published and acknowledged; their indices."""
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the publisher did not finish"
        if self.error is not None:
            raise self.error
        with self._lock:
            infos = list(self._infos)
        for _, info in infos:
            info.wait_for_publish(timeout=60)
            assert info.is_published()
        self.close()
        return [i for i, _ in infos]

    def stop_now(self) -> list[int]:
        """Stop publishing at once and drop the connection; the accepted indices."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(30)
        self._client.loop_stop()  # nothing more can be acknowledged after this
        accepted = self.accepted()
        self._client.disconnect()
        return accepted

    def close(self) -> None:
        self._halt.set()
        self._client.disconnect()
        self._client.loop_stop()


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):  # never sent: published while the broker was gone
        return False


def publish_and_wait(mqtt_url: str, messages: Sequence[tuple[str, bytes]]) -> None:
    publisher = Publisher(mqtt_url)
    publisher.start(messages, range(len(messages)))
    publisher.join()


# --- the spool, read from outside ---------------------------------------------------------

_HEADER = struct.Struct(">II")  # the spool's record header: body length, CRC32


def last_segment(spool_dir: Path) -> Path:
    segments = sorted(spool_dir.glob("*.seg"))
    assert segments, f"no spool segment in {spool_dir}"
    return segments[-1]


def frame_count(data: bytes) -> tuple[int, int]:
    """(complete frames, end of the last one): an independent reading of the spool format
    (length only; the spool itself also checks each body's CRC)."""
    offset = records = 0
    while offset + _HEADER.size <= len(data):
        length, _ = _HEADER.unpack_from(data, offset)
        if offset + _HEADER.size + length > len(data):
            break
        offset += _HEADER.size + length
        records += 1
    return records, offset


def spool_bytes(spool_dir: Path) -> int:
    return sum(p.stat().st_size for p in spool_dir.glob("*.seg"))


def fields(payload: bytes) -> dict[str, Any]:
    doc = json.loads(payload)
    assert isinstance(doc, dict)
    return doc
