"""Reference data the indicator functions of migration 0008 read: the catalogue's device
models (category, uplink interval) and the versioned emission factors.

The figures themselves are SQL functions (icone_energy, icone_datacenter, ...); this module
only keeps their inputs in step with the repository's data files.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from storage.errors import StorageError

EMISSION_FACTORS_FILE = Path(__file__).parent / "data" / "emission_factors.csv"


@dataclass(frozen=True, slots=True)
class DeviceModel:
    model: str
    category: str
    uplink_interval_s: int


@dataclass(frozen=True, slots=True)
class EmissionFactor:
    energy: str
    perimeter: str
    value: float
    unit: str
    valid_from: date
    valid_to: date | None
    year: int | None
    source: str
    source_id: str | None


def sync_device_models(conn: psycopg.Connection[Any], models: Iterable[DeviceModel]) -> int:
    """Upsert the catalogue's models into `device_models`; returns the rows inserted or changed."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            changed = 0
            for m in models:
                cur.execute(
                    """
                    INSERT INTO device_models (model, category, uplink_interval_s)
                    VALUES (%s, %s, %s)
                    ON CONFLICT (model) DO UPDATE SET category = excluded.category,
                        uplink_interval_s = excluded.uplink_interval_s, updated_at = now()
                    WHERE (device_models.category, device_models.uplink_interval_s)
                          IS DISTINCT FROM (excluded.category, excluded.uplink_interval_s)
                    """,
                    (m.model, m.category, m.uplink_interval_s),
                )
                changed += cur.rowcount
            return changed
    except psycopg.Error as exc:
        raise StorageError(f"device models not synchronised: {exc}") from exc


def read_emission_factors(path: Path = EMISSION_FACTORS_FILE) -> list[EmissionFactor]:
    """Parse a factors CSV (columns of storage/data/emission_factors.csv); a bad row raises
    StorageError naming its line, nothing is loaded from a file with one."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise StorageError(f"{path}: cannot read: {exc}") from exc
    factors = []
    for line, row in enumerate(rows, start=2):
        try:
            factors.append(
                EmissionFactor(
                    energy=_required(row, "energy"),
                    perimeter=_required(row, "perimeter"),
                    value=float(_required(row, "value")),
                    unit=_required(row, "unit"),
                    valid_from=date.fromisoformat(_required(row, "valid_from")),
                    valid_to=date.fromisoformat(row["valid_to"]) if row.get("valid_to") else None,
                    year=int(row["year"]) if row.get("year") else None,
                    source=_required(row, "source")
                    + (f" <{row['source_url']}>" if row.get("source_url") else ""),
                    source_id=row.get("source_id") or None,
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise StorageError(f"{path}:{line}: {exc}") from exc
    return factors


def _required(row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise ValueError(f"column {column!r} is empty")
    return value


def load_emission_factors(conn: psycopg.Connection[Any], factors: list[EmissionFactor]) -> int:
    """Upsert factors on (energy, perimeter, valid_from): loading the same file twice changes
    nothing; a corrected value replaces the row of the same validity start. Returns the rows
    inserted or changed."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            changed = 0
            for f in factors:
                cur.execute(
                    """
                    INSERT INTO emission_factors (energy, perimeter, value, unit, valid_from,
                                                  valid_to, source, source_id, year)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (energy, perimeter, valid_from) DO UPDATE SET
                        value = excluded.value, unit = excluded.unit,
                        valid_to = excluded.valid_to, source = excluded.source,
                        source_id = excluded.source_id, year = excluded.year,
                        recorded_at = now()
                    WHERE (emission_factors.value, emission_factors.unit,
                           emission_factors.valid_to, emission_factors.source,
                           emission_factors.source_id, emission_factors.year)
                          IS DISTINCT FROM (excluded.value, excluded.unit, excluded.valid_to,
                                            excluded.source, excluded.source_id, excluded.year)
                    """,
                    (
                        f.energy,
                        f.perimeter,
                        f.value,
                        f.unit,
                        f.valid_from,
                        f.valid_to,
                        f.source,
                        f.source_id,
                        f.year,
                    ),
                )
                changed += cur.rowcount
            return changed
    except psycopg.Error as exc:
        raise StorageError(f"emission factors not loaded: {exc}") from exc


def set_datacenter_metering(
    conn: psycopg.Connection[Any], site_id: str, category: int, note: str = ""
) -> None:
    """Record where the site's IT energy is metered (The Green Grid category 1 UPS output,
    2 PDU output, 3 IT equipment input): the category PUE is reported with."""
    try:
        conn.execute(
            """
            INSERT INTO datacenter_metering (site_id, category, note) VALUES (%s, %s, %s)
            ON CONFLICT (site_id) DO UPDATE SET category = excluded.category, note = excluded.note
            """,
            (site_id, category, note),
        )
    except psycopg.Error as exc:
        raise StorageError(f"datacenter metering not recorded: {exc}") from exc
