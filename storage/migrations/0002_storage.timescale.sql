-- 0002 storage, TimescaleDB mode (2.13+; option names of the 2.13 API, still accepted later).
--
-- Chunk intervals (set in 0001): 7 days for measurements/uplinks. At 1,000 devices x 15 min
-- a chunk holds ~0.7 M measurement rows (~110 MB with indexes while uncompressed), well
-- inside 25 % of memory, and 672 readings per register: one compressed batch (<= 1,000 rows)
-- per register and chunk. Longer chunks would fill batches (1,000 rows) but keep up to twice
-- as many rows uncompressed (a chunk compresses only once wholly older than compress_after);
-- shorter ones halve the batches and multiply the ~50 kB fixed cost of a compressed chunk.
--
-- Compression, measured in docs/benchmarks.md (Storage): ~7 bytes per reading inside
-- compressed chunks (time delta-of-delta ~0.1 B, value Gorilla XOR ~6 B for decimal
-- readings), ~160 B per reading while uncompressed (row + unique index + time index).
-- Every query filters on the register (device, metric, channel), so it is the segment: the
-- compressed index then finds a register's batches directly, and segment values are stored
-- once per batch. Newest first within a segment: "latest reading before t" (consumption
-- edges) decompresses one batch. Compress after 7 days: at most two 7-day chunks stay
-- uncompressed, which is most of the steady-state footprint (14 days cost ~3 B more per
-- reading over a year); late rows still land in compressed chunks (DML on compressed data,
-- 2.11+), and the aggregates' refresh windows read compressed chunks like any other.
ALTER TABLE measurements SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'dev_eui, metric, channel',
    timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('measurements', compress_after => INTERVAL '7 days');
ALTER TABLE uplinks SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'dev_eui',
    timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('uplinks', compress_after => INTERVAL '7 days');

-- Continuous aggregates. One narrow shape for every metric kind: gauges use min/max/avg/n,
-- counters first/last (with their times, to spread consumption over gaps) and min/max (to
-- detect non-monotonic days), interval quantities sum. Daily = hierarchical on hourly,
-- bucketed on Europe/Paris midnights (23 h and 25 h days at DST changes).
CREATE MATERIALIZED VIEW measurements_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, dev_eui, metric, channel,
       count(*) AS n, min(value) AS min_v, max(value) AS max_v, avg(value) AS avg_v,
       sum(value) AS sum_v,
       first(value, time) AS first_v, min(time) AS first_t,
       last(value, time) AS last_v, max(time) AS last_t
FROM measurements
GROUP BY 1, 2, 3, 4
WITH NO DATA;

CREATE MATERIALIZED VIEW measurements_daily WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 day', bucket, 'Europe/Paris') AS bucket, dev_eui, metric, channel,
       sum(n)::bigint AS n, min(min_v) AS min_v, max(max_v) AS max_v,
       sum(sum_v) / sum(n)::double precision AS avg_v, sum(sum_v) AS sum_v,
       first(first_v, first_t) AS first_v, min(first_t) AS first_t,
       last(last_v, last_t) AS last_v, max(last_t) AS last_t
FROM measurements_hourly
GROUP BY 1, 2, 3, 4
WITH NO DATA;

-- Real-time aggregation: the newest, not yet materialized buckets are computed from raw rows.
ALTER MATERIALIZED VIEW measurements_hourly SET (timescaledb.materialized_only = false);
ALTER MATERIALIZED VIEW measurements_daily SET (timescaledb.materialized_only = false);

-- Refresh windows cover the lateness we accept (gateway/network-server buffering, a meter's
-- history frames): 7 days hourly, 10 days daily. Older late rows are logged as invalidations
-- and materialized by ingest_service.rollups.refresh_rollups (the ingest path calls it).
SELECT add_continuous_aggregate_policy('measurements_hourly', start_offset => INTERVAL '7 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
SELECT add_continuous_aggregate_policy('measurements_daily', start_offset => INTERVAL '10 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');

-- Register lookups on the aggregates (consumption reads a register's day rows and the last
-- one before a window); the default per-column indexes would scan every device's rows.
CREATE INDEX measurements_hourly_register_idx
    ON measurements_hourly (dev_eui, metric, channel, bucket DESC);
CREATE INDEX measurements_daily_register_idx
    ON measurements_daily (dev_eui, metric, channel, bucket DESC);

-- Aggregates are compressed once no refresh window reaches them any more, segmented by
-- register like the raw rows. Uncompressed, an hourly row costs ~1.4 kB of heap and indexes
-- per register-hour (more than the 4 raw readings it summarises); the materialization
-- hypertables get 70-day chunks (10 x the raw interval), ~1,700 hourly rows per register.
ALTER MATERIALIZED VIEW measurements_hourly SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'dev_eui, metric, channel',
    timescaledb.compress_orderby = 'bucket DESC');
SELECT add_compression_policy('measurements_hourly', compress_after => INTERVAL '30 days');
ALTER MATERIALIZED VIEW measurements_daily SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'dev_eui, metric, channel',
    timescaledb.compress_orderby = 'bucket DESC');
SELECT add_compression_policy('measurements_daily', compress_after => INTERVAL '60 days');

-- Continuous aggregates are refreshed with CALL refresh_continuous_aggregate, which cannot
-- run inside a function or transaction: ingest_service.rollups.refresh_rollups does that.
CREATE FUNCTION icone_refresh_rollups(since timestamptz, until timestamptz DEFAULT NULL,
                                      dev_euis text[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'in TimescaleDB mode, refresh with CALL refresh_continuous_aggregate '
        '(ingest_service.rollups.refresh_rollups)' USING ERRCODE = '0A000';
END $$;

-- The table rows are deleted from: the materialization hypertable behind a cagg.
CREATE FUNCTION icone_storage_table(p_name text)
RETURNS regclass LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT format('%I.%I', materialization_hypertable_schema,
                       materialization_hypertable_name)::regclass
         FROM timescaledb_information.continuous_aggregates
         WHERE view_schema = current_schema() AND view_name = p_name),
        p_name::regclass)
$$;

-- Whole chunks older than the cutoff are dropped; the rows older than it in the chunk
-- straddling the cutoff are deleted.
CREATE FUNCTION icone_drop_older(p_name text, p_cutoff timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
    tcol text := CASE WHEN p_name IN ('measurements_hourly', 'measurements_daily')
                      THEN 'bucket' ELSE 'time' END;
BEGIN
    -- count first so both modes report rows removed
    EXECUTE format('SELECT count(*) FROM %s WHERE %I < $1', icone_storage_table(p_name), tcol)
        INTO removed USING p_cutoff;
    PERFORM drop_chunks(p_name::regclass, older_than => p_cutoff);
    EXECUTE format('DELETE FROM %s WHERE %I < $1', icone_storage_table(p_name), tcol)
        USING p_cutoff;
    RETURN removed;
END $$;

-- Scheduled retention: ingest_service.retention.schedule_retention registers this as a
-- TimescaleDB job with the policy as its config.
CREATE PROCEDURE icone_retention_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM icone_apply_retention(now(), config);
END $$;
