"""ChirpStack v4 integration events (MQTT), parsed into our own event types.

JSON (pbjson, camelCase) and binary protobuf (chirpstack-api) are both supported; the
protobuf message is converted to the same JSON mapping, so one mapper serves both and
both paths produce identical events. Every rxInfo/txInfo key is optional, `object` may be
absent, and `time` may be implausible (ChirpStack's event reference:
https://www.chirpstack.io/docs/chirpstack/integrations/events.html).

A field that is present but of the wrong type or out of its range is not stored (None), and
never silently: the event carries a `Problem` for it, which the pipeline turns into a
`validate` dead letter referencing the stored row and counts in the metrics.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from gateway_bridge.config import EventFormat
from gateway_bridge.errors import EventParseError

EVENT_TYPES = ("up", "join", "status", "log", "ack", "txack", "location")


class Problem(NamedTuple):
    """A field of the event that was present but not usable: its (ChirpStack) name, why."""

    field: str
    reason: str


class Uplink(NamedTuple):
    """An `up` event, reduced to what ICONE stores. (A NamedTuple: immutable, and built in a
    third of a frozen dataclass's time; one is built per uplink.)"""

    deduplication_id: UUID
    dev_eui: str
    event_time: datetime | None  # ChirpStack's `time` (may be implausible)
    ns_time: datetime | None  # earliest rxInfo nsTime: when ChirpStack received the frame
    f_cnt: int | None
    f_port: int
    data: bytes
    object: Mapping[str, Any] | None
    device_profile_name: str
    tags: Mapping[str, str]
    confirmed: bool
    dr: int | None
    spreading_factor: int | None
    frequency: int | None
    rssi: int | None  # best over gateways
    snr: float | None  # best over gateways
    gateway_ids: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()  # fields sent but not usable (module docstring)


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    """join / status / log / ack / txack / location: kept for technicians and operators."""

    event_type: str
    event_key: str  # deduplicationId, downlinkId, or a digest: idempotency key
    dev_eui: str
    event_time: datetime | None
    level: str = ""
    code: str = ""
    description: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()


Event = Uplink | NetworkEvent


def event_type_from_topic(topic: str) -> str:
    """ChirpStack event topics end with the event name (`.../event/up`)."""
    return topic.rsplit("/", 1)[-1]


def parse_time(value: object) -> datetime | None:
    """RFC 3339 from ChirpStack (`+00:00`, 0-9 fractional digits) or protobuf JSON (`Z`)."""
    if type(value) is not str or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _b64(value: object) -> bytes:
    if not value:
        return b""
    if not isinstance(value, str):
        raise EventParseError("`data` is not a base64 string")
    text = value.replace("-", "+").replace("_", "/")  # accept URL-safe too
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise EventParseError(f"`data` is not valid base64: {exc}") from None


def _int(value: object, low: int, high: int) -> int | None:
    """An integer in [low, high] (pbjson also sends numbers as strings); None otherwise, so
    that a value out of its field's range never reaches the database."""
    if type(value) is int:  # the common case first: this runs ~7 times per uplink
        return value if low <= value <= high else None
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 20:
        return _int(int(value), low, high)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


_U32 = 2**32 - 1


def _checked_int(
    problems: list[Problem], name: str, value: object, low: int, high: int
) -> int | None:
    """`_int`, noting a value that was sent (not None) but is unusable."""
    result = _int(value, low, high)
    if result is None and value is not None:
        problems.append(Problem(name, f"{value!r} is not an integer in {low}..{high}"))
    return result


def _checked_time(problems: list[Problem], name: str, value: object) -> datetime | None:
    result = parse_time(value)
    if result is None and value is not None and value != "":
        problems.append(Problem(name, f"{value!r} is not an RFC 3339 time with an offset"))
    return result


def _checked_map(problems: list[Problem], name: str, value: object) -> Mapping[str, Any]:
    """`_map`, noting a value that was sent but is not an object."""
    result = _map(value)
    if value is not None and result is not value:
        problems.append(Problem(name, f"a {type(value).__name__} where an object is expected"))
    return result


def _checked_bool(problems: list[Problem], name: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    problems.append(Problem(name, f"{value!r} is not a boolean"))
    return None


def _map(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one for any other type (every sub-object is optional)."""
    if type(value) is dict:  # what both parsers produce: skips the slow ABC check
        return value
    return value if isinstance(value, Mapping) else {}


def _dev_eui(doc: Mapping[str, Any]) -> str:
    return _checked_dev_eui(_map(doc.get("deviceInfo")).get("devEui"))


def _checked_dev_eui(dev_eui: object) -> str:
    if not isinstance(dev_eui, str) or len(dev_eui) != 16:
        raise EventParseError("missing or invalid deviceInfo.devEui")
    try:
        int(dev_eui, 16)
    except ValueError:
        raise EventParseError(f"deviceInfo.devEui is not hexadecimal: {dev_eui!r}") from None
    return dev_eui.lower()


# One receiving gateway as the builder below takes it: (gatewayId, rssi, snr, nsTime), raw.
_RxValues = tuple[object, object, object, object]


def _uplink(doc: Mapping[str, Any]) -> Uplink:
    """The lenient path: any JSON document (or protobuf converted to one)."""
    try:
        dedup = UUID(str(doc["deduplicationId"]))
    except (KeyError, ValueError):
        raise EventParseError("missing or invalid deduplicationId") from None
    problems: list[Problem] = []
    info = _checked_map(problems, "deviceInfo", doc.get("deviceInfo"))
    raw_rx = doc.get("rxInfo")
    if raw_rx is not None and not isinstance(raw_rx, list):
        problems.append(Problem("rxInfo", f"a {type(raw_rx).__name__} where a list is expected"))
    elif raw_rx is not None and not all(isinstance(rx, dict) for rx in raw_rx):
        problems.append(Problem("rxInfo", "an entry is not an object"))
    tx_info = _checked_map(problems, "txInfo", doc.get("txInfo"))
    modulation = _checked_map(problems, "txInfo.modulation", tx_info.get("modulation"))
    lora = _checked_map(problems, "txInfo.modulation.lora", modulation.get("lora"))
    raw_obj = doc.get("object")
    obj = _checked_map(problems, "object", raw_obj) if raw_obj is not None else None
    tags = _checked_map(problems, "deviceInfo.tags", info.get("tags"))
    return _build_uplink(
        dedup,
        info.get("devEui"),
        doc.get("time"),
        doc.get("fCnt"),
        doc.get("fPort", 0),
        _b64(doc.get("data")),
        obj if obj is raw_obj else None,
        info.get("deviceProfileName"),
        {str(k): str(v) for k, v in tags.items()},
        _checked_bool(problems, "confirmed", doc.get("confirmed")),
        doc.get("dr"),
        lora.get("spreadingFactor"),
        tx_info.get("frequency"),
        [
            (rx.get("gatewayId"), rx.get("rssi"), rx.get("snr", 0.0), rx.get("nsTime"))
            for rx in (raw_rx if isinstance(raw_rx, list) else ())
            if isinstance(rx, dict)
        ],
        problems,
    )


def _build_uplink(
    dedup: UUID,
    dev_eui: object,
    time: object,
    f_cnt: object,
    f_port: object,
    data: bytes,
    obj: Mapping[str, Any] | None,
    profile: object,
    tags: Mapping[str, str],
    confirmed: bool | None,
    dr: object,
    spreading_factor: object,
    frequency: object,
    rx_info: list[_RxValues],
    problems: list[Problem],
) -> Uplink:
    """The rules both parsing paths share: ranges, best link figures, earliest nsTime; a
    field sent but unusable adds to `problems`."""
    port = _int(f_port, 0, 255)
    if port is None:
        raise EventParseError(f"invalid fPort {f_port!r}")
    rssis = [r for r in (_int(rx[1], -200, 50) for rx in rx_info) if r is not None]
    # gw.* messages drop zero values: an absent snr on a present rxInfo means 0 dB.
    snrs = [
        float(s)
        for s in (rx[2] for rx in rx_info)
        if isinstance(s, (int, float)) and -50 <= s <= 50  # a tuple: faster than a union
    ]
    # Gateways of one uplink usually report the same nsTime string: parse each once.
    ns_strings = {t for rx in rx_info if type(t := rx[3]) is str}
    ns_times = [t for t in map(parse_time, ns_strings) if t is not None]
    if len(rssis) + len(snrs) < 2 * len(rx_info) or len(ns_times) < len(ns_strings):
        _rx_problems(problems, rx_info)  # rare: find which
    if profile is not None and type(profile) is not str:
        problems.append(Problem("deviceInfo.deviceProfileName", f"{profile!r} is not a string"))
    # Positional (Uplink's field order): this runs for every uplink.
    return Uplink(
        dedup,
        _checked_dev_eui(dev_eui),
        _checked_time(problems, "time", time),
        min(ns_times) if ns_times else None,
        _checked_int(problems, "fCnt", f_cnt, 0, _U32),
        port,
        data,
        obj,
        str(profile or ""),
        tags,
        bool(confirmed),
        _checked_int(problems, "dr", dr, 0, 15),
        _checked_int(problems, "txInfo.modulation.lora.spreadingFactor", spreading_factor, 5, 12),
        _checked_int(problems, "txInfo.frequency", frequency, 0, _U32),
        max(rssis) if rssis else None,
        max(snrs) if snrs else None,
        tuple(str(rx[0]) for rx in rx_info if rx[0]),
        tuple(problems),
    )


def _rx_problems(problems: list[Problem], rx_info: list[_RxValues]) -> None:
    """The unusable rssi, snr or nsTime values among the gateways' (an absent rssi or
    nsTime is not a problem: every rxInfo key is optional)."""
    for i, (_gateway, rssi, snr, ns_time) in enumerate(rx_info):
        _checked_int(problems, f"rxInfo[{i}].rssi", rssi, -200, 50)
        usable = isinstance(snr, (int, float)) and not isinstance(snr, bool) and -50 <= snr <= 50
        if snr is not None and not usable:
            problems.append(Problem(f"rxInfo[{i}].snr", f"{snr!r} is not a number in -50..50"))
        _checked_time(problems, f"rxInfo[{i}].nsTime", ns_time)


# --- the typed path ---------------------------------------------------------------------
# ChirpStack's `up` JSON as msgspec structs: decoded in C straight into these fields, the
# ~40 keys ICONE does not store skipped without building objects for them (with the shared
# builder, half the cost of orjson + the lenient path on the fleet's events). Every type is
# strict: a document that does not fit (a number sent as a string, an rxInfo entry that is
# not an object, URL-safe base64, NaN...) fails here and takes the lenient path instead, so
# both paths give the same Uplink for every input (tests/bridge/test_uplink_paths.py).
# Fields are ChirpStack's keys in snake case (`rename="camel"`). `X | None = None` reads
# like `doc.get("X")`: absent and null both give None. The two keys read with another
# default (`fPort` 0, `snr` 0.0) tell absent (UNSET) from null.


class _Rx(msgspec.Struct, rename="camel"):
    gateway_id: str | None = None
    rssi: int | None = None
    snr: float | msgspec.UnsetType | None = msgspec.UNSET
    ns_time: str | None = None


class _Lora(msgspec.Struct, rename="camel"):
    spreading_factor: int | None = None


class _Modulation(msgspec.Struct, rename="camel"):
    lora: _Lora | None = None


class _TxInfo(msgspec.Struct, rename="camel"):
    frequency: int | None = None
    modulation: _Modulation | None = None


class _DeviceInfo(msgspec.Struct, rename="camel"):
    dev_eui: str | None = None
    device_profile_name: str | None = None
    tags: dict[str, str] | None = None


class _UpEvent(msgspec.Struct, rename="camel"):
    deduplication_id: UUID
    device_info: _DeviceInfo | None = None
    time: str | None = None
    f_cnt: int | None = None
    f_port: int | msgspec.UnsetType | None = msgspec.UNSET
    data: bytes | None = None  # base64, decoded by msgspec
    object: dict[str, Any] | None = None
    confirmed: bool | None = None
    dr: int | None = None
    rx_info: list[_Rx] | None = None
    tx_info: _TxInfo | None = None


_UP_DECODER = msgspec.json.Decoder(_UpEvent)
_NO_INFO = _DeviceInfo()


def _typed_uplink(payload: bytes) -> Uplink | None:
    """The uplink of a JSON `up` event that fits the typed schema; None for any other."""
    try:
        # msgspec skips the keys it does not read without checking their UTF-8; the lenient
        # path refuses the whole event for a bad byte anywhere: so does this one.
        if not payload.isascii():
            payload.decode()
        up = _UP_DECODER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError is a DecodeError
        return None  # the lenient path decides
    info = up.device_info or _NO_INFO
    tx = up.tx_info
    modulation = tx.modulation if tx is not None else None
    lora = modulation.lora if modulation is not None else None
    return _build_uplink(
        up.deduplication_id,
        info.dev_eui,
        up.time,
        up.f_cnt,
        0 if up.f_port is msgspec.UNSET else up.f_port,
        up.data or b"",
        up.object,
        info.device_profile_name,
        info.tags or {},
        bool(up.confirmed),
        up.dr,
        lora.spreading_factor if lora is not None else None,
        tx.frequency if tx is not None else None,
        [
            (rx.gateway_id, rx.rssi, 0.0 if rx.snr is msgspec.UNSET else rx.snr, rx.ns_time)
            for rx in up.rx_info or ()
        ],
        [],
    )


# The typed fields of the network events ICONE reads or shows (ChirpStack's integration
# events, JSON mapping); a value of another type is a Problem. Other keys are kept as sent.
_BOOL, _INT, _NUMBER, _TEXT, _OBJECT = (
    "a boolean",
    "an integer",
    "a number",
    "a string",
    "an object",
)
_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "status": {
        "margin": _INT,
        "batteryLevel": _NUMBER,
        "externalPowerSource": _BOOL,
        "batteryLevelUnavailable": _BOOL,
    },
    "ack": {"acknowledged": _BOOL, "fCntDown": _INT, "queueItemId": _TEXT},
    "txack": {"fCntDown": _INT, "queueItemId": _TEXT, "gatewayId": _TEXT},
    "log": {"level": _TEXT, "code": _TEXT, "description": _TEXT, "context": _OBJECT},
    "join": {"devAddr": _TEXT},
    "location": {"location": _OBJECT},
}


def _fits(value: object, kind: str) -> bool:
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return _int(value, -(2**31), _U32) is not None
    if kind == _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if kind == _TEXT:
        return isinstance(value, str)
    return isinstance(value, Mapping)


def _event_problems(event_type: str, doc: Mapping[str, Any]) -> list[Problem]:
    problems = [
        Problem(name, f"{doc[name]!r} is not {kind}")
        for name, kind in _EVENT_FIELDS.get(event_type, {}).items()
        if doc.get(name) is not None and not _fits(doc[name], kind)
    ]
    level = doc.get("batteryLevel")
    if event_type == "status" and _fits(level, _NUMBER) and not 0 <= level <= 100:  # type: ignore[operator]
        problems.append(Problem("batteryLevel", f"{level!r} is not a percentage"))
    return problems


def _network_event(event_type: str, doc: Mapping[str, Any], raw: bytes) -> NetworkEvent:
    problems = _event_problems(event_type, doc)
    key = doc.get("deduplicationId") or doc.get("downlinkId")
    context = _map(doc.get("context"))
    if not key and event_type == "log":
        # Log events have no id of their own. Codec errors and fCnt warnings name their uplink
        # in context.deduplication_id: key on it (and the code) so they correlate; otherwise
        # key on the content, so that a redelivery is a no-op either way.
        uplink_id = context.get("deduplication_id") if context else None
        code = doc.get("code") or ""
        key = f"{uplink_id}:{code}" if uplink_id else hashlib.sha256(raw).hexdigest()[:32]
    # Unusable values are left out of what is stored (the dead letter keeps the raw event).
    unusable = {p.field for p in problems}
    data = {k: v for k, v in doc.items() if k not in ("deviceInfo", "time") and k not in unusable}
    if context:
        data["context"] = dict(context)

    def text(name: str) -> str:
        value = doc.get(name)
        return value if isinstance(value, str) else ""

    return NetworkEvent(
        event_type=event_type,
        event_key=str(key or hashlib.sha256(raw).hexdigest()[:32]),
        dev_eui=_dev_eui(doc),
        event_time=_checked_time(problems, "time", doc.get("time")),
        level=text("level"),
        code=text("code"),
        description=text("description"),
        data=data,
        problems=tuple(problems),
    )


def protobuf_class(event_type: str) -> type[Message]:
    from chirpstack_api import integration  # heavy import: only when protobuf is used

    classes: dict[str, type[Message]] = {
        "up": integration.UplinkEvent,
        "join": integration.JoinEvent,
        "status": integration.StatusEvent,
        "log": integration.LogEvent,
        "ack": integration.AckEvent,
        "txack": integration.TxAckEvent,
        "location": integration.LocationEvent,
    }
    return classes[event_type]


def _document(event_type: str, payload: bytes, fmt: EventFormat) -> Mapping[str, Any]:
    looks_json = payload[:1] == b"{"  # a protobuf event can never start with 0x7B (§1.4)
    if fmt is EventFormat.JSON or looks_json:
        if not looks_json:
            raise EventParseError(
                "payload is not JSON (does ChirpStack publish protobuf? set the event format)"
            )
        try:
            doc = orjson.loads(payload)  # 3x faster than json on ChirpStack's ~1 kB events
        except orjson.JSONDecodeError:
            # json is more lenient (NaN, Infinity): what it accepts stays accepted.
            try:
                doc = json.loads(payload)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise EventParseError(f"invalid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise EventParseError("JSON event is not an object")
        return doc
    try:
        message = protobuf_class(event_type).FromString(payload)
    except DecodeError as exc:
        raise EventParseError(f"invalid protobuf {event_type} event: {exc}") from None
    return json_format.MessageToDict(message)


def parse_event(topic: str, payload: bytes, fmt: EventFormat) -> Event:
    """Parse one MQTT message from ChirpStack. Raises EventParseError with the reason."""
    event_type = event_type_from_topic(topic)
    if event_type not in EVENT_TYPES:
        raise EventParseError(f"unknown ChirpStack event type {event_type!r} in topic")
    if event_type == "up" and payload[:1] == b"{":
        uplink = _typed_uplink(payload)
        if uplink is not None:
            return uplink
    doc = _document(event_type, payload, fmt)
    if event_type == "up":
        return _uplink(doc)
    return _network_event(event_type, doc, payload)
