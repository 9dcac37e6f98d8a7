"""The write step of ingest: process -> enrich -> one transaction per batch, with bisection.

`BatchWriter` is used by the spool drainer (`ingest_service.service`), by the ingest worker
processes (`ingest_service.workers`) and, synchronously, by dead-letter replay.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ingest_service.enrich import Enricher
from ingest_service.repeats import DEFAULT_CAPACITY, CommittedKeys
from ingest_service.writer import WriteCounts, write_batch
from storage.errors import StorageError
from storage.records import Batch, InboundMessage

logger = logging.getLogger(__name__)

Process = Callable[[InboundMessage], Batch]


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """What one message became: its rows, and the reason if storing them failed."""

    message: InboundMessage
    batch: Batch  # rows from `process` (parse/decode dead letters included) and enrichment
    store_error: str | None = None  # set when the message became a 'store' dead letter


@dataclass(frozen=True, slots=True)
class WriteResult:
    counts: WriteCounts
    outcomes: list[MessageOutcome]
    bisections: int


def add_counts(a: WriteCounts, b: WriteCounts) -> WriteCounts:
    return WriteCounts(
        *(getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(WriteCounts))
    )


def is_retriable(exc: BaseException) -> bool:
    """Connection or server-side trouble (retry the same rows later) vs bad content."""
    retriable = getattr(exc, "retriable", None)  # said by the raiser (ingest workers)
    if isinstance(retriable, bool):
        return retriable
    cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
    if isinstance(cause, psycopg.errors.ProgramLimitExceeded):
        return False  # class 54 is an OperationalError, but caused by the row (too big)
    return isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError | OSError)


class SystemicStorageFailure(StorageError):
    """Even the dead letter for a single message cannot be written: not the message's fault
    (a missing table, lost privileges); the drainer retries the whole batch later."""


class BatchWriter:
    """process -> enrich -> one transaction per batch, bisecting batches that fail on content.

    Used by the spool drainer and, synchronously, by `IngestService.write_now` and the
    dead-letter replay. Retriable errors (database unreachable) are raised to the caller.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        process: Process,
        enrich: Enricher | None = None,
        *,
        connect_timeout_s: float = 5.0,
        committed_keys: int = DEFAULT_CAPACITY,
    ) -> None:
        """`committed_keys`: how many keys of committed logged measurements to remember, so
        that their repeats are not sent again (ingest_service.repeats; 0: none)."""
        self._pool = pool
        self._process = process
        self._enrich = enrich
        self.connect_timeout_s = connect_timeout_s
        self._committed = CommittedKeys(committed_keys)

    def prepare(self, messages: Sequence[InboundMessage]) -> list[MessageOutcome]:
        """Rows of each message; raises (retriable) if the registry cannot be read."""
        outcomes = []
        for message in messages:
            try:
                batch = self._process(message)
            except Exception as exc:
                if is_retriable(exc):
                    raise  # e.g. the model lookup could not reach the registry
                # `process` must not raise; if it does, the message is kept, not lost.
                logger.exception("processing raised", extra={"topic": message.topic})
                batch = Batch()
                batch.dead_letters.append(
                    message.dead_letter("decode", f"processing raised {exc!r}")
                )
            if self._enrich is not None:
                batch = self._enrich.enrich(batch)
            outcomes.append(MessageOutcome(message, batch))
        return outcomes

    def transaction_rows(self, part: Sequence[MessageOutcome]) -> Batch:
        """What one transaction writes for `part`: all its rows, minus a redelivered
        uplink's (below) and the logged measurements this writer has committed already
        (ingest_service.repeats)."""
        merged = Batch()
        kept = []
        uplinks: set[tuple[Any, ...]] = set()
        for outcome in part:
            batch = outcome.batch
            if batch.uplinks:
                # A redelivery in the same transaction as its original: the same uplink key,
                # so the same rows (processing is deterministic). Writing them twice would make
                # the uplinks' ON CONFLICT DO UPDATE touch one row twice, an error that
                # bisected the whole batch; the message is stored by its original's rows.
                keys = {(u.time, u.deduplication_id) for u in batch.uplinks}
                if keys <= uplinks:
                    continue
                uplinks |= keys
            kept.append(batch)
            merged.extend(batch)
        merged.measurements = self._committed.unseen(kept)
        return merged

    def committed(self, part: Sequence[MessageOutcome]) -> None:
        """Call once `part`'s transaction has committed."""
        self._committed.remember(outcome.batch for outcome in part)

    def _write(self, batch: Batch) -> WriteCounts:
        with self._pool.connection(timeout=self.connect_timeout_s) as conn:
            return write_batch(conn, batch)

    def store(self, outcomes: list[MessageOutcome]) -> WriteResult:
        """Write all rows in one transaction; on a content error, bisect down to the culprit."""
        result: list[MessageOutcome] = []
        bisections = 0

        def attempt(part: list[MessageOutcome]) -> WriteCounts:
            nonlocal bisections
            try:
                counts = self._write(self.transaction_rows(part))
            except Exception as exc:
                if is_retriable(exc):
                    raise
                if len(part) == 1:
                    return self._store_dead_letter(part[0], exc, result)
                bisections += 1
                half = len(part) // 2
                logger.warning(
                    "batch of %d messages failed on its content, bisecting: %s",
                    len(part),
                    exc,
                    extra={"messages": len(part)},
                )
                return add_counts(attempt(part[:half]), attempt(part[half:]))
            self.committed(part)
            result.extend(part)
            return counts

        counts = attempt(outcomes)
        # Bisection stores in order, so `result` is in message order as well.
        return WriteResult(counts, result, bisections)

    def _store_dead_letter(
        self, outcome: MessageOutcome, exc: Exception, result: list[MessageOutcome]
    ) -> WriteCounts:
        message = outcome.message
        cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
        reason = f"{type(cause).__name__}: {cause}".strip()
        uplink = outcome.batch.uplinks[0] if outcome.batch.uplinks else None
        letter = Batch()
        letter.dead_letters.append(
            message.dead_letter(
                "store",
                reason,
                uplink.dev_eui if uplink else None,
                uplink.deduplication_id if uplink else None,
            )
        )
        try:
            counts = self._write(letter)
        except Exception as exc2:
            if is_retriable(exc2):
                raise
            raise SystemicStorageFailure(
                f"{reason}; and its dead letter failed too: {exc2}"
            ) from exc2
        logger.error(
            "message not storable, dead-lettered: %s",
            reason,
            extra={
                "topic": message.topic,
                "dev_eui": uplink.dev_eui if uplink else None,
                "deduplication_id": str(uplink.deduplication_id) if uplink else None,
            },
        )
        result.append(MessageOutcome(message, outcome.batch, reason))
        return counts
