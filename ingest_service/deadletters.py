"""Inspecting and replaying dead letters (messages that could not be parsed, decoded or stored).

A replay re-runs the message (topic, raw bytes, original receive time) through the same
process -> enrich -> write path as live traffic, after a fix (a new decoder, a registered
device, a corrected schema). Writes are idempotent, so replaying twice inserts nothing
twice. A replay that succeeds stamps `replayed_at`; one that fails again records the new
reason and counts the attempt in `seen_count`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from ingest_service.batch_writer import BatchWriter, Process, add_counts
from ingest_service.enrich import Enricher
from ingest_service.writer import WriteCounts
from storage.errors import StorageError
from storage.records import InboundMessage

logger = logging.getLogger(__name__)

STAGES = ("parse", "validate", "decode", "store")
_CHUNK = 500  # dead letters replayed per transaction group


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    id: int
    received_at: datetime
    last_seen_at: datetime
    seen_count: int
    topic: str
    stage: str
    reason: str
    dev_eui: str | None
    deduplication_id: UUID | None
    replayed_at: datetime | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class ReplayReport:
    selected: int  # dead letters picked by the filters
    replayed: int  # stored without error this time (replayed_at set)
    failed: int  # failed again (reason and seen_count updated)
    rows: WriteCounts  # rows the replay inserted (zero for a repeated replay)


def _where(
    *,
    ids: Sequence[int] | None,
    stage: str | None,
    since: datetime | None,
    include_replayed: bool,
) -> tuple[sql.Composable, list[Any]]:
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if ids is not None:
        clauses.append(sql.SQL("id = ANY(%s)"))
        params.append(list(ids))
    if stage is not None:
        clauses.append(sql.SQL("stage = %s"))
        params.append(stage)
    if since is not None:
        clauses.append(sql.SQL("received_at >= %s"))
        params.append(since)
    if not include_replayed:
        clauses.append(sql.SQL("replayed_at IS NULL"))
    if not clauses:
        return sql.SQL("TRUE"), params
    return sql.SQL(" AND ").join(clauses), params


_COLUMNS = sql.SQL(
    "id, received_at, last_seen_at, seen_count, topic, stage, reason, dev_eui, "
    "deduplication_id, replayed_at, payload"
)


def list_dead_letters(
    conn: psycopg.Connection[Any],
    *,
    stage: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    include_replayed: bool = False,
) -> list[DeadLetterView]:
    """The most recent dead letters first."""
    where, params = _where(ids=None, stage=stage, since=since, include_replayed=include_replayed)
    query = sql.SQL(
        "SELECT {columns} FROM dead_letters WHERE {where} "
        "ORDER BY received_at DESC, id DESC LIMIT %s"
    ).format(columns=_COLUMNS, where=where)
    with conn.cursor(row_factory=class_row(DeadLetterView)) as cur:
        return cur.execute(query, [*params, limit]).fetchall()


def replay(
    pool: ConnectionPool[Any],
    process: Process,
    *,
    enrich: Enricher | None = None,
    ids: Sequence[int] | None = None,
    stage: str | None = None,
    since: datetime | None = None,
    include_replayed: bool | None = None,
) -> ReplayReport:
    """Re-run the selected dead letters (oldest first). With `ids`, already replayed ones
    are included unless told otherwise; with filters only, they are not.

    Raises StorageError when the database is unreachable (nothing is marked then).
    """
    if include_replayed is None:
        include_replayed = ids is not None
    where, params = _where(ids=ids, stage=stage, since=since, include_replayed=include_replayed)
    writer = BatchWriter(pool, process, enrich)
    selected = replayed = failed = 0
    rows = WriteCounts()
    last_id = 0
    try:
        while True:
            with (
                pool.connection() as conn,
                conn.cursor(row_factory=class_row(DeadLetterView)) as cur,
            ):
                chunk = cur.execute(
                    sql.SQL(
                        "SELECT {columns} FROM dead_letters WHERE {where} AND id > %s "
                        "ORDER BY id LIMIT %s"
                    ).format(columns=_COLUMNS, where=where),
                    [*params, last_id, _CHUNK],
                ).fetchall()
            if not chunk:
                break
            last_id = chunk[-1].id
            selected += len(chunk)
            ok, again, counts = _replay_chunk(pool, writer, chunk)
            replayed += ok
            failed += again
            rows = add_counts(rows, counts)
            logger.info(  # progress: a chunk at a time
                "replay: %d dead letters done, %d failed again", replayed, failed
            )
    except psycopg.Error as exc:
        raise StorageError(f"dead-letter replay interrupted: {exc}") from exc
    return ReplayReport(selected, replayed, failed, rows)


def _replay_chunk(
    pool: ConnectionPool[Any], writer: BatchWriter, letters: list[DeadLetterView]
) -> tuple[int, int, WriteCounts]:
    """(replayed, failed again, rows written) for one chunk of dead letters."""
    messages = [InboundMessage(d.topic, d.payload, d.received_at) for d in letters]
    try:
        result = writer.store(writer.prepare(messages))
    except psycopg.Error as exc:  # retriable errors are raised, not dead-lettered
        raise StorageError(f"database unavailable during replay: {exc}") from exc
    done: list[int] = []
    failures: list[tuple[str, int]] = []
    # BatchWriter keeps message order, so outcomes line up with the letters.
    for letter, outcome in zip(letters, result.outcomes, strict=True):
        # A `validate` letter records fields the event sent unusable (they stay unusable on
        # every replay): it does not make the replay of another stage's letter fail.
        blocking = [
            d
            for d in outcome.batch.dead_letters
            if d.stage != "validate" or letter.stage == "validate"
        ]
        if outcome.store_error is not None:
            stage, reason = "store", outcome.store_error
        elif blocking:
            stage, reason = blocking[0].stage, blocking[0].reason
        else:
            done.append(letter.id)
            continue
        if stage != letter.stage:
            # Same stage = same key: the write above already counted it and set the reason.
            failures.append((f"replay failed at {stage}: {reason}", letter.id))
        else:
            failures.append(("", letter.id))
    with pool.connection() as conn:
        if done:
            conn.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = ANY(%s)", (done,))
        moved = [(reason, letter_id) for reason, letter_id in failures if reason]
        if moved:
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE dead_letters SET reason = %s, seen_count = seen_count + 1, "
                    "last_seen_at = now() WHERE id = %s",
                    moved,
                )
    return len(done), len(failures), result.counts
