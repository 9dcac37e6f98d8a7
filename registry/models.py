"""Input shapes of the registry (API bodies and CSV lines share them): pydantic validates the
form (hex EUIs, ranges, known enumerations); `registry.rules` checks them against the
catalogue and `registry.service` against the database."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from storage.sites import SiteKind


def _lower(value: str) -> str:
    return value.lower()


Eui = Annotated[
    str, StringConstraints(pattern=r"^[0-9A-Fa-f]{16}$"), AfterValidator(_lower)
]  # 16 hex digits, any case in, lower case stored
AppKey = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{32}$"), AfterValidator(_lower)]
SiteId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Text = Annotated[str, StringConstraints(max_length=200)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteFields(_Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    kind: SiteKind | None = None
    address: Text | None = None
    floor_area_m2: Annotated[float, Field(gt=0, le=10_000_000)] | None = None
    operat_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class SiteCreate(SiteFields):
    id: SiteId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: SiteKind


class SiteUpdate(SiteFields):
    """Only the fields given change (a JSON null clears an optional field)."""


class PulseWeightIn(_Input):
    metric: str
    per_pulse: Annotated[float, Field(gt=0, le=1e9)]


class RegisterIn(_Input):
    """A counter register: its width (for rollovers) and its commissioning index."""

    metric: str
    channel: Annotated[str, StringConstraints(max_length=32)] = ""
    register_digits: Annotated[int, Field(ge=1, le=15)] | None = None
    register_step: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    commissioned_at: AwareDatetime | None = None
    index_at_commissioning: Annotated[float, Field(ge=0)] | None = None


class DeviceFields(_Input):
    join_eui: Eui | None = None
    model: str | None = None
    name: Text | None = None
    site_id: SiteId | None = None
    location: Text | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    role: str | None = None
    data_class: Literal["personal", "non_personal"] | None = None
    pulse_weights: dict[Annotated[str, StringConstraints(max_length=32)], PulseWeightIn] | None = (
        None
    )
    installed_at: AwareDatetime | None = None


class DeviceCreate(DeviceFields):
    dev_eui: Eui
    model: str
    app_key: AppKey | None = Field(default=None, description="OTAA AppKey; write-only")
    registers: list[RegisterIn] = Field(default_factory=list, max_length=16)


class DeviceUpdate(DeviceFields):
    """Only the fields given change. A new AppKey re-keys the device in ChirpStack."""

    app_key: AppKey | None = Field(default=None, description="write-only")


def db_values(fields: DeviceFields | SiteFields, *, exclude: set[str]) -> dict[str, Any]:
    """The given fields as column values (pulse weights as plain JSON)."""
    values = fields.model_dump(exclude_unset=True, exclude=exclude)
    if values.get("pulse_weights") is not None:
        values["pulse_weights"] = {
            ch: w.model_dump() for ch, w in getattr(fields, "pulse_weights", {}).items()
        }
    if "name" in values and values["name"] is None and isinstance(fields, DeviceFields):
        values["name"] = ""
    if "location" in values and values["location"] is None:
        values["location"] = ""
    return values
