-- 0002 storage, plain PostgreSQL mode: rollup tables + views with the columns of the
-- TimescaleDB continuous aggregates, refreshed incrementally; a view reads the rollup below
-- its watermark and aggregates raw rows above it (the equivalent of real-time aggregation).

CREATE TABLE measurements_hourly_mat (
    bucket  timestamptz NOT NULL,
    dev_eui text NOT NULL,
    metric  text NOT NULL,
    channel text NOT NULL,
    n       bigint NOT NULL,
    min_v   double precision,
    max_v   double precision,
    avg_v   double precision,
    sum_v   double precision,
    first_v double precision,
    first_t timestamptz,
    last_v  double precision,
    last_t  timestamptz,
    PRIMARY KEY (dev_eui, metric, channel, bucket)
);
-- btree, not BRIN: rows are written grouped by device, so bucket order is not physical order
CREATE INDEX measurements_hourly_mat_bucket_idx ON measurements_hourly_mat (bucket);
CREATE TABLE measurements_daily_mat (LIKE measurements_hourly_mat INCLUDING ALL);

-- first/last by time with built-in aggregates: arrays compare lexicographically, so
-- min(ARRAY[epoch, value]) is the earliest reading's pair.
CREATE VIEW measurements_hourly AS
SELECT bucket, dev_eui, metric, channel, n, min_v, max_v, avg_v, sum_v,
       first_v, first_t, last_v, last_t
FROM measurements_hourly_mat
WHERE bucket < icone_state('hourly_watermark')
UNION ALL
SELECT icone_bucket_start('hour', time), dev_eui, metric, channel, count(*),
       min(value), max(value), avg(value), sum(value),
       (min(ARRAY[icone_epoch(time), value]))[2], min(time),
       (max(ARRAY[icone_epoch(time), value]))[2], max(time)
FROM measurements
WHERE time >= icone_state('hourly_watermark')
GROUP BY 1, 2, 3, 4;

CREATE VIEW measurements_daily AS
SELECT bucket, dev_eui, metric, channel, n, min_v, max_v, avg_v, sum_v,
       first_v, first_t, last_v, last_t
FROM measurements_daily_mat
WHERE bucket < icone_state('daily_watermark')
UNION ALL
SELECT icone_bucket_start('day', bucket), dev_eui, metric, channel, sum(n)::bigint,
       min(min_v), max(max_v), sum(sum_v) / sum(n)::double precision, sum(sum_v),
       (min(ARRAY[icone_epoch(first_t), first_v]))[2], min(first_t),
       (max(ARRAY[icone_epoch(last_t), last_v]))[2], max(last_t)
FROM measurements_hourly
WHERE bucket >= icone_state('daily_watermark')
GROUP BY 1, 2, 3, 4;

