"""From one MQTT message to the rows it produces: parse, pick the time, decode, or dead-letter.

`Processor` is pure apart from the injected model lookup and the metrics it counts; the
ingest service runs it on every spooled message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import decoders
from decoders.chirpstack_object import OBJECT_MAPPINGS, decode_object
from gateway_bridge.chirpstack import NetworkEvent, Problem, Uplink, parse_event
from gateway_bridge.config import BridgeConfig
from gateway_bridge.errors import EventParseError
from gateway_bridge.metrics import BridgeMetrics
from storage.records import (
    Batch,
    EventRow,
    InboundMessage,
    MeasurementRow,
    NetworkEventRow,
    UplinkRow,
)

logger = logging.getLogger(__name__)

_new_row = tuple.__new__

# dev_eui -> model id from our device registry (None: not registered)
ModelLookup = Callable[[str], str | None]

# LoRaWAN did not exist before 2015; gateways with a dead GPS clock report 1980.
_EARLIEST = datetime.fromisoformat("2015-01-01T00:00:00+00:00")
_FUTURE_SLACK = timedelta(minutes=2)
MODEL_TAG = "icone_model"  # a ChirpStack device/profile tag naming our model id
NETWORK_CHANNEL = "network"  # channel of values reported by ChirpStack, not by the payload


def choose_time(
    event_time: datetime | None, ns_time: datetime | None, received_at: datetime
) -> tuple[datetime, str]:
    """The uplink's time and where it came from: ChirpStack's `time` when plausible (not
    before 2015, when LoRaWAN did not exist and dead GPS clocks say 1980, and not in the
    future), else the network server's receive time, else ours.

    Old but plausible times are kept: a backlog drained after an outage is legitimately old.
    The first two are carried in the event, so a redelivered message gets the same time and
    stays idempotent; only the last resort (ChirpStack < 4.6 has no nsTime) depends on us.
    """
    for candidate, source in ((event_time, "event"), (ns_time, "ns_time")):
        if candidate is not None and _EARLIEST <= candidate <= received_at + _FUTURE_SLACK:
            return candidate, source
    return received_at, "received"


class Processor:
    """Turns InboundMessages into rows. Never raises: every failure becomes a dead letter."""

    def __init__(
        self, config: BridgeConfig, lookup: ModelLookup, metrics: BridgeMetrics | None = None
    ) -> None:
        self._config = config
        self._lookup = lookup
        self._metrics = metrics or BridgeMetrics()
        # prometheus_client's labels() hashes and locks on every call: keep the children.
        self._processed: dict[tuple[str, str, str], Any] = {}

    def _count(self, event_type: str, model: str, outcome: str) -> None:
        key = (event_type, model, outcome)
        child = self._processed.get(key)
        if child is None:
            child = self._processed[key] = self._metrics.processed.labels(*key)
        child.inc()

    def __call__(self, message: InboundMessage) -> Batch:
        return self.process(message)

    def process(self, message: InboundMessage) -> Batch:
        topic, payload, received_at = message.topic, message.payload, message.received_at
        event_type = topic.rsplit("/", 1)[-1]
        if len(payload) > self._config.max_message_bytes:
            return self._dead(
                message,
                "parse",
                f"message of {len(payload)} bytes exceeds {self._config.max_message_bytes}",
                event_type,
            )
        try:
            event = parse_event(topic, payload, self._config.event_format)
        except EventParseError as exc:
            return self._dead(message, "parse", str(exc), event_type)
        try:
            if isinstance(event, Uplink):
                batch = self._uplink_rows(message, event)
                dedup: Any = event.deduplication_id
            else:
                batch = self._network_event_rows(event, received_at)
                dedup = None
            if event.problems:
                self._validate_dead_letter(batch, message, event_type, event, dedup)
            return batch
        except Exception as exc:  # the outermost guard: a bug must not stop the stream
            logger.exception("processing failed", extra={"topic": topic})
            return self._dead(message, "decode", f"internal error: {exc!r}", event_type)

    def _dead(
        self,
        message: InboundMessage,
        stage: str,
        reason: str,
        event_type: str,
        dev_eui: str | None = None,
    ) -> Batch:
        logger.warning(
            "message not %s: %s",
            "parsed" if stage == "parse" else "decoded",
            reason,
            extra={"topic": message.topic},
        )
        self._count(event_type, "", f"{stage}_error")
        self._metrics.dead_letters.labels(stage).inc()
        batch = Batch()
        batch.dead_letters.append(message.dead_letter(stage, reason, dev_eui))
        return batch

    def _validate_dead_letter(
        self,
        batch: Batch,
        message: InboundMessage,
        event_type: str,
        event: Uplink | NetworkEvent,
        deduplication_id: Any,
    ) -> None:
        """The event's usable parts are stored; what was not usable is recorded as a
        `validate` dead letter naming the fields (and the stored uplink), and counted."""
        reason = "fields not usable, stored without them: " + "; ".join(
            f"{p.field}: {p.reason}" for p in event.problems
        )
        logger.warning(
            "%s event from %s: %s",
            event_type,
            event.dev_eui,
            reason,
            extra={"topic": message.topic},
        )
        for problem in event.problems:
            self._metrics.invalid_fields.labels(event_type, _field_label(problem)).inc()
        self._metrics.dead_letters.labels("validate").inc()
        batch.dead_letters.append(
            message.dead_letter("validate", reason, event.dev_eui, deduplication_id)
        )

    def _decode_dead_letter(
        self, batch: Batch, message: InboundMessage, uplink: Uplink, reason: str
    ) -> None:
        """The uplink row is kept; its raw message also goes to dead letters for replay."""
        self._metrics.dead_letters.labels("decode").inc()
        batch.dead_letters.append(
            message.dead_letter("decode", reason, uplink.dev_eui, uplink.deduplication_id)
        )

    def _model_for(self, uplink: Uplink) -> str | None:
        return (
            self._lookup(uplink.dev_eui)
            or uplink.tags.get(MODEL_TAG)
            or self._config.model_by_profile.get(uplink.device_profile_name)
        )

    def _decode(self, model: str, uplink: Uplink, time: datetime) -> decoders.DecodeResult:
        if (
            self._config.use_chirpstack_object
            and uplink.object is not None
            and model in OBJECT_MAPPINGS
        ):
            return decode_object(model, uplink.object, time)
        return decoders.decode(model, uplink.data, uplink.f_port, time)

    def _uplink_rows(self, message: InboundMessage, uplink: Uplink) -> Batch:
        batch = Batch()
        time, source = choose_time(uplink.event_time, uplink.ns_time, message.received_at)
        if source != "event":
            logger.warning(
                "implausible uplink time %s, filed under %s time",
                uplink.event_time,
                source,
                extra=_log_extra(uplink),
            )
        self._metrics.lag.set((message.received_at - time).total_seconds())
        model = self._model_for(uplink)
        dedup = uplink.deduplication_id
        if uplink.f_port == 0 or not uplink.data:
            status = "no_payload"  # MAC-only frame: link activity, nothing to decode
        elif model is None or not decoders.is_supported(model):
            status = "unknown_device"
            reason = (
                f"device {uplink.dev_eui} is not registered and has no model tag"
                if model is None
                else f"device {uplink.dev_eui} has unknown model {model!r}"
            )
            logger.warning(
                "uplink not decoded: %s",
                reason,
                extra={"topic": message.topic, **_log_extra(uplink)},
            )
            self._decode_dead_letter(batch, message, uplink, reason)
        else:
            result = self._decode(model, uplink, time)
            status = "failed" if result.errors else "warnings" if result.warnings else "decoded"
            dev_eui = uplink.dev_eui
            # tuple.__new__: the NamedTuple without its Python-level __new__ (a third of the
            # cost; ~6 rows per uplink, 23 for a logging water meter)
            batch.measurements = [
                _new_row(MeasurementRow, (m.time, dev_eui, m.metric, m.channel, m.value))
                for m in result.measurements
            ]
            batch.events = [
                _new_row(EventRow, (e.time, dev_eui, e.code, e.active, "payload", "", dedup))
                for e in result.events
            ]
            self._metrics.measurements.inc(len(result.measurements))
            if result.errors:
                reason = f"{model}: " + "; ".join(result.errors)
                logger.warning("decode errors: %s", reason, extra=_log_extra(uplink))
                self._decode_dead_letter(batch, message, uplink, reason)
        self._count("up", model or "", status)
        # In UplinkRow's field order, without its Python-level __new__ (~1 µs per uplink)
        batch.uplinks.append(
            _new_row(
                UplinkRow,
                (
                    time,
                    dedup,
                    uplink.dev_eui,
                    uplink.f_cnt,
                    uplink.f_port,
                    uplink.data,
                    source,
                    uplink.event_time,
                    message.received_at,
                    uplink.rssi,
                    uplink.snr,
                    len(uplink.gateway_ids),
                    list(uplink.gateway_ids),
                    uplink.dr,
                    uplink.spreading_factor,
                    uplink.frequency,
                    model,
                    _STATUS_COLUMN[status],
                ),
            )
        )
        return batch

    def _network_event_rows(self, event: NetworkEvent, received_at: datetime) -> Batch:
        time, _ = choose_time(event.event_time, None, received_at)
        batch = Batch()
        batch.network_events.append(
            NetworkEventRow(
                time=time,
                dev_eui=event.dev_eui,
                event_type=event.event_type,
                event_key=event.event_key,
                level=event.level,
                code=event.code,
                description=event.description,
                data=json.dumps(event.data, default=str, sort_keys=True),
            )
        )
        if event.event_type == "status":
            battery = _status_battery(event.data)
            if battery is not None:
                batch.measurements.append(
                    MeasurementRow(time, event.dev_eui, "battery_level", NETWORK_CHANNEL, battery)
                )
        if event.event_type == "log" and event.level in ("ERROR", "WARNING"):
            logger.warning(
                "ChirpStack %s %s: %s",
                event.level,
                event.code,
                event.description,
                extra={
                    "dev_eui": event.dev_eui,
                    "deduplication_id": _context(event.data).get("deduplication_id", ""),
                },
            )
        self._count(event.event_type, "", "recorded")
        return batch


def _context(data: Mapping[str, Any]) -> Mapping[str, Any]:
    context = data.get("context")
    return context if isinstance(context, Mapping) else {}


def _field_label(problem: Problem) -> str:
    """The metric label of a field: without gateway indexes (`rxInfo[3].rssi` ->
    `rxInfo.rssi`), so that the label set stays small."""
    return problem.field.split("[", 1)[0] + (
        "." + problem.field.rsplit(".", 1)[1] if "[" in problem.field else ""
    )


def _log_extra(uplink: Uplink) -> dict[str, object]:
    """Log context of an uplink, built only when something is logged."""
    return {
        "dev_eui": uplink.dev_eui,
        "f_cnt": uplink.f_cnt,
        "deduplication_id": str(uplink.deduplication_id),
    }


_STATUS_COLUMN = {
    "decoded": "ok",
    "warnings": "warnings",
    "failed": "errors",
    "unknown_device": "unknown_device",
    "no_payload": "no_payload",
}


def _status_battery(data: Mapping[str, object]) -> float | None:
    """ChirpStack's DevStatusAns battery %, unless the device is mains-powered or cannot tell."""
    if data.get("externalPowerSource") or data.get("batteryLevelUnavailable"):
        return None
    level = data.get("batteryLevel")
    return float(level) if isinstance(level, int | float) and 0 <= level <= 100 else None
