-- 0003, TimescaleDB mode: no time-only btree on the aggregates' materialization hypertables.
--
-- Why (docs/benchmarks.md, Storage): a real-time aggregate is a UNION whose materialized
-- part reads `bucket < <watermark constant>`. A query with `bucket >= $1` (a prepared
-- statement: psycopg prepares after 5 executions; plpgsql functions such as
-- icone_consumption, whose plans are generic on purpose) gets a generic plan in which that
-- pair of bounds is a range with one unknown end, costed at PostgreSQL's fixed 0.5 % of the
-- rows. The btree on `bucket` alone then looks cheapest, and the plan reads every register's
-- rows of the window and filters on the device afterwards, so its cost grows with the fleet,
-- not with what it returns: the server-room query (6 sensors, 30 days) read 60 registers'
-- hours at scale 0.06 (38,880 rows filtered out) and, by its growth, all 500 at scale 0.5;
-- at scale 1 the estimates happened to favour the right index (the choice hangs on chunk
-- statistics, not on the query). icone_consumption's
-- day rows (`measurements_daily`, bucket >= day) read every register's days of the
-- uncompressed daily chunk the same way (monthly energy per site: 98 -> 46 ms at scale 1).
-- Without that index the generic plans take the (dev_eui, bucket) index TimescaleDB creates
-- for the GROUP BY columns, or the register index: the rows of the devices asked for only.
--
-- What the btree was for, and what does it now:
--  * range DELETEs of the refresh (and of retention): a BRIN on `bucket`. Rows are written
--    by refreshes in time order, so block ranges are narrow; autosummarize keeps the newest
--    ranges summarized without waiting for a VACUUM.
--  * max(bucket) (the watermark, computed after each refresh): an index-only scan of the
--    newest chunk's (channel, bucket) index instead of a one-row descent: 85-105 ms for the
--    hourly aggregate at scale 1 (a 70-day chunk of 1,000 registers; 8 ms daily), against
--    ~6 s for the policy's 7-day refresh itself at that scale.
DO $$
DECLARE
    idx regclass;
BEGIN
    FOR idx IN
        SELECT i.indexrelid::regclass
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid IN (icone_storage_table('measurements_hourly'),
                             icone_storage_table('measurements_daily'))
          AND i.indnkeyatts = 1 AND a.attname = 'bucket'
    LOOP
        EXECUTE format('DROP INDEX %s', idx);
    END LOOP;
END $$;
CREATE INDEX measurements_hourly_bucket_brin ON measurements_hourly USING brin (bucket)
    WITH (autosummarize = on);
CREATE INDEX measurements_daily_bucket_brin ON measurements_daily USING brin (bucket)
    WITH (autosummarize = on);
