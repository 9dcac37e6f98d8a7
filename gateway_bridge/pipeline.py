"""From one MQTT message to the rows it produces: parse, pick the time, decode, or dead-letter.

Pure apart from the injected model lookup; the subscriber runs it on every message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import decoders
from gateway_bridge.chirpstack import NetworkEvent, Uplink, parse_event
from gateway_bridge.config import BridgeConfig
from gateway_bridge.errors import EventParseError
from ingest_service.records import (
    Batch,
    DeadLetterRow,
    EventRow,
    MeasurementRow,
    NetworkEventRow,
    UplinkRow,
)

logger = logging.getLogger(__name__)

# dev_eui -> model id from our device registry (None: not registered)
ModelLookup = Callable[[str], str | None]

# LoRaWAN did not exist before 2015; gateways with a dead GPS clock report 1980.
_EARLIEST = datetime.fromisoformat("2015-01-01T00:00:00+00:00")
_FUTURE_SLACK = timedelta(minutes=2)
MODEL_TAG = "icone_model"  # a ChirpStack device/profile tag naming our model id


def choose_time(
    event_time: datetime | None, ns_time: datetime | None, received_at: datetime, max_age: timedelta
) -> tuple[datetime, str]:
    """The uplink's time and where it came from: ChirpStack's `time` when plausible, else
    the network server's receive time, else ours. Plausible = not before 2015, not in the
    future, and not older than the broker could have kept it for us."""
    earliest = max(_EARLIEST, received_at - max_age)
    for candidate, source in ((event_time, "event"), (ns_time, "ns_time")):
        if candidate is not None and earliest <= candidate <= received_at + _FUTURE_SLACK:
            return candidate, source
    return received_at, "received"


def _model_for(uplink: Uplink, lookup: ModelLookup, by_profile: Mapping[str, str]) -> str | None:
    return (
        lookup(uplink.dev_eui)
        or uplink.tags.get(MODEL_TAG)
        or by_profile.get(uplink.device_profile_name)
    )


def _uplink_rows(
    topic: str,
    raw: bytes,
    uplink: Uplink,
    received_at: datetime,
    config: BridgeConfig,
    lookup: ModelLookup,
) -> Batch:
    batch = Batch()
    time, source = choose_time(
        uplink.event_time, uplink.ns_time, received_at, timedelta(seconds=config.session_expiry_s)
    )
    if source != "event":
        logger.warning(
            "implausible uplink time, filed under %s time",
            source,
            extra={
                "dev_eui": uplink.dev_eui,
                "f_cnt": uplink.f_cnt,
                "deduplication_id": str(uplink.deduplication_id),
                "event_time": uplink.event_time.isoformat() if uplink.event_time else None,
            },
        )
    model = _model_for(uplink, lookup, config.model_by_profile)
    status = "ok"
    if uplink.f_port == 0 or not uplink.data:
        status = "no_payload"  # MAC-only frame: link activity, nothing to decode
    elif model is None or not decoders.is_supported(model):
        status = "unknown_device"
        reason = (
            f"device {uplink.dev_eui} is not registered and has no model tag"
            if model is None
            else f"device {uplink.dev_eui} has unknown model {model!r}"
        )
        logger.warning("uplink not decoded: %s", reason, extra={"topic": topic})
        batch.dead_letters.append(
            DeadLetterRow(
                received_at, topic, raw, "decode", reason, uplink.dev_eui, uplink.deduplication_id
            )
        )
    else:
        result = decoders.decode(model, uplink.data, uplink.f_port, time)
        status = "errors" if result.errors else "warnings" if result.warnings else "ok"
        dedup = uplink.deduplication_id
        batch.measurements.extend(
            MeasurementRow(m.time, uplink.dev_eui, m.metric, m.channel, m.value, dedup)
            for m in result.measurements
        )
        batch.events.extend(
            EventRow(e.time, uplink.dev_eui, e.code, e.active, "payload", "", dedup)
            for e in result.events
        )
        if result.errors:
            reason = f"{model}: " + "; ".join(result.errors)
            batch.dead_letters.append(
                DeadLetterRow(received_at, topic, raw, "decode", reason, uplink.dev_eui, dedup)
            )
    batch.uplinks.append(
        UplinkRow(
            time=time,
            deduplication_id=uplink.deduplication_id,
            dev_eui=uplink.dev_eui,
            f_cnt=uplink.f_cnt,
            f_port=uplink.f_port,
            payload=uplink.data,
            time_source=source,
            event_time=uplink.event_time,
            received_at=received_at,
            rssi=uplink.rssi,
            snr=uplink.snr,
            gateway_count=len(uplink.gateway_ids),
            gateway_ids=list(uplink.gateway_ids),
            dr=uplink.dr,
            spreading_factor=uplink.spreading_factor,
            frequency=uplink.frequency,
            model=model,
            decode_status=status,
        )
    )
    return batch


def _network_event_rows(event: NetworkEvent, received_at: datetime, max_age: timedelta) -> Batch:
    time, _ = choose_time(event.event_time, None, received_at, max_age)
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
    return batch


def process_message(
    topic: str,
    payload: bytes,
    received_at: datetime,
    config: BridgeConfig,
    lookup: ModelLookup,
) -> Batch:
    """Everything one MQTT message produces. Never raises: failures become dead letters."""
    try:
        event = parse_event(topic, payload, config.event_format)
    except EventParseError as exc:
        logger.warning("message not parsed: %s", exc, extra={"topic": topic})
        batch = Batch()
        batch.dead_letters.append(DeadLetterRow(received_at, topic, payload, "parse", str(exc)))
        return batch
    if isinstance(event, Uplink):
        return _uplink_rows(topic, payload, event, received_at, config, lookup)
    return _network_event_rows(event, received_at, timedelta(seconds=config.session_expiry_s))