-- Re-materialize the complete hours from `since` (to `until`, or now) and the complete local
-- days they touch. Without `dev_euis`, the watermark advances (the range is extended back to
-- the old watermark so no hole is left); with it (late rows of a few devices), only those
-- devices' rows below the watermarks are recomputed. Never reaches below the retention
-- horizons: re-deriving from deleted raw rows would empty the rollups.
-- Returns the number of rollup rows written.
CREATE FUNCTION icone_refresh_rollups(since timestamptz, until timestamptz DEFAULT NULL,
                                      dev_euis text[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    hwm timestamptz;
    dwm timestamptz;
    lo timestamptz;
    hi timestamptz;
    new_hwm timestamptz;
    new_dwm timestamptz;
    dlo timestamptz;
    dhi timestamptz;
    written bigint := 0;
    affected bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('icone_refresh_rollups'));
    hwm := icone_state('hourly_watermark');
    dwm := icone_state('daily_watermark');
    lo := icone_bucket_start('hour', coalesce(since, '-infinity'));
    hi := icone_bucket_start('hour', now());                 -- complete hours only
    IF until IS NOT NULL THEN
        hi := least(hi, icone_bucket_ceil('hour', until));
    END IF;
    IF dev_euis IS NULL THEN
        lo := least(lo, hwm);
        new_hwm := greatest(hwm, hi);
    ELSE
        hi := least(hi, hwm);
        new_hwm := hwm;
    END IF;
    lo := greatest(lo, icone_bucket_ceil('hour', icone_state('raw_horizon')));

    IF lo < hi THEN
        DELETE FROM measurements_hourly_mat
        WHERE bucket >= lo AND bucket < hi AND (dev_euis IS NULL OR dev_eui = ANY (dev_euis));
        INSERT INTO measurements_hourly_mat
        SELECT icone_bucket_start('hour', time), dev_eui, metric, channel, count(*),
               min(value), max(value), avg(value), sum(value),
               (min(ARRAY[icone_epoch(time), value]))[2], min(time),
               (max(ARRAY[icone_epoch(time), value]))[2], max(time)
        FROM measurements
        WHERE time >= lo AND time < hi AND (dev_euis IS NULL OR dev_eui = ANY (dev_euis))
        GROUP BY 1, 2, 3, 4;
        GET DIAGNOSTICS affected = ROW_COUNT;
        written := written + affected;
    END IF;
    IF new_hwm > hwm THEN
        PERFORM icone_set_state('hourly_watermark', new_hwm);
    END IF;

    -- local days all of whose hours are now materialized
    IF new_hwm = '-infinity' THEN
        RETURN written;
    END IF;
    new_dwm := greatest(dwm, icone_bucket_start('day', new_hwm));
    dlo := greatest(icone_bucket_start('day', lo),
                    icone_bucket_ceil('day', icone_state('hourly_horizon')));
    dhi := CASE WHEN dev_euis IS NULL THEN new_dwm
                ELSE least(icone_bucket_ceil('day', hi), dwm) END;
    IF dlo < dhi THEN
        DELETE FROM measurements_daily_mat
        WHERE bucket >= dlo AND bucket < dhi AND (dev_euis IS NULL OR dev_eui = ANY (dev_euis));
        INSERT INTO measurements_daily_mat
        SELECT icone_bucket_start('day', bucket), dev_eui, metric, channel, sum(n)::bigint,
               min(min_v), max(max_v), sum(sum_v) / sum(n)::double precision, sum(sum_v),
               (min(ARRAY[icone_epoch(first_t), first_v]))[2], min(first_t),
               (max(ARRAY[icone_epoch(last_t), last_v]))[2], max(last_t)
        FROM measurements_hourly_mat
        WHERE bucket >= dlo AND bucket < dhi AND (dev_euis IS NULL OR dev_eui = ANY (dev_euis))
        GROUP BY 1, 2, 3, 4;
        GET DIAGNOSTICS affected = ROW_COUNT;
        written := written + affected;
    END IF;
    IF new_dwm > dwm THEN
        PERFORM icone_set_state('daily_watermark', new_dwm);
    END IF;
    RETURN written;
END $$;

-- Storage helpers used by icone_apply_retention (TimescaleDB mode has its own versions).
CREATE FUNCTION icone_storage_table(p_name text)
RETURNS regclass LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_name IN ('measurements_hourly', 'measurements_daily')
                THEN (p_name || '_mat')::regclass ELSE p_name::regclass END
$$;

-- Drop the monthly partitions entirely older than `p_cutoff` (instant, no bloat), then
-- delete the older rows left in the partially expired partition and the default one.
CREATE FUNCTION icone_drop_older(p_name text, p_cutoff timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upper_bound timestamptz;
    removed bigint := 0;
    n bigint;
    tcol text := CASE WHEN p_name IN ('measurements_hourly', 'measurements_daily')
                      THEN 'bucket' ELSE 'time' END;
BEGIN
    FOR part IN
        SELECT c.oid::regclass AS rel, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = icone_storage_table(p_name)
    LOOP
        CONTINUE WHEN part.bound = 'DEFAULT';
        upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF upper_bound <= p_cutoff THEN
            EXECUTE format('SELECT count(*) FROM %s', part.rel) INTO n;
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', icone_storage_table(p_name), part.rel);
            EXECUTE format('DROP TABLE %s', part.rel);
            removed := removed + n;
        END IF;
    END LOOP;
    EXECUTE format('DELETE FROM %s WHERE %I < $1', icone_storage_table(p_name), tcol)
        USING p_cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN removed + n;
END $$;

-- Monthly partitions of every time-series table for the months [p_now, p_now + p_months).
-- Rows that already landed in the DEFAULT partition for such a month are moved into the new
-- partition (a plain CREATE ... PARTITION OF would fail on them).
CREATE FUNCTION icone_ensure_partitions_ahead(p_now timestamptz, p_months integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    parent text;
    month_start timestamptz;
    month_end timestamptz;
    part_name text;
    created integer := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['uplinks', 'measurements', 'device_events', 'network_events'] LOOP
        month_start := date_trunc('month', p_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        FOR i IN 0 .. p_months - 1 LOOP
            -- month arithmetic in UTC, whatever the session TimeZone
            month_end := ((month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
            part_name := format('%s_%s', parent, to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM'));
            IF to_regclass(part_name) IS NULL THEN
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part_name, parent);
                EXECUTE format('WITH moved AS (DELETE FROM %I WHERE time >= $1 AND time < $2 '
                               'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                               parent || '_default', part_name)
                    USING month_start, month_end;
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               parent, part_name, month_start, month_end);
                created := created + 1;
            END IF;
            month_start := month_end;
        END LOOP;
    END LOOP;
    RETURN created;
END $$;
