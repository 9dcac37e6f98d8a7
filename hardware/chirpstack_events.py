"""ChirpStack v4 `up` and `join` events as the MQTT integration publishes them (JSON or
protobuf).

The JSON follows ChirpStack's pbjson output: camelCase, `+00:00` offsets, emitted defaults
for integration fields, and omitted zero values in rxInfo/txInfo.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import datetime
from typing import Any

APPLICATION_ID = "1c0e0000-7a2f-4c1e-9b6e-000000000001"
TENANT_ID = "1c0e0000-7a2f-4c1e-9b6e-000000000000"


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")  # aware UTC -> "+00:00", like chrono


def uplink_event(
    *,
    dev_eui: str,
    model: str,
    f_port: int,
    payload: bytes,
    time: datetime,
    f_cnt: int,
    rng: random.Random,
    deduplication_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    gateways = rng.randint(1, 3)
    rx_info = []
    for g in range(gateways):
        rx: dict[str, Any] = {
            "gatewayId": f"0016c001ff1a2b{g:02x}",
            "uplinkId": rng.randint(1, 2**31),
            "nsTime": _rfc3339(time),
            "rssi": rng.randint(-120, -60),
            "snr": round(rng.uniform(-15, 10), 2),
            "channel": rng.randint(1, 7),
            "crcStatus": "CRC_OK",
        }
        if rx["snr"] == 0:
            del rx["snr"]  # gw.* messages omit zero values
        rx_info.append(rx)
    dedup = deduplication_id or uuid.UUID(int=rng.getrandbits(128), version=4)
    return {
        "deduplicationId": str(dedup),
        "time": _rfc3339(time),
        "deviceInfo": _device_info(dev_eui, model),
        "devAddr": dev_eui[-8:],
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(payload).decode("ascii"),
        "rxInfo": rx_info,
        "txInfo": {
            "frequency": rng.choice((868100000, 868300000, 868500000, 867100000)),
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}
            },
        },
        "regionConfigId": "eu868",
    }


def join_event(*, dev_eui: str, model: str, time: datetime, rng: random.Random) -> dict[str, Any]:
    """The `join` event ChirpStack publishes when the device's OTAA join is accepted."""
    return {
        "deduplicationId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "time": _rfc3339(time),
        "deviceInfo": _device_info(dev_eui, model),
        "devAddr": dev_eui[-8:],
        "regionConfigId": "eu868",
    }


def _device_info(dev_eui: str, model: str) -> dict[str, Any]:
    return {
        "tenantId": TENANT_ID,
        "tenantName": "Tours Métropole",
        "applicationId": APPLICATION_ID,
        "applicationName": "icone",
        "deviceProfileId": str(uuid.uuid5(uuid.NAMESPACE_URL, model)),
        "deviceProfileName": model,
        "deviceName": f"{model}-{dev_eui[-4:]}",
        "devEui": dev_eui,
        "deviceClassEnabled": "CLASS_A",
        "tags": {"icone_model": model},
    }


def topic_for(dev_eui: str, event: str = "up") -> str:
    return f"application/{APPLICATION_ID}/device/{dev_eui}/event/{event}"


def encode_event(event: dict[str, Any], protobuf: bool, event_type: str = "up") -> bytes:
    """The MQTT payload: ChirpStack JSON, or the binary protobuf message."""
    if not protobuf:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    from google.protobuf import json_format

    from gateway_bridge.chirpstack import protobuf_class

    message = json_format.ParseDict(event, protobuf_class(event_type)(), ignore_unknown_fields=True)
    return bytes(message.SerializeToString())
