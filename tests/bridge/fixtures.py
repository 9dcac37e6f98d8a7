"""ChirpStack v4 events of every type, as ChirpStack's MQTT integration publishes them."""

from __future__ import annotations

import random
import uuid
from typing import Any

from hardware.chirpstack_events import APPLICATION_ID, TENANT_ID, uplink_event

DEV_EUI = "a84041000181c2d7"
MODEL = "milesight-em300-th"

DEVICE_INFO = {
    "tenantId": TENANT_ID,
    "tenantName": "Tours Métropole",
    "applicationId": APPLICATION_ID,
    "applicationName": "icone",
    "deviceProfileId": "7e9a1c3b-5d7f-4a2c-8e0b-3d5f7a9c1e4b",
    "deviceProfileName": "EM300-TH EU868",
    "deviceName": "rack-b4-inlet",
    "devEui": DEV_EUI,
    "deviceClassEnabled": "CLASS_A",
    "tags": {"site": "datacenter"},
}


def up(
    payload_hex: str = "01754E0367F800046882",
    f_cnt: int = 1,
    seed: int = 1,
    time: str = "2026-03-14T09:26:53.589793238+00:00",
) -> dict[str, Any]:
    event = uplink_event(
        dev_eui=DEV_EUI,
        model=MODEL,
        f_port=85,
        payload=bytes.fromhex(payload_hex),
        time=_dt(time),
        f_cnt=f_cnt,
        rng=random.Random(seed),
    )
    event["time"] = time
    event["deviceInfo"] = dict(DEVICE_INFO)
    return event


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def others() -> dict[str, dict[str, Any]]:
    """One event of every non-uplink type (shapes from ChirpStack's integration.proto)."""
    return {
        "join": {
            "deduplicationId": "e41b7c2a-90d3-4f5e-b6a8-2c9d1e0f7a35",
            "time": "2026-03-14T08:02:11.204511+00:00",
            "deviceInfo": DEVICE_INFO,
            "devAddr": "260b4f1a",
            "regionConfigId": "eu868",
        },
        "status": {
            "deduplicationId": "91c0d4e2-3a5b-4c7d-8e9f-0a1b2c3d4e5f",
            "time": "2026-03-14T12:40:07.118342+00:00",
            "deviceInfo": DEVICE_INFO,
            "margin": 9,
            "externalPowerSource": False,
            "batteryLevelUnavailable": False,
            "batteryLevel": 83.85827,
        },
        "log": {
            "time": "2026-03-14T09:26:53.803377412+00:00",
            "deviceInfo": DEVICE_INFO,
            "level": "ERROR",
            "code": "UPLINK_CODEC",
            "description": "decodeUplink returned errors: unsupported frame type 0x7f",
            "context": {"deduplication_id": "5d0f3b8e-2c41-4f7a-9b6e-8a1c2d3e4f50"},
        },
        "ack": {
            "deduplicationId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "time": "2026-03-14T09:30:00.5+00:00",
            "deviceInfo": DEVICE_INFO,
            "queueItemId": str(uuid.UUID(int=7)),
            "acknowledged": True,
            "fCntDown": 12,
        },
        "txack": {
            "downlinkId": 3735928559,
            "time": "2026-03-14T09:29:59+00:00",
            "deviceInfo": DEVICE_INFO,
            "queueItemId": str(uuid.UUID(int=7)),
            "fCntDown": 12,
            "gatewayId": "0016c001ff1a2b3c",
            "txInfo": {
                "frequency": 869525000,
                "power": 14,
                "modulation": {
                    "lora": {"bandwidth": 125000, "spreadingFactor": 9, "codeRate": "CR_4_5"}
                },
                "timing": {"delay": {"delay": "1s"}},
            },
        },
        "location": {
            "deduplicationId": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
            "time": "2026-03-14T09:31:00+00:00",
            "deviceInfo": DEVICE_INFO,
            "location": {
                "latitude": 47.39,
                "longitude": 0.69,
                "altitude": 60.0,
                "source": "GEO_RESOLVER_TDOA",
                "accuracy": 20.0,
            },
        },
    }
