"""A local durable spool: MQTT messages are fsync'ed here before they are acknowledged.

Layout under the spool directory:

- ``NNNNNNNNNNNNNNNNNNNN.seg``: append-only segments, numbered in order. Each record is
  framed as ``[u32 length][u32 CRC32 of the body][body]`` (big-endian header), where the
  body is the cbor2 encoding of ``[topic, payload bytes, received_at as epoch µs]``.
- ``cursor``: the position (segment, offset) up to which records are committed to the
  database, as ``>QQ`` plus a CRC32, replaced atomically (temp file, fsync, rename, fsync dir).

One ``append`` = one write + one fsync, so a batch of messages costs one disk flush. A crash
can leave a partial record (or garbage) at the end of the last segment: opening the spool
detects it by its length or CRC, keeps every complete record and truncates the rest, and
reports what was lost in ``recovery``. The bound (``max_bytes``) applies to records not yet
committed; on disk there can be up to one more segment of already-committed records.

Thread safety: one appending thread and one draining thread (appends are serialised, so
more appenders are safe too, only slower).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import cbor2

from ingest_service.errors import IngestError
from storage.records import InboundMessage

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")  # body length, CRC32 of the body
_CURSOR = struct.Struct(">QQI")  # segment, offset, CRC32 of the first 16 bytes
_SUFFIX = ".seg"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# A record larger than this is garbage from a torn write, not a message (MQTT caps at 256 MB;
# our broker at 1 MiB).
MAX_RECORD_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 4 * 1024 * 1024


class SpoolError(IngestError):
    """The spool cannot be used (I/O error, unreadable directory)."""


class SpoolFull(SpoolError):
    """Appending would exceed the spool's bound: wait for the drainer, then try again."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """The point just after a record: committing it means "consumed up to here"."""

    segment: int
    offset: int
    # Records from the cursor at opening up to here: counts what a commit frees, no I/O.
    ordinal: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What opening the spool found damaged in one segment and cut off."""

    records_kept: int  # complete records kept in that segment
    bytes_discarded: int  # bytes after the last complete record, truncated
    segment: Path


@dataclass(frozen=True, slots=True)
class Span:
    """Consecutive complete records of one segment, by place: what a worker process reads
    (`read_span`) without the records crossing a pipe. The segment is not removed before
    `end` is committed, so the span stays readable until then."""

    path: Path
    start: int
    end: int
    records: int
    first_received_at: datetime  # the oldest record's receive time (lag statistics)


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int  # durable bytes (after fsync); readers never go past it


def encode_record(message: InboundMessage) -> bytes:
    micros = (message.received_at - _EPOCH) // _MICROSECOND
    body = cbor2.dumps([message.topic, message.payload, micros])
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def _decode_body(body: bytes) -> InboundMessage:
    topic, payload, micros = cbor2.loads(body)
    return InboundMessage(str(topic), bytes(payload), _EPOCH + micros * _MICROSECOND)


def _bodies(data: bytes, wanted: int) -> Iterator[tuple[int, bytes]]:
    """(end offset, body) of up to `wanted` whole records at the start of `data`; raises on a
    checksum mismatch (records below the durable size were fsync'ed whole)."""
    pos = 0
    while wanted > 0 and pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if end > len(data):
            return  # continues in the next chunk
        body = data[pos + _HEADER.size : end]
        if zlib.crc32(body) != crc:
            raise SpoolError(f"spool record at byte {pos} of the chunk fails its checksum")
        yield end, body
        pos, wanted = end, wanted - 1


def read_span(span: Span) -> list[InboundMessage]:
    """The messages of `span` (in a worker process: no Spool object needed)."""
    try:
        with span.path.open("rb") as handle:
            handle.seek(span.start)
            data = handle.read(span.end - span.start)
    except OSError as exc:
        raise SpoolError(f"cannot read spool span {span.path.name}:{span.start}: {exc}") from exc
    messages = [_decode_body(body) for _, body in _bodies(data, span.records)]
    if len(messages) != span.records:
        raise SpoolError(f"spool span {span.path.name}:{span.start} is shorter than recorded")
    return messages


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(data: bytes, start: int = 0) -> tuple[int, int]:
    """(records, end offset of the last complete and valid record) in `data` from `start`."""
    offset, records, size = start, 0, len(data)
    while offset + _HEADER.size <= size:
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if length > MAX_RECORD_BYTES or end > size:
            break
        if zlib.crc32(data[offset + _HEADER.size : end]) != crc:
            break
        offset, records = end, records + 1
    return records, offset


class Spool:
    """Append-only, fsync'ed, bounded record log with a durable read cursor."""

    def __init__(
        self, directory: Path, max_bytes: int, segment_bytes: int = 64 * 1024 * 1024
    ) -> None:
        if max_bytes <= 0 or segment_bytes <= 0:
            raise ValueError("max_bytes and segment_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.recovery_reports: list[RecoveryReport] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # data appended or space freed
        self._append_lock = threading.Lock()
        self._segments: dict[int, _Segment] = {}
        self._cursor = Position(0, 0)  # durable: committed up to here
        self._read_pos = Position(0, 0)  # in memory: read (handed out) up to here
        self._pending = 0  # records appended, not committed
        self._pending_bytes = 0  # their bytes (headers included): what the bound applies to
        self._unread = 0  # records appended, not yet read
        self._closed = False
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._recover()
            self._active_fd = self._open_active()
        except OSError as exc:
            raise SpoolError(f"cannot open spool in {directory}: {exc}") from exc

    # --- opening / recovery ------------------------------------------------------------
    def _segment_path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{_SUFFIX}"

    def _read_cursor(self) -> Position:
        path = self.directory / "cursor"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return Position(0, 0)
        if len(raw) == _CURSOR.size:
            segment, offset, crc = _CURSOR.unpack(raw)
            if zlib.crc32(raw[:16]) == crc:
                return Position(segment, offset)
        # Rename makes this impossible short of disk corruption; re-reading everything is
        # safe because the writes are idempotent.
        logger.error("spool cursor %s is corrupt; draining the spool from its start", path)
        return Position(0, 0)

    def _recover(self) -> None:
        cursor = self._read_cursor()
        seqs = sorted(
            int(p.name.removesuffix(_SUFFIX))
            for p in self.directory.glob(f"*{_SUFFIX}")
            if p.name.removesuffix(_SUFFIX).isdigit()
        )
        last = seqs[-1] if seqs else None
        for seq in seqs:
            path = self._segment_path(seq)
            data = path.read_bytes()
            records, good = _scan(data)
            if good < len(data):
                report = RecoveryReport(records, len(data) - good, path)
                self.recovery_reports.append(report)
                # The tail of the last segment is a write cut short by a crash: expected.
                # Damage inside an older segment is disk corruption: the rest of it is lost.
                logger.log(
                    logging.WARNING if seq == last else logging.ERROR,
                    "spool segment %s: kept %d complete records, discarded %d bytes of a "
                    "partial or corrupt record",
                    path.name,
                    records,
                    len(data) - good,
                    extra={
                        "segment": str(path),
                        "records_kept": records,
                        "bytes_discarded": len(data) - good,
                    },
                )
                with path.open("r+b") as handle:
                    handle.truncate(good)
                    os.fsync(handle.fileno())
            if seq != last and (
                seq < cursor.segment or (seq == cursor.segment and good <= cursor.offset)
            ):
                path.unlink()  # fully committed before the last run stopped
                continue
            self._segments[seq] = _Segment(seq, path, good)
            if seq > cursor.segment:
                self._pending += records
                self._pending_bytes += good
            elif seq == cursor.segment and cursor.offset < good:
                self._pending += _scan(data[:good], cursor.offset)[0]
                self._pending_bytes += good - cursor.offset
        if self.recovery_reports:
            _fsync_dir(self.directory)
        if self._segments:
            first, last_seq = min(self._segments), max(self._segments)
            if cursor.segment < first:
                cursor = Position(first, 0)
            elif cursor.segment > last_seq:  # segments removed by hand: nothing left to read
                cursor = Position(last_seq, self._segments[last_seq].size)
            else:
                cursor = Position(cursor.segment, min(cursor.offset, self._segments[first].size))
        self._cursor = self._read_pos = cursor
        self._unread = self._pending

    def _open_active(self) -> int:
        if not self._segments:
            seq = max(self._cursor.segment + 1, 1)
            self._segments[seq] = _Segment(seq, self._segment_path(seq), 0)
            if self._cursor.segment < seq:
                self._cursor = self._read_pos = Position(seq, 0)
            fd = os.open(self._segment_path(seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            _fsync_dir(self.directory)
            return fd
        active = self._segments[max(self._segments)]
        return os.open(active.path, os.O_WRONLY | os.O_APPEND)

    @property
    def recovery(self) -> RecoveryReport | None:
        """The damage found at opening in the last segment (the torn tail), if any."""
        return self.recovery_reports[-1] if self.recovery_reports else None

    # --- appending -------------------------------------------------------------------
    def append(self, messages: Sequence[InboundMessage]) -> None:
        """Make `messages` durable (one write, one fsync). Raises SpoolFull at the bound."""
        if not messages:
            return
        data = b"".join(map(encode_record, messages))
        with self._append_lock:
            with self._lock:
                if self._closed:
                    raise SpoolError("spool is closed")
                # A batch larger than the bound is let in when the spool is empty, or it
                # could never be accepted at all.
                if self._pending_bytes + len(data) > self.max_bytes and self._pending_bytes:
                    raise SpoolFull(
                        f"spool holds {self._pending_bytes} bytes, bound {self.max_bytes}"
                    )
                active = self._segments[max(self._segments)]
            try:
                if active.size and active.size + len(data) > self.segment_bytes:
                    active = self._roll(active.seq + 1)
                self._write_all(self._active_fd, data, active)
            except OSError as exc:
                raise SpoolError(f"spool write failed: {exc}") from exc
            with self._changed:
                active.size += len(data)
                self._pending += len(messages)
                self._pending_bytes += len(data)
                self._unread += len(messages)
                self._changed.notify_all()

    def _write_all(self, fd: int, data: bytes, segment: _Segment) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError:
            # Cut the partial write off, or the next append would land after garbage.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, segment.size)
            raise

    def _roll(self, seq: int) -> _Segment:
        path = self._segment_path(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)  # the new file's name must survive a crash too
        old = self._active_fd
        segment = _Segment(seq, path, 0)
        with self._lock:
            self._segments[seq] = segment
            self._active_fd = fd
        os.close(old)
        return segment

    # --- reading and committing ----------------------------------------------------
    def read(self, max_records: int) -> list[tuple[Position, InboundMessage]]:
        """Up to `max_records` records after those already read, with the position after each.

        Reading does not consume: only `commit` does. After a restart (or `rewind`), reading
        starts again at the committed cursor.
        """
        out: list[tuple[Position, InboundMessage]] = []
        for segment, start, bodies in self._read_bodies(max_records):
            ordinal = start.ordinal
            for end, body in bodies:
                ordinal += 1
                out.append((Position(segment.seq, end, ordinal), _decode_body(body)))
        return out

    def read_spans(self, max_records: int) -> list[tuple[Position, Span]]:
        """Like `read`, but the records stay on disk: spans (one per segment) and the position
        after each, for a worker process to `read_span`."""
        out: list[tuple[Position, Span]] = []
        for segment, start, bodies in self._read_bodies(max_records):
            if bodies:
                end = bodies[-1][0]
                span = Span(
                    segment.path,
                    start.offset,
                    end,
                    len(bodies),
                    _decode_body(bodies[0][1]).received_at,
                )
                out.append((Position(segment.seq, end, start.ordinal + len(bodies)), span))
        return out

    def _read_bodies(
        self, max_records: int
    ) -> list[tuple[_Segment, Position, list[tuple[int, bytes]]]]:
        """Up to `max_records` record bodies after the read position, per segment: (segment,
        position before its first record, [(end offset, body)]); advances the read position."""
        out: list[tuple[_Segment, Position, list[tuple[int, bytes]]]] = []
        wanted = max_records
        while wanted > 0:
            with self._lock:
                pos = self._read_pos
                segment = self._segments.get(pos.segment)
                if segment is None or pos.offset >= segment.size:
                    # Exhausted: move on only if a later segment exists (then this one is
                    # sealed, its size final); else we have read everything durable.
                    later = [s for s in self._segments if s > pos.segment]
                    if not later:
                        break
                    self._read_pos = Position(min(later), 0, pos.ordinal)
                    continue
                limit = segment.size
            bodies = self._read_from(segment, pos.offset, limit, wanted)
            if not bodies:  # below the durable size records are whole: cannot happen
                raise SpoolError(f"{segment.path.name} from {pos.offset}: no whole record")
            out.append((segment, pos, bodies))
            wanted -= len(bodies)
            with self._lock:
                offset = bodies[-1][0] if bodies else pos.offset
                self._read_pos = Position(pos.segment, offset, pos.ordinal + len(bodies))
                self._unread -= len(bodies)
        return out

    def _read_from(
        self, segment: _Segment, offset: int, limit: int, wanted: int
    ) -> list[tuple[int, bytes]]:
        """Up to `wanted` record bodies of `segment` from `offset` (< limit), each with the
        offset just after it."""
        with segment.path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(min(limit - offset, _READ_CHUNK))
            length = _HEADER.unpack_from(data)[0] if len(data) >= _HEADER.size else 0
            if _HEADER.size + length > len(data):  # one record larger than the chunk
                data += handle.read(_HEADER.size + length - len(data))
        try:
            return [(offset + end, body) for end, body in _bodies(data, wanted)]
        except SpoolError as exc:
            raise SpoolError(f"{segment.path.name} from {offset}: {exc}") from exc

    def rewind(self) -> None:
        """Read again from the committed cursor (records read but not committed)."""
        with self._lock:
            self._read_pos = self._cursor
            self._unread = self._pending

    def commit(self, position: Position) -> None:
        """Durably record that everything up to `position` (from `read`) is stored."""
        with self._lock:
            if position <= self._cursor:
                return
            active_seq = max(self._segments)
            freed_bytes = 0
            for seq, segment in self._segments.items():
                if self._cursor.segment <= seq <= position.segment:
                    lo = self._cursor.offset if seq == self._cursor.segment else 0
                    hi = position.offset if seq == position.segment else segment.size
                    freed_bytes += max(0, hi - lo)
        tmp = self.directory / "cursor.tmp"
        raw = struct.pack(">QQ", position.segment, position.offset)
        try:
            with tmp.open("wb") as handle:
                handle.write(raw + struct.pack(">I", zlib.crc32(raw)))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.directory / "cursor")
            _fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"cannot write spool cursor: {exc}") from exc
        with self._changed:
            self._pending -= position.ordinal - self._cursor.ordinal
            self._pending_bytes -= freed_bytes
            self._cursor = position
            done = [
                s
                for s in self._segments.values()
                if s.seq != active_seq
                and (
                    s.seq < position.segment
                    or (s.seq == position.segment and position.offset >= s.size)
                )
            ]
            for segment in done:
                del self._segments[segment.seq]
            self._changed.notify_all()
        for segment in done:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()

    # --- waiting and state -----------------------------------------------------------
    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for records not yet read; True if there are some."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._unread <= 0 and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return self._unread > 0

    def wait_for_space(self, nbytes: int, timeout: float) -> bool:
        """Wait up to `timeout` s until `nbytes` more would fit under the bound."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._pending_bytes and self._pending_bytes + nbytes > self.max_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._changed.wait(remaining)
            return True

    @property
    def size_bytes(self) -> int:
        """Bytes of records not yet committed (what the bound applies to)."""
        with self._lock:
            return self._pending_bytes

    @property
    def pending(self) -> int:
        """Records appended and not yet committed."""
        with self._lock:
            return self._pending

    @property
    def unread(self) -> int:
        """Records appended and not yet read."""
        with self._lock:
            return self._unread

    @property
    def cursor(self) -> Position:
        with self._lock:
            return self._cursor

    def close(self) -> None:
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        with self._append_lock:
            os.close(self._active_fd)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
