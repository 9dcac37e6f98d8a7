"""Versioned, idempotent schema migrations, in TimescaleDB or plain-PostgreSQL mode.

Migrations are the files `migrations/NNNN_name.sql` (common) plus, when present,
`NNNN_name.timescale.sql` or `NNNN_name.plain.sql` for the active mode; each version runs
once, in one transaction, under an advisory lock so concurrent `icone migrate` calls are safe.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psycopg
from psycopg import sql

from storage.appkey_cipher import AppKeyCipher
from storage.errors import MigrationError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x1C0E_5EED  # advisory lock id for migrations
_APPKEY_ENCRYPTED = 11  # migration that drops the clear AppKey column
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class StorageMode(StrEnum):
    TIMESCALE = "timescale"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class TimescaleStatus:
    installed: str | None  # extension version in this database
    available: str | None  # default version the server could install
    preloaded: bool  # in shared_preload_libraries (required before CREATE EXTENSION)

    @property
    def can_install(self) -> bool:
        return self.installed is None and self.available is not None and self.preloaded


def detect_timescale(conn: psycopg.Connection[tuple[object, ...]]) -> TimescaleStatus:
    """Look without touching: a CREATE EXTENSION on a server without the preload is FATAL
    and drops the connection, so it must never be attempted blindly."""
    row = conn.execute(
        """
        SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
               (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'),
               'timescaledb' = ANY (string_to_array(
                   replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
        """
    ).fetchone()
    assert row is not None
    installed, available, preloaded = row
    return TimescaleStatus(
        installed=str(installed) if installed else None,
        available=str(available) if available else None,
        preloaded=bool(preloaded),
    )


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    common: Path
    timescale: Path | None
    plain: Path | None

    def statements(self, mode: StorageMode) -> str:
        partition = "" if mode is StorageMode.TIMESCALE else "PARTITION BY RANGE (time)"
        text = self.common.read_text(encoding="utf-8").replace("{timeseries}", partition)
        extra = self.timescale if mode is StorageMode.TIMESCALE else self.plain
        if extra is not None:
            text += "\n" + extra.read_text(encoding="utf-8")
        return text


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            continue  # mode-specific companions are picked up with their common file
        stem = path.name.removesuffix(".sql")
        timescale = path.with_name(f"{stem}.timescale.sql")
        plain = path.with_name(f"{stem}.plain.sql")
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                common=path,
                timescale=timescale if timescale.exists() else None,
                plain=plain if plain.exists() else None,
            )
        )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


@dataclass(frozen=True, slots=True)
class MigrationReport:
    mode: StorageMode
    applied: list[int]
    current: int
    timescale: TimescaleStatus


def _choose_mode(
    conn: psycopg.Connection[tuple[object, ...]], status: TimescaleStatus, wanted: str
) -> StorageMode:
    recorded = conn.execute(
        "SELECT mode FROM icone_schema ORDER BY version DESC LIMIT 1"
    ).fetchone()
    if recorded is not None:
        mode = StorageMode(str(recorded[0]))
        if wanted != "auto" and wanted != mode:
            raise MigrationError(
                f"the schema was created in {mode} mode; cannot switch to {wanted}"
            )
        return mode
    usable = status.installed is not None or status.can_install
    if wanted == StorageMode.TIMESCALE and not usable:
        raise MigrationError(
            "TimescaleDB requested but not usable: "
            f"available={status.available}, preloaded={status.preloaded}"
        )
    if wanted == StorageMode.PLAIN or not usable:
        return StorageMode.PLAIN
    return StorageMode.TIMESCALE


def migrate(
    conninfo: str, wanted_mode: str = "auto", appkey_cipher: AppKeyCipher | None = None
) -> MigrationReport:
    """Bring the schema to the newest version. Safe to run any number of times.

    `appkey_cipher` seals the clear AppKeys of a database older than migration 0011 (which
    refuses to run while one is left in clear)."""
    if wanted_mode not in ("auto", "timescale", "plain"):
        raise MigrationError(f"unknown storage mode {wanted_mode!r}")
    migrations = discover()
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                return _migrate_locked(conn, migrations, wanted_mode, appkey_cipher)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {exc}") from exc


def _migrate_locked(
    conn: psycopg.Connection[tuple[object, ...]],
    migrations: list[Migration],
    wanted_mode: str,
    appkey_cipher: AppKeyCipher | None,
) -> MigrationReport:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS icone_schema (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            mode       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    status = detect_timescale(conn)
    mode = _choose_mode(conn, status, wanted_mode)
    if mode is StorageMode.TIMESCALE and status.installed is None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        status = detect_timescale(conn)
    done = {int(str(r[0])) for r in conn.execute("SELECT version FROM icone_schema").fetchall()}
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        logger.info("applying migration %04d_%s (%s mode)", migration.version, migration.name, mode)
        with conn.transaction():
            if migration.version == _APPKEY_ENCRYPTED:
                _seal_clear_appkeys(conn, appkey_cipher)
            conn.execute(sql.SQL(migration.statements(mode)))  # our own files, not input
            conn.execute(
                "INSERT INTO icone_schema (version, name, mode) VALUES (%s, %s, %s)",
                (migration.version, migration.name, str(mode)),
            )
        applied.append(migration.version)
    current = max([*done, *applied], default=0)
    logger.info(
        "schema at version %d, storage mode %s (timescaledb %s)",
        current,
        mode,
        status.installed or "not installed",
    )
    return MigrationReport(mode=mode, applied=applied, current=current, timescale=status)


def _seal_clear_appkeys(
    conn: psycopg.Connection[tuple[object, ...]], cipher: AppKeyCipher | None
) -> None:
    """Migration 0011 reads the sealed values from pg_temp.appkey_sealed (dropped at commit);
    a migration is SQL and cannot read settings, so the encryption happens here."""
    rows = conn.execute("SELECT dev_eui, app_key FROM device_keys").fetchall()
    if not rows or cipher is None:
        return  # nothing to seal, or 0011 itself refuses with the reason
    conn.execute(
        "CREATE TEMP TABLE appkey_sealed (dev_eui text PRIMARY KEY, key_id text NOT NULL, "
        "ciphertext bytea NOT NULL) ON COMMIT DROP"
    )
    with conn.cursor() as cur, cur.copy("COPY appkey_sealed FROM STDIN") as copy:
        for dev_eui, app_key in rows:
            sealed = cipher.seal(str(dev_eui), str(app_key))
            copy.write_row((dev_eui, sealed.key_id, sealed.ciphertext))
    logger.info("sealed %d clear AppKey(s) with key id %s", len(rows), cipher.current_id)


def storage_mode(conn: psycopg.Connection[tuple[object, ...]]) -> StorageMode | None:
    """The mode recorded by the migrations, or None before the first migration."""
    row = conn.execute(
        "SELECT mode FROM icone_schema ORDER BY version DESC LIMIT 1"
        if conn.execute("SELECT to_regclass('icone_schema')").fetchone() != (None,)
        else "SELECT NULL WHERE false"
    ).fetchone()
    return StorageMode(str(row[0])) if row else None
