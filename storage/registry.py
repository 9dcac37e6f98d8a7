"""The bridge's view of the device registry (DevEUI -> model) and bulk upserts for the demo
and tests; registering through the API and CLI goes through storage.sites / storage.devices."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SiteSpec:
    id: str
    name: str
    kind: str
    address: str | None = None
    floor_area_m2: float | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    dev_eui: str
    model: str
    name: str = ""
    site_id: str | None = None
    location: str = ""
    role: str | None = None
    data_class: str = "non_personal"


def upsert_sites(conn: psycopg.Connection[Any], sites: list[SiteSpec]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO sites (id, name, kind, address, floor_area_m2, latitude, longitude)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                address = excluded.address, floor_area_m2 = excluded.floor_area_m2,
                latitude = excluded.latitude, longitude = excluded.longitude
            """,
            [
                (s.id, s.name, s.kind, s.address, s.floor_area_m2, s.latitude, s.longitude)
                for s in sites
            ],
        )


def upsert_devices(conn: psycopg.Connection[Any], devices: list[DeviceSpec]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO devices (dev_eui, model, name, site_id, location, role, data_class)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (dev_eui) DO UPDATE SET model = excluded.model, name = excluded.name,
                site_id = excluded.site_id, location = excluded.location, role = excluded.role,
                data_class = excluded.data_class, updated_at = now()
            """,
            [
                (d.dev_eui, d.model, d.name, d.site_id, d.location, d.role, d.data_class)
                for d in devices
            ],
        )


class DeviceModels:
    """dev_eui -> model id, from the registry, refreshed every `ttl_s` seconds.

    The bridge calls `lookup` for every uplink: a dict read, with a reload from the database
    at most once per `ttl_s` (a newly registered device is seen within that delay).
    """

    def __init__(self, pool: ConnectionPool[Any], ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._models: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT dev_eui, model FROM devices WHERE status <> 'retired'"
            ).fetchall()
        with self._lock:
            self._models = {str(dev_eui): str(model) for dev_eui, model in rows}
            self._loaded_at = time.monotonic()

    def _reload(self) -> None:
        """Refresh; while the database is down, keep the last registry (a stale mapping is
        right for every known device) and try again a TTL later. Only a registry never
        loaded raises, and the ingest service retries the message then."""
        try:
            self.refresh()
        except psycopg.OperationalError as exc:
            if self._loaded_at == float("-inf"):
                raise
            logger.warning("device registry not refreshed, keeping the last one: %s", exc)
            self._loaded_at = time.monotonic()

    def lookup(self, dev_eui: str) -> str | None:
        if time.monotonic() - self._loaded_at > self._ttl_s:
            self._reload()
        model = self._models.get(dev_eui)
        if model is None and time.monotonic() - self._loaded_at > 1.0:
            self._reload()  # a device registered a moment ago: look once more (at most 1/s)
            model = self._models.get(dev_eui)
        return model
