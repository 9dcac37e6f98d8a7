"""The ingest service: stores what the bridge receives, durably and idempotently.

`IngestService` (spool, drainer, retries) is the service; its write step is
`ingest_service.batch_writer.BatchWriter`, also used by the workers and dead-letter replay.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from psycopg_pool import ConnectionPool

from ingest_service.batch_writer import (
    BatchWriter,
    Process,
    SystemicStorageFailure,
    WriteResult,
    is_retriable,
)
from ingest_service.enrich import Enricher
from ingest_service.errors import IngestError
from ingest_service.spool import Position, Spool, SpoolFull
from ingest_service.workers import WorkerPool
from ingest_service.writer import WriteCounts
from storage.errors import StorageError
from storage.records import InboundMessage

logger = logging.getLogger(__name__)


_T = TypeVar("_T")
_R = TypeVar("_R")


class IngestClosed(IngestError):
    """`accept` was called after `stop`."""


class _Abandoned(Exception):
    """Stop's deadline passed while the database was unavailable: leave the rest spooled."""


@dataclass(frozen=True, slots=True)
class IngestStats:
    spooled: int  # messages made durable by accept
    committed_messages: int  # messages whose rows are committed (their spool records freed)
    rows: dict[str, int]  # rows inserted per table (duplicates excluded)
    dead_letters: int  # dead-letter rows written (new or seen again)
    bisections: int  # splits of a batch that failed on its content
    retries: int  # attempts that failed on the connection/server and were retried
    database_up: bool  # did the last attempt reach the database?
    spool_bytes: int  # bytes spooled and not yet committed
    spool_pending: int  # messages spooled and not yet committed
    lag_s: float  # age of the oldest message read and not yet committed (0 when idle)


@dataclass(frozen=True, slots=True)
class _Job:
    position: Position  # commit this once the batch is stored
    messages: int
    store: Callable[[], WriteResult]  # stores the batch; called again to retry


@dataclass(slots=True)
class _Counters:
    spooled: int = 0
    committed_messages: int = 0
    rows: dict[str, int] = dataclasses.field(
        default_factory=lambda: {f.name: 0 for f in dataclasses.fields(WriteCounts)}
    )
    dead_letters: int = 0
    bisections: int = 0
    retries: int = 0
    database_up: bool = True
    # receive time of the first message of each batch read and not yet committed, in order
    in_flight: deque[datetime] = dataclasses.field(default_factory=deque)

    def add(self, result: WriteResult) -> None:
        for name in self.rows:
            self.rows[name] += getattr(result.counts, name)
        self.dead_letters += result.counts.dead_letters
        self.bisections += result.bisections


