"""IngestService on a real PostgreSQL: exact row counts, duplicates, bisection, restart."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from ingest_service.batch_writer import is_retriable
from ingest_service.service import IngestClosed, IngestService
from ingest_service.spool import Spool
from storage.errors import StorageError
from storage.records import InboundMessage
from tests.ingest.helpers import (
    POISON_DEVICE,
    count,
    dev_eui,
    drained,
    malformed,
    poisoning,
    pool_for,
    process,
    running_service,
    uplink,
    wait_for,
)


def test_every_message_stored_exactly_once_duplicates_included(
    database: str, tmp_path: Path
) -> None:
    stream = [uplink(i) for i in range(300)]
    with pool_for(database) as pool, running_service(pool, tmp_path, batch_size=128) as service:
        for k in range(0, 300, 50):
            service.accept(stream[k : k + 50])
        service.accept(stream[:100])  # a broker redelivery after a lost acknowledgement
        wait_for(lambda: drained(service, 400), what="400 messages committed")
        stats = service.stats
    assert count(database, "SELECT count(*) FROM uplinks") == 300
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == 300
    assert count(database, "SELECT count(*) FROM measurements") == 900
    assert count(database, "SELECT count(*) FROM dead_letters") == 0
    assert stats.spooled == 400
    assert stats.rows["uplinks"] == 300  # duplicates are not counted as inserted
    assert stats.rows["measurements"] == 900
    assert stats.lag_s == 0.0
    assert stats.database_up


def test_poison_message_is_bisected_out_and_the_rest_commits(database: str, tmp_path: Path) -> None:
    stream = [uplink(i) for i in range(64)]
    poison = uplink(1000, device=POISON_DEVICE)
    stream.insert(37, poison)
    with (
        pool_for(database) as pool,
        running_service(pool, tmp_path, process=poisoning, batch_size=100) as service,
    ):
        service.accept(stream)
        wait_for(lambda: drained(service, 65), what="65 messages committed")
        stats = service.stats
    assert count(database, "SELECT count(*) FROM uplinks") == 64
    assert count(database, "SELECT count(*) FROM measurements") == 64 * 3
    assert (
        count(
            database, "SELECT count(*) FROM uplinks WHERE dev_eui = %s", (dev_eui(POISON_DEVICE),)
        )
        == 0
    )
    with psycopg.connect(database) as conn:
        letters = conn.execute(
            "SELECT stage, topic, payload, reason, dev_eui FROM dead_letters"
        ).fetchall()
    assert len(letters) == 1
    stage, topic, payload, reason, letter_eui = letters[0]
    assert (stage, topic, bytes(payload), letter_eui) == (
        "store",
        poison.topic,
        poison.payload,
        dev_eui(POISON_DEVICE),
    )
    assert "NumericValueOutOfRange" in reason
    assert stats.bisections >= 6  # 65 -> ... -> 1: at least log2(65) splits
    assert stats.dead_letters == 1


def test_malformed_messages_become_dead_letters_and_good_ones_are_stored(
    database: str, tmp_path: Path
) -> None:
    stream: list[InboundMessage] = []
    for i in range(200):
        stream.append(malformed(i) if i % 20 == 0 else uplink(i))  # 5 % malformed
    with pool_for(database) as pool, running_service(pool, tmp_path) as service:
        service.accept(stream)
        wait_for(lambda: drained(service, 200), what="200 messages committed")
    assert count(database, "SELECT count(*) FROM uplinks") == 190
    assert count(database, "SELECT count(*) FROM dead_letters WHERE stage = 'parse'") == 10
    assert count(database, "SELECT count(*) FROM dead_letters WHERE reason = ''") == 0


def test_restart_resumes_from_the_cursor_without_doubling(database: str, tmp_path: Path) -> None:
    stream = [uplink(i) for i in range(120)]
    with Spool(tmp_path, 1 << 20) as spool:
        spool.append(stream)  # accepted and acknowledged, then the bridge died
    with pool_for(database) as pool:
        # As if a first drainer had committed part of it to the database but not the cursor.
        with Spool(tmp_path, 1 << 20) as spool:
            IngestService(pool, spool, process).write_now(stream[:70])
        with running_service(pool, tmp_path) as service:
            wait_for(lambda: drained(service, 120), what="the spool drained")
            assert service.stats.rows["uplinks"] == 50
    assert count(database, "SELECT count(*) FROM uplinks") == 120
    assert count(database, "SELECT count(*) FROM measurements") == 360
    with Spool(tmp_path, 1 << 20) as spool:
        assert spool.pending == 0


def test_accept_blocks_at_the_bound_and_is_refused_after_stop(
    database: str, tmp_path: Path
) -> None:
    with pool_for(database) as pool, Spool(tmp_path, max_bytes=4000) as spool:
        service = IngestService(pool, spool, process)  # not started: nothing drains
        service.accept([uplink(0), uplink(1)])
        with pytest.raises(TimeoutError):
            service.accept([uplink(i) for i in range(2, 8)], timeout=0.2)
        service.start()  # the drainer frees the space: the same call now goes through
        service.accept([uplink(i) for i in range(2, 8)], timeout=30)
        service.stop()
        with pytest.raises(IngestClosed):
            service.accept([uplink(9)])
        assert spool.pending == 0
    assert count(database, "SELECT count(*) FROM uplinks") == 8


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (psycopg.OperationalError("server closed the connection"), True),
        (PoolTimeout("couldn't get a connection after 5.00 sec"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.SerializationFailure("could not serialize"), True),
        (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),
        (psycopg.errors.NumericValueOutOfRange("integer out of range"), False),
        (psycopg.errors.NotNullViolation("null value"), False),
        (TypeError("cannot adapt"), False),
    ],
)
def test_retry_or_bisect_classification(error: Exception, retriable: bool) -> None:
    wrapped = StorageError("batch not stored")
    wrapped.__cause__ = error
    assert is_retriable(error) is retriable
    assert is_retriable(wrapped) is retriable
