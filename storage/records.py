"""Rows the ingest service writes: one NamedTuple per table, fields in column order.

NamedTuples go to COPY as they are (no conversion per row): the write path handles
hundreds of thousands of rows a minute.

The bridge builds these (it imports this module for the types only); the writer stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple
from uuid import UUID


class InboundMessage(NamedTuple):
    """One MQTT message as received: what the spool keeps until its rows are committed.

    A NamedTuple, like the rows: one is built per message on paho's thread (a frozen
    dataclass costs three times as much to construct)."""

    topic: str
    payload: bytes
    received_at: datetime

    def dead_letter(
        self,
        stage: str,
        reason: str,
        dev_eui: str | None = None,
        deduplication_id: UUID | None = None,
    ) -> DeadLetterRow:
        """This message as a dead letter: its raw bytes kept for replay, with the reason."""
        return DeadLetterRow(
            self.received_at, self.topic, self.payload, stage, reason, dev_eui, deduplication_id
        )


class UplinkRow(NamedTuple):
    time: datetime
    deduplication_id: UUID
    dev_eui: str
    f_cnt: int | None
    f_port: int | None
    payload: bytes
    time_source: str  # event | ns_time | received
    event_time: datetime | None
    received_at: datetime
    rssi: int | None
    snr: float | None
    gateway_count: int
    gateway_ids: list[str]
    dr: int | None
    spreading_factor: int | None
    frequency: int | None
    model: str | None
    decode_status: str  # ok | warnings | errors | unknown_device | no_payload


class MeasurementRow(NamedTuple):
    time: datetime
    dev_eui: str
    metric: str
    channel: str
    value: float


class EventRow(NamedTuple):
    time: datetime
    dev_eui: str
    code: str
    active: bool
    source: str
    detail: str
    deduplication_id: UUID | None


class NetworkEventRow(NamedTuple):
    time: datetime
    dev_eui: str
    event_type: str
    event_key: str
    level: str
    code: str
    description: str
    data: str  # JSON text


class DeadLetterRow(NamedTuple):
    received_at: datetime
    topic: str
    payload: bytes
    stage: str  # parse | decode | store
    reason: str
    dev_eui: str | None = None
    deduplication_id: UUID | None = None


@dataclass(slots=True)
class Batch:
    """Everything derived from a group of MQTT messages, written in one transaction."""

    uplinks: list[UplinkRow] = field(default_factory=list)
    measurements: list[MeasurementRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    network_events: list[NetworkEventRow] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.uplinks.extend(other.uplinks)
        self.measurements.extend(other.measurements)
        self.events.extend(other.events)
        self.network_events.extend(other.network_events)
        self.dead_letters.extend(other.dead_letters)

    def __len__(self) -> int:
        return (
            len(self.uplinks)
            + len(self.measurements)
            + len(self.events)
            + len(self.network_events)
            + len(self.dead_letters)
        )