class IngestService:
    """Spool first, database second: `accept` returns once messages are fsync'ed locally.

    A drainer thread reads the spool in order, turns messages into rows (`process`, then
    `enrich`), writes them with `BatchWriter` and only then commits the spool cursor: a crash
    anywhere re-reads uncommitted records, and the idempotent writes absorb the repeats.
    While PostgreSQL is unreachable the drainer retries forever (capped exponential
    backoff with jitter) and `accept` keeps filling the spool up to its bound, then blocks:
    the bridge stops acknowledging and the broker holds the rest.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        spool: Spool,
        process: Process,
        *,
        batch_size: int = 2000,
        flush_interval_s: float = 0.2,
        base_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
        enrich: Enricher | None = None,
        connect_timeout_s: float = 5.0,
        workers: WorkerPool | None = None,
    ) -> None:
        """`workers`: process and store batches in those processes (the pool is the
        caller's to close, after `stop`); else in this process's threads."""
        self._spool = spool
        self._workers = workers
        self._writer = BatchWriter(pool, process, enrich, connect_timeout_s=connect_timeout_s)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._closed = threading.Event()  # no more accept
        self._abandon = threading.Event()  # stop's deadline passed: stop retrying
        # Decoding the next batch overlaps with writing this one (the database works while
        # we decode); two prepared batches at most: bounded memory.
        self._prepared: queue.Queue[_Job | None] = queue.Queue(maxsize=2)
        self._threads: list[threading.Thread] = []

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            raise RuntimeError("IngestService already started")
        self._threads = [
            threading.Thread(target=self._prepare_loop, name="ingest-preparer", daemon=True),
            threading.Thread(target=self._write_loop, name="ingest-drainer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Refuse new messages, drain what the database takes within `timeout`, then stop.

        Whatever is not committed by then stays in the spool for the next start.
        """
        self._closed.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._abandon.set()
            # A write in progress finishes (or fails) within the connect timeout.
            for thread in self._threads:
                thread.join(self._writer.connect_timeout_s + 5)
                if thread.is_alive():
                    logger.error("%s did not stop; its batch stays spooled", thread.name)
        logger.info("ingest service stopped", extra={"spool_pending": self._spool.pending})

    # --- input -------------------------------------------------------------------------
    def accept(self, messages: Sequence[InboundMessage], timeout: float | None = None) -> None:
        """Durable on return (fsync'ed in the spool). Waits while the spool is full."""
        deadline = None if timeout is None else time.monotonic() + timeout
        nbytes = sum(len(m.payload) + len(m.topic) + 32 for m in messages)
        while True:
            if self._closed.is_set():
                raise IngestClosed("the ingest service is stopped")
            try:
                self._spool.append(messages)
            except SpoolFull:
                wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(
                        f"spool full ({self._spool.size_bytes} bytes) for {timeout} s"
                    ) from None
                self._spool.wait_for_space(nbytes, wait)
                continue
            with self._lock:
                self._counters.spooled += len(messages)
            return

    def write_now(self, messages: Sequence[InboundMessage]) -> WriteCounts:
        """Process and write without the spool (tools, replay); raises StorageError if the
        database is unreachable. Content failures still become 'store' dead letters."""
        return self.write_detailed(messages).counts

    def write_detailed(self, messages: Sequence[InboundMessage]) -> WriteResult:
        try:
            result = self._writer.store(self._writer.prepare(messages))
        except SystemicStorageFailure:
            raise
        except Exception as exc:
            if is_retriable(exc):
                raise StorageError(f"database unavailable: {exc}") from exc
            raise
        with self._lock:
            self._counters.add(result)
        return result

    @property
    def stats(self) -> IngestStats:
        with self._lock:
            c = self._counters
            oldest = c.in_flight[0] if c.in_flight else None
            return IngestStats(
                spooled=c.spooled,
                committed_messages=c.committed_messages,
                rows=dict(c.rows),
                dead_letters=c.dead_letters,
                bisections=c.bisections,
                retries=c.retries,
                database_up=c.database_up,
                spool_bytes=self._spool.size_bytes,
                spool_pending=self._spool.pending,
                lag_s=(datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0,
            )

    # --- drainer -----------------------------------------------------------------------
    def _collect(
        self, read: Callable[[int], list[tuple[Position, _R]]], size: Callable[[_R], int]
    ) -> list[tuple[Position, _R]]:
        """A batch: `batch_size` records, or what came within `flush_interval_s` of the first.
        `read` is the spool's `read` (messages) or `read_spans`; `size` counts an item's."""
        items = read(self._batch_size)
        if not items:
            return items
        deadline = time.monotonic() + self._flush_interval_s
        count = sum(size(item) for _, item in items)
        while count < self._batch_size and not self._closed.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._spool.wait(remaining):
                break
            more = read(self._batch_size - count)
            count += sum(size(item) for _, item in more)
            items.extend(more)
        return items

    def _next_job(self) -> _Job | None:
        """The next batch, read from the spool and handed to a worker process or turned into
        rows here (retried while the registry is unreachable); None if nothing came."""
        if self._workers is not None:
            spans = self._collect(self._spool.read_spans, lambda span: span.records)
            if not spans:
                return None
            with self._lock:
                self._counters.in_flight.append(spans[0][1].first_received_at)
            later = self._workers.later([span for _, span in spans])
            return _Job(spans[-1][0], sum(span.records for _, span in spans), later)
        items = self._collect(self._spool.read, lambda _: 1)
        if not items:
            return None
        with self._lock:
            self._counters.in_flight.append(items[0][1].received_at)
        messages = [m for _, m in items]
        outcomes = self._retrying(partial(self._writer.prepare, messages))
        return _Job(items[-1][0], len(items), partial(self._writer.store, outcomes))

    def _put(self, job: _Job | None) -> bool:
        while not self._abandon.is_set():
            try:
                self._prepared.put(job, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _prepare_loop(self) -> None:
        """Read the spool in order and turn messages into rows, a batch ahead of the writer."""
        try:
            while not (self._closed.is_set() and self._spool.unread == 0):
                if self._abandon.is_set():
                    return
                try:
                    job = self._next_job()
                except _Abandoned:
                    return
                if job is None:
                    self._spool.wait(0.2)
                    continue
                if not self._put(job):
                    return
        finally:
            self._put(None)  # tells the writer nothing more comes

    def _write_loop(self) -> None:
        """Write prepared batches in spool order; commit the cursor after each."""
        while True:
            try:
                job = self._prepared.get(timeout=0.2)
            except queue.Empty:
                if self._abandon.is_set():
                    return
                continue
            if job is None:
                return
            while True:
                try:
                    result = self._retrying(job.store)
                    break
                except _Abandoned:
                    logger.warning(
                        "stopping with %d messages not stored; they stay spooled", job.messages
                    )
                    return
                except Exception:
                    # A bug, not the data or the database: keep the batch, try it again.
                    logger.exception("ingest writer failed; retrying the batch")
                    if self._abandon.wait(self._max_delay_s):
                        return
            self._spool.commit(job.position)
            with self._lock:
                self._counters.add(result)
                self._counters.committed_messages += job.messages
                self._counters.in_flight.popleft()

    def _retrying(self, action: Callable[[], _T]) -> _T:
        attempt = 0
        while True:
            try:
                result = action()
            except Exception as exc:
                if not (is_retriable(exc) or isinstance(exc, SystemicStorageFailure)):
                    raise
                attempt += 1
                delay = min(self._max_delay_s, self._base_delay_s * 2 ** min(attempt - 1, 30))
                delay *= random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not cryptography
                with self._lock:
                    self._counters.retries += 1
                    self._counters.database_up = isinstance(exc, SystemicStorageFailure)
                # Every attempt during an outage would flood the log: first, then every 10th.
                if attempt == 1 or attempt % 10 == 0:
                    logger.warning(
                        "store failed (attempt %d), retrying in %.2f s: %s",
                        attempt,
                        delay,
                        exc,
                        extra={"attempt": attempt, "spool_pending": self._spool.pending},
                    )
                if self._abandon.wait(delay):
                    raise _Abandoned from exc
                continue
            with self._lock:
                if not self._counters.database_up:
                    logger.info("database reachable again after %d retries", attempt)
                self._counters.database_up = True
            return result
