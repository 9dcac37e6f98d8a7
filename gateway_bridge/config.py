"""Configuration of the MQTT connection and of the ChirpStack event stream.

Built by the command line from the settings and passed down; nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from gateway_bridge.errors import BridgeConfigError


class EventFormat(StrEnum):
    """Must match ChirpStack's `[integration.mqtt] json` setting."""

    JSON = "json"
    PROTOBUF = "protobuf"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: SecretStr | None = None

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        """Parse `mqtt://user:pass@host:port` or `mqtts://...` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise BridgeConfigError(
                f"MQTT URL must start with mqtt:// or mqtts://, got scheme {parts.scheme!r}"
            )
        if not parts.hostname:
            raise BridgeConfigError("MQTT URL has no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise BridgeConfigError(f"MQTT URL has an invalid port: {exc}") from None
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(parts.password)) if parts.password else None,
        )

    def __str__(self) -> str:  # never shows the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    broker: BrokerAddress
    client_id: str = "icone-bridge"
    # ChirpStack's default event topic with every variable as a wildcard.
    topic: str = "application/+/device/+/event/+"
    share_group: str | None = None
    event_format: EventFormat = EventFormat.JSON
    mqtt_version: int = 5  # 5, or 4 for MQTT 3.1.1
    qos: int = 1
    # The broker keeps our session (and queues QoS 1 messages) this long while we are away.
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    receive_maximum: int = 1000
    tls: TlsFiles = field(default_factory=TlsFiles)
    batch_size: int = 500
    flush_interval_s: float = 0.2
    queue_size: int = 5000
    # device-profile name -> model id, used for devices missing from our registry
    model_by_profile: dict[str, str] = field(default_factory=dict)
    # Use ChirpStack's decoded `object` (device-profile codec) when the model has a mapping.
    use_chirpstack_object: bool = False
    # Larger messages are dead-lettered unparsed (a ChirpStack event is a few kB at most).
    max_message_bytes: int = 256 * 1024
    metrics_port: int | None = None  # Prometheus /metrics on 127.0.0.1:PORT when set

    @property
    def subscription(self) -> str:
        if self.share_group:
            return f"$share/{self.share_group}/{self.topic}"
        return self.topic
