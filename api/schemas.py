"""Response and request models of the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    database: str
    storage_mode: str | None
    schema_version: int | None
    version: str


class DevicePublic(BaseModel):
    dev_eui: str
    model: str
    name: str
    site_id: str | None
    location: str
    role: str | None
    status: str
    last_seen: datetime | None


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


class MeasurementPublic(BaseModel):
    time: datetime
    metric: str
    channel: str
    value: float
    unit: str


class MeasurementsPublic(BaseModel):
    dev_eui: str
    data: list[MeasurementPublic]
    count: int


class UplinkPublic(BaseModel):
    time: datetime
    f_cnt: int | None
    f_port: int | None
    rssi: int | None
    snr: float | None
    gateway_count: int | None
    spreading_factor: int | None
    decode_status: str
    time_source: str


class UplinksPublic(BaseModel):
    dev_eui: str
    data: list[UplinkPublic]
    count: int


class DataQualityObservation(BaseModel):
    dev_eui: str
    metric: str
    channel: str
    time: datetime
    kind: str  # reset | rollover | step_back | swap (docs/counter-rule.md)
    previous: float | None
    value: float
    size: float | None  # consumption counted (reset, rollover) or drop netted (step_back)
    unit: str


class DataQualityPublic(BaseModel):
    since: datetime
    until: datetime
    data: list[DataQualityObservation]
    count: int
