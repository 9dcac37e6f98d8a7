"""The spool on a real file system: framing, order, bound, cursor, torn-tail recovery."""

from __future__ import annotations

import logging
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest_service.spool import Spool, SpoolFull, encode_record
from storage.records import InboundMessage

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def messages(n: int, start: int = 0, size: int = 40) -> list[InboundMessage]:
    return [
        InboundMessage(
            f"application/a/device/{i:016x}/event/up",
            i.to_bytes(4, "big") * (size // 4),
            T0 + timedelta(microseconds=i),
        )
        for i in range(start, start + n)
    ]


def drain(spool: Spool) -> list[InboundMessage]:
    out: list[InboundMessage] = []
    while batch := spool.read(7):
        out.extend(m for _, m in batch)
        spool.commit(batch[-1][0])
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    sent = [*messages(3), InboundMessage("t/é", b"", T0.replace(microsecond=123456))]
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(sent)
        assert spool.pending == 4
        assert [m for _, m in spool.read(10)] == sent
        assert spool.read(10) == []


def test_order_across_segments_and_consumed_segments_deleted(tmp_path: Path) -> None:
    record = len(encode_record(messages(1)[0]))
    with Spool(tmp_path, 1 << 20, segment_bytes=record * 10) as spool:
        for k in range(10):
            spool.append(messages(5, start=5 * k))
        assert len(segments(tmp_path)) == 5
        assert drain(spool) == messages(50)
        assert spool.pending == 0
        assert spool.size_bytes == 0
        assert len(segments(tmp_path)) == 1  # only the active one remains


def test_bound_raises_spool_full_until_commit_frees_space(tmp_path: Path) -> None:
    record = len(encode_record(messages(1)[0]))
    with Spool(tmp_path, max_bytes=record * 10, segment_bytes=record * 4) as spool:
        spool.append(messages(10))
        with pytest.raises(SpoolFull):
            spool.append(messages(1, start=10))
        assert not spool.wait_for_space(record, timeout=0.01)
        batch = spool.read(3)
        spool.commit(batch[-1][0])
        assert spool.size_bytes == record * 7
        assert spool.wait_for_space(record * 3, timeout=0.01)
        spool.append(messages(3, start=10))
        with pytest.raises(SpoolFull):
            spool.append(messages(1, start=13))
        assert drain(spool) == messages(10, start=3)


def test_oversized_batch_accepted_into_an_empty_spool(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=10) as spool:
        spool.append(messages(3))  # else it could never be accepted at all
        with pytest.raises(SpoolFull):
            spool.append(messages(1))


def test_cursor_survives_reopen_and_uncommitted_records_are_read_again(tmp_path: Path) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(messages(10))
        first = spool.read(4)
        spool.commit(first[-1][0])
        spool.read(4)  # read ahead, not committed: must come back after a restart
    with Spool(tmp_path, 1 << 20) as spool:
        assert spool.pending == 6
        assert spool.recovery is None
        assert drain(spool) == messages(6, start=4)
        spool.append(messages(2, start=10))
    with Spool(tmp_path, 1 << 20) as spool:
        assert drain(spool) == messages(2, start=10)


def test_rewind_reads_uncommitted_again(tmp_path: Path) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(messages(5))
        spool.commit(spool.read(2)[-1][0])
        spool.read(3)
        assert spool.unread == 0
        spool.rewind()
        assert [m for _, m in spool.read(10)] == messages(3, start=2)


def test_torn_tail_keeps_complete_records_and_reports_the_partial_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(messages(20))
    segment = segments(tmp_path)[-1]
    size = segment.stat().st_size
    record = size // 20
    cut = size - record // 2  # in the middle of the 20th record
    with segment.open("r+b") as handle:
        handle.truncate(cut)
    with (
        caplog.at_level(logging.WARNING, logger="ingest_service.spool"),
        Spool(tmp_path, 1 << 20) as spool,
    ):
        assert spool.recovery is not None
        assert spool.recovery.records_kept == 19
        assert spool.recovery.bytes_discarded == cut - 19 * record
        assert spool.recovery.segment == segment
        assert segment.stat().st_size == 19 * record  # truncated at the last good record
        assert spool.pending == 19
        spool.append(messages(1, start=100))  # appends after the good records, not garbage
        assert drain(spool) == [*messages(19), *messages(1, start=100)]
    assert "kept 19 complete records" in caplog.text


def test_torn_header_only(tmp_path: Path) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(messages(3))
    segment = segments(tmp_path)[-1]
    with segment.open("ab") as handle:
        handle.write(struct.pack(">I", 999)[:3])  # a crash in the middle of a header
    with Spool(tmp_path, 1 << 20) as spool:
        assert spool.recovery is not None
        assert (spool.recovery.records_kept, spool.recovery.bytes_discarded) == (3, 3)
        assert drain(spool) == messages(3)


def test_crc_mismatch_in_last_record_is_detected(tmp_path: Path) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(messages(5))
    segment = segments(tmp_path)[-1]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in the last record's body
    segment.write_bytes(bytes(data))
    with Spool(tmp_path, 1 << 20) as spool:
        assert spool.recovery is not None
        assert spool.recovery.records_kept == 4
        assert drain(spool) == messages(4)


def test_clean_reopen_reports_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(messages(5))
    with Spool(tmp_path, 1 << 20) as spool:
        assert spool.recovery is None
        assert spool.pending == 5


def test_wait_signals_new_data(tmp_path: Path) -> None:
    with Spool(tmp_path, 1 << 20) as spool:
        assert not spool.wait(0.01)
        spool.append(messages(1))
        assert spool.wait(0.01)
        spool.read(1)
        assert not spool.wait(0.01)
