"""Response and request models of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from registry.models import (
    DeviceCreate,
    DeviceUpdate,
    Eui,
    RegisterIn,
    SiteCreate,
    SiteUpdate,
)

__all__ = ["DeviceCreate", "DeviceUpdate", "RegisterIn", "SiteCreate", "SiteUpdate"]


class Health(BaseModel):
    status: str
    database: str
    storage_mode: str | None
    schema_version: int | None
    version: str


class DevicePublic(BaseModel):
    """A device as the registry holds it (never its AppKey). `provisioning`: `off` (ChirpStack
    not configured), `pending` (not yet, or not fully, in ChirpStack: see
    `provisioning_error`), `done`, `disabled` (retired and disabled in ChirpStack)."""

    model_config = ConfigDict(from_attributes=True)
    dev_eui: str
    model: str
    name: str
    site_id: str | None
    location: str
    role: str | None
    status: str
    last_seen: datetime | None
    join_eui: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    data_class: str = "non_personal"
    pulse_weights: dict[str, Any] = Field(default_factory=dict)
    installed_at: datetime | None = None
    provisioning: str = "off"
    provisioning_error: str | None = None
    provisioned_at: datetime | None = None
    retired_at: datetime | None = None
    version: int = 1


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


class SiteDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    address: str | None
    floor_area_m2: float | None
    operat_id: str | None
    latitude: float | None
    longitude: float | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    devices: int


class RegisterPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    metric: str
    channel: str
    register_digits: int | None
    register_step: float
    commissioned_at: datetime | None
    index_at_commissioning: float | None


class RegistersPublic(BaseModel):
    dev_eui: str
    data: list[RegisterPublic]


class MeterSwapCreate(BaseModel):
    """A replaced meter: readings at or after `swapped_at` belong to the new one."""

    model_config = ConfigDict(extra="forbid")
    metric: str
    channel: str = Field(default="", max_length=32)
    swapped_at: AwareDatetime
    old_final_index: float | None = Field(default=None, ge=0)
    new_initial_index: float = Field(default=0, ge=0)
    note: str = Field(default="", max_length=500)


class MeterSwapPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    dev_eui: str
    metric: str
    channel: str
    swapped_at: datetime
    old_final_index: float | None
    new_initial_index: float
    recorded_by: str
    recorded_at: datetime
    note: str


class MeterSwapsPublic(BaseModel):
    dev_eui: str
    data: list[MeterSwapPublic]


class QrCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=512, description="the scanned label, e.g. LW:D0:...")


class QrCodePublic(BaseModel):
    """What the label says, ready to fill a registration form (the owner token is a secret
    of the join server: it is not echoed)."""

    schema_: str = Field(alias="schema")
    dev_eui: str
    join_eui: str | None
    vendor_id: str | None
    vendor_profile_id: str | None
    serial_number: str | None
    has_owner_token: bool
    checksum_ok: bool | None
    warnings: list[str]
    registered: bool  # a device with this DevEUI is in the registry already

    model_config = ConfigDict(populate_by_name=True)


class ImportLineResult(BaseModel):
    line: int  # 1 = the header line
    dev_eui: str | None
    outcome: Literal["created", "rejected", "pending"]
    errors: list[dict[str, Any]] = Field(default_factory=list)  # {"loc": [...], "msg": ...}


class ImportReport(BaseModel):
    created: int
    rejected: int
    pending: int
    lines: list[ImportLineResult]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "energy_manager", "technician", "reporting"]
    site_ids: list[str] | None = Field(default=None, max_length=200)
    expires_at: AwareDatetime | None = None


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    role: str
    site_ids: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    token: str  # shown once; only its hash is stored


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None


class AuditPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int


class GatewayLink(BaseModel):
    gateway_id: str
    uplinks: int  # recent uplinks this gateway heard
    last_heard: datetime


class LinkQuality(BaseModel):
    """From the best gateway of each recent uplink (uplinks keep the best RSSI and SNR)."""

    uplinks: int
    rssi: int | None  # median of the recent uplinks, dBm
    snr: float | None  # median, dB
    spreading_factor: int | None  # of the last uplink
    snr_margin: float | None  # median SNR above the demodulation floor of its SF, dB
    verdict: Literal["good", "marginal", "poor", "unknown"]
    explanation: str
    gateways: list[GatewayLink]


class DecodedValue(BaseModel):
    metric: str
    channel: str
    value: float
    unit: str


class RecentProblem(BaseModel):
    time: datetime
    kind: Literal["decode", "dead_letter", "alarm"]
    code: str
    detail: str


class TechnicianView(BaseModel):
    """What a technician checks next to the device, in one answer."""

    dev_eui: str
    model: str
    name: str
    site_id: str | None
    status: str
    provisioning: str
    provisioning_error: str | None
    join_seen: datetime | None
    first_uplink: datetime | None
    last_uplink: datetime | None
    last_values_at: datetime | None
    last_values: list[DecodedValue]
    battery: DecodedValue | None
    link: LinkQuality
    problems: list[RecentProblem]
    summary: str  # one plain sentence: what to do next


class HeardDevice(BaseModel):
    dev_eui: Eui
    first_heard: datetime
    last_heard: datetime
    uplinks: int
    dead_letters: int  # not yet replayed
    best_rssi: int | None
    last_reason: str | None


class HeardDevices(BaseModel):
    data: list[HeardDevice]
    count: int


class RegisteredAndReplayed(BaseModel):
    device: DevicePublic
    replayed: int
    failed: int
    measurements: int


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
