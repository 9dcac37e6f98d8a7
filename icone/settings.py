"""Settings of the `icone` command, from ICONE_* environment variables (and an optional .env).

Built once in `main()` and passed down; there is no module-level settings object.
Secrets (URLs carry passwords) are SecretStr and never logged.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway_bridge.config import EventFormat
from hardware.catalogue import CATALOGUE_DIR
from registry.settings import ChirpStackSettings, RegistrySettings
from storage.retention import ClassHorizons, RetentionPolicy


class BridgeSettings(BaseModel):
    client_id: str = "icone-bridge"
    topic: str = "application/+/device/+/event/+"
    share_group: str | None = None
    event_format: EventFormat = EventFormat.JSON
    mqtt_version: Literal[4, 5] = 5
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.2, gt=0)
    queue_size: int = Field(default=5000, ge=1)
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    model_by_profile: dict[str, str] = Field(default_factory=dict)
    use_chirpstack_object: bool = False
    spool_max_mb: int = Field(default=512, ge=1)  # local spool bound; beyond, acks stop
    # Processes that drain the spool (parse, decode, COPY); 0 = threads of the bridge process.
    # 2 on the 2-core reference machine: 7,194 uplinks/s against 4,515 with threads, for
    # ~170 MB more memory (docs/benchmarks.md, Ingest)
    ingest_workers: int = Field(default=2, ge=0, le=64)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)


class RetentionSettings(BaseModel):
    """Retention by data class, in days (defaults: docs/domain.md §6, CNIL and décret
    tertiaire); None keeps for ever. Applied by the maintenance pass of `icone bridge`."""

    raw_personal_days: int | None = 730
    raw_non_personal_days: int | None = 1095
    hourly_personal_days: int | None = 730
    hourly_non_personal_days: int | None = 1826
    daily_personal_days: int | None = 1095
    daily_non_personal_days: int | None = None
    network_events_days: int | None = 365
    dead_letters_days: int | None = 90
    maintenance_interval_s: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> RetentionSettings:
        self.policy()  # raises ValueError (-> a settings error) on inconsistent horizons
        return self

    def policy(self) -> RetentionPolicy:
        def days(value: int | None) -> timedelta | None:
            return None if value is None else timedelta(days=value)

        return RetentionPolicy(
            raw=ClassHorizons(days(self.raw_personal_days), days(self.raw_non_personal_days)),
            hourly=ClassHorizons(
                days(self.hourly_personal_days), days(self.hourly_non_personal_days)
            ),
            daily=ClassHorizons(days(self.daily_personal_days), days(self.daily_non_personal_days)),
            network_events=days(self.network_events_days),
            dead_letters=days(self.dead_letters_days),
        )


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=1, le=65535)


class Settings(BaseSettings):
    """Everything the command line needs. Unset URLs mean "start embedded services"."""

    model_config = SettingsConfigDict(
        env_prefix="ICONE_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    database_url: SecretStr | None = None
    mqtt_url: SecretStr | None = None
    state_dir: Path = Path(".state")
    catalogue_dir: Path = CATALOGUE_DIR  # device catalogue sheets, validated at start-up
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    chirpstack: ChirpStackSettings = Field(default_factory=ChirpStackSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "must be a PostgreSQL URL, postgresql://user:password@host:port/dbname"
            )
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("has no host")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError("must be mqtt://user:password@host:port or mqtts://... for TLS")
        if not parts.hostname:
            raise ValueError("has no host")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"has an invalid port ({exc})") from None
        return value
