"""Idempotent batch writes: COPY into a staging table, then INSERT ... SELECT ... ON CONFLICT.

COPY alone cannot skip duplicates, so every batch goes through per-connection temporary
staging tables (emptied at commit), all in one transaction: a batch is stored whole or not
at all, and a redelivered batch inserts nothing twice.

Live rows (uplinks, and measurements and events timed at their own uplink) are almost never
stored already: only a redelivered or replayed uplink repeats them. They are copied straight
into their table, under a savepoint: no staging hop, and no `ON CONFLICT` probe of the unique
index before each row (about a quarter of the database's insert work in `perf`). If one is
stored already, the COPY fails whole, the savepoint is rolled back, and they take the staging
path with their table's `ON CONFLICT` clause.
Logged rows (a meter's history, repeated by later uplinks) always take the probing path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors, postgres, pq, sql
from psycopg.adapt import Dumper

from storage.errors import StorageError
from storage.records import (
    Batch,
    DeadLetterRow,
    EventRow,
    MeasurementRow,
    NetworkEventRow,
    UplinkRow,
)


@dataclass(frozen=True, slots=True)
class _Target:
    table: str
    row_type: type[Any]
    conflict: sql.Composable  # what to do with a row already stored
    # PostgreSQL types of the columns for a binary COPY (no text formatting on our side, no
    # text parsing on the server's: about half the COPY cost), or None for a text COPY
    # (tables whose rows are rare, or with a jsonb column given as text).
    binary_types: str | None = None  # space-separated, one per column
    # rows timed at their uplink are inserted without the ON CONFLICT probe first (above)
    live_first: bool = False

    @property
    def columns(self) -> list[str]:
        return list(self.row_type._fields)


_NOTHING = sql.SQL("ON CONFLICT DO NOTHING")

TARGETS = (
    # A redelivered uplink changes nothing; a replayed one (dead letter fixed, device now
    # registered) updates how it was decoded.
    _Target(
        "uplinks",
        UplinkRow,
        sql.SQL(
            "ON CONFLICT (time, deduplication_id) DO UPDATE SET model = excluded.model, "
            "decode_status = excluded.decode_status WHERE uplinks.decode_status IS DISTINCT FROM "
            "excluded.decode_status OR uplinks.model IS DISTINCT FROM excluded.model"
        ),
        # UplinkRow's fields, in order
        "timestamptz uuid text int8 int4 bytea text timestamptz timestamptz int4 float8 int4 "
        "text[] int4 int4 int8 text text",
        True,  # an uplink is stored already only when it is redelivered or replayed
    ),
    _Target("measurements", MeasurementRow, _NOTHING, "timestamptz text text text float8", True),
    _Target(
        "device_events",
        EventRow,
        _NOTHING,
        "timestamptz text text bool text text uuid",
        True,
    ),
    _Target("network_events", NetworkEventRow, _NOTHING),
    # A dead letter seen again is counted, not duplicated.
    _Target(
        "dead_letters",
        DeadLetterRow,
        sql.SQL(
            "ON CONFLICT (stage, topic, payload_sha256) DO UPDATE SET "
            "seen_count = dead_letters.seen_count + 1, last_seen_at = excluded.received_at, "
            "reason = excluded.reason"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """Rows actually inserted (duplicates excluded) per table."""

    uplinks: int = 0
    measurements: int = 0
    device_events: int = 0
    network_events: int = 0
    dead_letters: int = 0


_INT4 = struct.Struct(">i")


class _CheckedInt4BinaryDumper(Dumper):
    """int4 for binary COPY that refuses out-of-range values: psycopg's C dumper wraps them
    silently (2**40 is written as 0), where a text COPY fails. A wrong number stored is
    worse than a row dead-lettered."""

    format = pq.Format.BINARY
    oid = postgres.types["int4"].oid

    def dump(self, obj: Any) -> bytes:
        try:
            return _INT4.pack(obj)
        except struct.error:
            raise errors.NumericValueOutOfRange(
                f"value {obj!r} is out of range for integer"
            ) from None


def _stage_name(target: _Target, live: bool = False) -> sql.Identifier:
    return sql.Identifier(f"stage_{target.table}" + ("_live" if live else ""))


def _create_stage(conn: psycopg.Connection[Any], target: _Target, live: bool = False) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        ).format(stage=_stage_name(target, live), table=sql.Identifier(target.table))
    )


def _prepare_staging(conn: psycopg.Connection[Any]) -> None:
    for target in TARGETS:
        _create_stage(conn, target)


def _rows(batch: Batch, target: _Target) -> list[Any]:
    by_table: dict[str, list[Any]] = {
        "uplinks": batch.uplinks,
        "measurements": batch.measurements,
        "device_events": batch.events,
        "network_events": batch.network_events,
        "dead_letters": batch.dead_letters,
    }
    return by_table[target.table]


def _split_live(
    rows: list[Any], live_keys: set[tuple[str, datetime]]
) -> tuple[list[Any], list[Any]]:
    """(rows timed at their uplink, the others); an uplink row is its own."""
    live: list[Any] = []
    other: list[Any] = []
    for row in rows:
        (live if (row.dev_eui, row.time) in live_keys else other).append(row)
    return live, other


def _copy(
    cur: psycopg.Cursor[Any], target: _Target, stage: sql.Identifier, rows: list[Any]
) -> None:
    columns = sql.SQL(", ").join(map(sql.Identifier, target.columns))
    binary = sql.SQL(" (FORMAT BINARY)" if target.binary_types else "")
    copy_stmt = sql.SQL("COPY {stage} ({columns}) FROM STDIN{binary}").format(
        stage=stage, columns=columns, binary=binary
    )
    with cur.copy(copy_stmt) as copy:
        if target.binary_types:
            copy.set_types(target.binary_types.split())
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def _insert(cur: psycopg.Cursor[Any], target: _Target, stage: sql.Identifier) -> int:
    columns = sql.SQL(", ").join(map(sql.Identifier, target.columns))
    select = sql.SQL("SELECT {columns} FROM {stage}").format(columns=columns, stage=stage)
    if target.table == "dead_letters":
        # One row per key, or ON CONFLICT DO UPDATE would touch a row twice.
        select = sql.SQL(
            "SELECT DISTINCT ON (stage, topic, sha256(payload)) {columns} FROM {stage}"
        ).format(columns=columns, stage=stage)
    cur.execute(
        sql.SQL("INSERT INTO {table} ({columns}) {select} {conflict}").format(
            table=sql.Identifier(target.table),
            columns=columns,
            select=select,
            conflict=target.conflict,
        )
    )
    return cur.rowcount


def _copy_live(
    conn: psycopg.Connection[Any], cur: psycopg.Cursor[Any], target: _Target, rows: list[Any]
) -> int:
    try:
        with conn.transaction():  # a savepoint: a row already stored undoes this COPY only
            _copy(cur, target, sql.Identifier(target.table), rows)
        return len(rows)
    except errors.UniqueViolation:  # a redelivered uplink (or a clash with a logged row)
        # Its own staging table, created only when needed: the other one holds the rows
        # already inserted above.
        _create_stage(conn, target, live=True)
        stage = _stage_name(target, live=True)
        _copy(cur, target, stage, rows)
        return _insert(cur, target, stage)


def write_batch(
    conn: psycopg.Connection[Any], batch: Batch, live_first: bool = True
) -> WriteCounts:
    """Store `batch` in one transaction; returns how many new rows each table got.

    `live_first=False` sends every row through ON CONFLICT (the benchmark's comparison)."""
    counts: dict[str, int] = {}
    live_keys = {(u.dev_eui, u.time) for u in batch.uplinks}
    try:
        with conn.transaction():
            _prepare_staging(conn)
            with conn.cursor() as cur:
                cur.adapters.register_dumper(None, _CheckedInt4BinaryDumper)  # by oid only
                for target in TARGETS:
                    rows = _rows(batch, target)
                    if not rows:
                        continue
                    split = live_first and target.live_first
                    live, other = _split_live(rows, live_keys) if split else ([], rows)
                    inserted = 0
                    if other:
                        _copy(cur, target, _stage_name(target), other)
                        inserted += _insert(cur, target, _stage_name(target))
                    if live:
                        inserted += _copy_live(conn, cur, target, live)
                    counts[target.table] = inserted
    except psycopg.Error as exc:
        raise StorageError(f"batch of {len(batch)} rows not stored: {exc}") from exc
    return WriteCounts(**counts)
