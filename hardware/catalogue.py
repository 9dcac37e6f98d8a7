"""The device catalogue: one YAML sheet per model in hardware/catalogue/, validated at start-up.

An invalid sheet stops start-up with a CatalogueError naming the file and the field.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from decoders import EVENT_CODES, METRICS, models
from decoders.vocabulary import Kind

CATALOGUE_DIR = Path(__file__).parent / "catalogue"


class CatalogueError(Exception):
    """A catalogue sheet is missing, unreadable or invalid."""


class Category(StrEnum):
    WATER = "water"
    ENERGY = "energy"
    CLIMATE = "climate"


class MetricSheet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: str
    kind: Kind
    channels: list[str] = Field(default_factory=lambda: [""])

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"metric {value!r} is not in the vocabulary")
        return value


class DeviceProfile(BaseModel):
    """ChirpStack device-profile parameters for this model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: Literal["EU868"] = "EU868"
    mac_version: Literal["1.0.2", "1.0.3", "1.0.4", "1.1.0"]
    regional_parameters_revision: Literal[
        "A", "B", "RP002-1.0.0", "RP002-1.0.1", "RP002-1.0.2", "RP002-1.0.3", "RP002-1.0.4"
    ]
    device_class: Literal["A", "B", "C"] = "A"
    supports_otaa: bool = True
    uplink_interval_s: int = Field(gt=0)


class ModelSheet(BaseModel):
    """One device model, as a technician and the platform need to know it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=36)
    vendor: str
    model: str
    category: Category
    decoder: str
    f_ports: list[int] = Field(min_length=1)
    power: Literal["battery", "mains"]
    battery_life_years: float | None = None
    metrics: list[MetricSheet] = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    profile: DeviceProfile
    installation: str = Field(min_length=1)
    # How a technician makes the device send an uplink now (button, magnet), when the
    # vendor provides a way; None: wait for the next periodic uplink (profile interval).
    test_uplink: str | None = None
    documents: list[str] = Field(default_factory=list)

    @field_validator("decoder")
    @classmethod
    def _known_decoder(cls, value: str) -> str:
        if value not in models():
            raise ValueError(f"decoder {value!r} is not registered in decoders")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - EVENT_CODES)
        if unknown:
            raise ValueError(f"event codes not in the vocabulary: {', '.join(unknown)}")
        return value

    @field_validator("f_ports")
    @classmethod
    def _valid_ports(cls, value: list[int]) -> list[int]:
        if any(not 1 <= port <= 223 for port in value):
            raise ValueError("application fPorts are 1..223")
        return value

    @field_validator("metrics")
    @classmethod
    def _kinds_match_vocabulary(cls, value: list[MetricSheet]) -> list[MetricSheet]:
        for sheet in value:
            expected = METRICS[sheet.metric].kind
            if sheet.kind != expected:
                raise ValueError(f"metric {sheet.metric!r} is a {expected}, not a {sheet.kind}")
        return value


def load_sheet(path: Path) -> ModelSheet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from exc
    try:
        sheet = ModelSheet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CatalogueError(f"{path}: {problems}") from exc
    if sheet.id != path.stem:
        raise CatalogueError(f"{path}: field id: {sheet.id!r} does not match the file name")
    return sheet


def load_catalogue(directory: Path = CATALOGUE_DIR) -> dict[str, ModelSheet]:
    """Load and validate every sheet; the first invalid one raises CatalogueError."""
    sheets = {}
    for path in sorted(directory.glob("*.yaml")):
        sheet = load_sheet(path)
        sheets[sheet.id] = sheet
    if not sheets:
        raise CatalogueError(f"{directory}: no catalogue sheet found")
    return sheets
