"""Ingest worker processes: parse, decode, rows and COPY off the process that receives MQTT.

One bridge process is bound by its GIL: paho's receive loop and our per-uplink Python (parse,
decode, rows, COPY) take turns on one core (docs/benchmarks.md, Ingest). With workers, the
bridge process only receives, spools and acknowledges; a worker process reads a batch of
spool records by place (`spool.read_span`: nothing but offsets crosses the pipe), turns them
into rows and writes them with its own `BatchWriter`, and returns the counts. The ingest
service commits the spool cursor in spool order once a batch is stored, so a worker that dies
mid-batch loses nothing: the same span is written again (writes are idempotent).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ingest_service.batch_writer import (
    BatchWriter,
    SystemicStorageFailure,
    WriteResult,
    is_retriable,
)
from ingest_service.spool import Span, read_span
from ingest_service.writer import WriteCounts
from storage.errors import StorageError

logger = logging.getLogger(__name__)

# A worker's metric totals: (sample name, sorted labels) -> value (see BridgeMetrics)
_PARENT_POLL_S = 0.5

Totals = Mapping[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """What a worker process writes with, built once in it by the `WorkerFactory`."""

    writer: BatchWriter
    totals: Callable[[], Totals] | None = None  # its metric totals, sent with every result


# Called in the worker process: a module-level function (or a partial of one) so that it can
# be pickled to a spawned process.
WorkerFactory = Callable[[], WorkerParts]


class WorkerFailed(StorageError):
    """A worker could not store its batch (the reason crossed the process boundary as text:
    not every exception pickles). `retriable`: the database or registry was unreachable."""

    def __init__(self, reason: str, retriable: bool) -> None:
        super().__init__(reason)
        self.retriable = retriable


@dataclass(frozen=True, slots=True)
class _Outcome:
    pid: int
    totals: Totals
    counts: WriteCounts | None = None
    bisections: int = 0
    error: str | None = None
    retriable: bool = False


# The worker process's parts, set by the pool's initializer (ProcessPoolExecutor hands state
# to its workers only this way); never set in the bridge process.
_parts: WorkerParts | None = None


def _initialize(factory: WorkerFactory) -> None:
    global _parts  # per worker process, see above
    # The bridge decides when workers stop (executor shutdown, or the pipe closing when it
    # dies); a Ctrl-C or a service manager's SIGTERM to the process group must not kill a
    # worker in the middle of a batch before the bridge has drained.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()
    _parts = factory()


def _exit_with_parent(parent: int) -> None:
    """Leave when the bridge is gone (kill -9, crash): a worker holds the call queue's write
    end too, so it would never see end-of-file and would live on as an orphan. Its batch in
    flight is rolled back by PostgreSQL and stays in the spool for the next bridge."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(70)  # EX_SOFTWARE; no clean-up: the parent owns everything worth cleaning


def _ready() -> int:
    return os.getpid()


def _store(spans: list[Span]) -> _Outcome:
    parts = _parts
    if parts is None:
        raise RuntimeError("ingest worker used before its initializer ran")
    totals = parts.totals or dict
    try:
        messages = [message for span in spans for message in read_span(span)]
        result = parts.writer.store(parts.writer.prepare(messages))
    except Exception as exc:
        retriable = is_retriable(exc) or isinstance(exc, SystemicStorageFailure)
        if not retriable:
            logger.exception("ingest worker failed on a batch")
        return _Outcome(
            os.getpid(), totals(), error=f"{type(exc).__name__}: {exc}", retriable=retriable
        )
    return _Outcome(os.getpid(), totals(), result.counts, result.bisections)


@dataclass(frozen=True, slots=True)
class _Submitted:
    executor: ProcessPoolExecutor  # the one it went to: replaced only once when it breaks
    future: Future[_Outcome] | None
    refused: BaseException | None = None  # why submission failed (future is None)


class WorkerPool:
    """`workers` spawned processes that store spool spans; a dead one is replaced."""

    def __init__(
        self,
        factory: WorkerFactory,
        workers: int,
        on_totals: Callable[[Totals, Totals], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._factory = factory
        self._workers = workers
        self._on_totals = on_totals
        self._last: dict[int, Totals] = {}  # per worker pid: the totals already applied
        # spawn, not fork: the bridge has threads (paho, drainer) and open sockets
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()  # the executor is replaced by the writer thread
        self._closed = False
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._workers,
            mp_context=self._context,
            initializer=_initialize,
            initargs=(self._factory,),
        )

    def start(self, timeout: float = 60) -> list[int]:
        """Start every worker now (imports, registry) rather than on the first batch; their
        pids. Raises WorkerFailed if they cannot start."""
        try:
            futures = [self._executor.submit(_ready) for _ in range(self._workers)]
            return sorted({f.result(timeout) for f in futures})
        except (BrokenProcessPool, TimeoutError) as exc:
            raise WorkerFailed(f"ingest workers did not start: {exc!r}", retriable=False) from exc

    def later(self, spans: list[Span]) -> Callable[[], WriteResult]:
        """Submit `spans` now; the returned function waits for their result (raising
        WorkerFailed), and on later calls stores them again (the ingest service's retry)."""
        submitted: _Submitted | None = self._submit(spans)

        def result() -> WriteResult:
            nonlocal submitted
            current, submitted = submitted, None
            return self._result(current if current is not None else self._submit(spans))

        return result

    def _submit(self, spans: list[Span]) -> _Submitted:
        executor = self._executor
        try:
            return _Submitted(executor, executor.submit(_store, spans))
        except (BrokenProcessPool, RuntimeError) as exc:  # broken, or shut down by close()
            return _Submitted(executor, None, exc)

    def _result(self, submitted: _Submitted) -> WriteResult:
        try:
            if submitted.future is None:
                raise BrokenProcessPool(f"not submitted: {submitted.refused!r}")
            outcome = submitted.future.result()
        except (BrokenProcessPool, CancelledError) as exc:
            # A worker died (killed, out of memory): every batch in flight on that executor
            # fails and is retried by the ingest service, in order, on a new one (made once,
            # by the first batch to see the old one broken).
            with self._lock:
                if submitted.executor is self._executor and not self._closed:
                    logger.error("an ingest worker process died; starting new ones: %s", exc)
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._new_executor()
            raise WorkerFailed(f"ingest worker lost: {exc!r}", retriable=True) from exc
        if self._on_totals is not None:
            self._on_totals(self._last.get(outcome.pid, {}), outcome.totals)
        self._last[outcome.pid] = outcome.totals
        if outcome.error is not None or outcome.counts is None:
            raise WorkerFailed(outcome.error or "no counts", outcome.retriable)
        return WriteResult(outcome.counts, [], outcome.bisections)

    def close(self) -> None:
        """Stop the workers after the batch each is writing (the rest stays spooled)."""
        with self._lock:
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=True, cancel_futures=True)
