"""Migration 0003 (TimescaleDB): no time-only btree on the aggregates' materialization
hypertables (generic plans read every register through it), a BRIN for the refresh's range
deletes instead, and refreshes still work with it."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.storage.helpers import add_device, put, refresh, utc

INDEXES = """
SELECT i.indexrelid::regclass::text, am.amname,
       array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
CROSS JOIN LATERAL unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = icone_storage_table(%s)
GROUP BY 1, 2
"""


@pytest.mark.timescale
@pytest.mark.parametrize("view", ["measurements_hourly", "measurements_daily"])
def test_no_time_only_btree_on_aggregates(timescale_database: str, view: str) -> None:
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        indexes = {(am, tuple(cols)) for _, am, cols in conn.execute(INDEXES, (view,))}
        add_device(conn, "a000000000000001")
        put(conn, "a000000000000001", "temperature", [(utc("2025-06-10 08:00"), 21.5)])
        refresh(conn)  # range deletes and the watermark's max(bucket) without that btree
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(view))
        rows = conn.execute(count).fetchone()
    assert ("btree", ("bucket",)) not in indexes
    assert ("brin", ("bucket",)) in indexes
    assert ("btree", ("dev_eui", "metric", "channel", "bucket")) in indexes
    assert rows == (1,)
