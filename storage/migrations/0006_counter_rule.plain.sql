-- 0006, plain PostgreSQL mode: icone_refresh_rollups (0002) never materialises the newest
-- icone_rollup_margin(), and re-materialises the device-days of rollup_invalidations
-- (0006's header: which ones it clears, and why that cannot race a writer).
CREATE OR REPLACE FUNCTION icone_refresh_rollups(since timestamptz, until timestamptz DEFAULT NULL,
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
    raw_floor timestamptz;
    hourly_floor timestamptz;
    cur_epoch bigint;    -- the invalidations of lower epochs are this call's, listed below
    i_dev text[];
    i_day timestamptz[];
    written bigint := 0;
    affected bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('icone_refresh_rollups'));
    -- the invalidations this call covers, listed before anything is recomputed
    cur_epoch := icone_begin_rollup_refresh();
    SELECT coalesce(array_agg(i.dev_eui), '{}'), coalesce(array_agg(i.day), '{}')
      INTO i_dev, i_day
    FROM rollup_invalidations i
    WHERE i.epoch < cur_epoch AND (dev_euis IS NULL OR i.dev_eui = ANY (dev_euis));
    hwm := icone_state('hourly_watermark');
    dwm := icone_state('daily_watermark');
    raw_floor := icone_bucket_ceil('hour', icone_state('raw_horizon'));
    hourly_floor := icone_bucket_ceil('day', icone_state('hourly_horizon'));
    lo := icone_bucket_start('hour', coalesce(since, '-infinity'));
    hi := icone_bucket_start('hour', now() - icone_rollup_margin());   -- complete hours only
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
    lo := greatest(lo, raw_floor);

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
        DELETE FROM rollup_invalidations i    -- nothing is materialised yet
        WHERE i.epoch < cur_epoch AND (dev_euis IS NULL OR i.dev_eui = ANY (dev_euis));
        RETURN written;
    END IF;
    new_dwm := greatest(dwm, icone_bucket_start('day', new_hwm));
    dlo := greatest(icone_bucket_start('day', lo), hourly_floor);
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

    -- the invalidated device-days not wholly inside the ranges just recomputed: their
    -- materialised hours, then their day rows when the day is below the daily watermark
    -- (above it the daily view reads the hourly one)
    SELECT coalesce(array_agg(r.dev_eui), '{}'), coalesce(array_agg(r.day), '{}')
      INTO i_dev, i_day
    FROM unnest(i_dev, i_day) r (dev_eui, day)
    WHERE r.day < new_hwm
      AND NOT (r.day >= lo AND icone_bucket_next('day', r.day) <= hi
               AND (r.day >= new_dwm OR (r.day >= dlo AND r.day < dhi)));
    DELETE FROM measurements_hourly_mat h
    USING unnest(i_dev, i_day) r (dev_eui, day)
    WHERE h.dev_eui = r.dev_eui
      AND h.bucket >= greatest(r.day, raw_floor)
      AND h.bucket < least(icone_bucket_next('day', r.day), new_hwm);
    INSERT INTO measurements_hourly_mat
    SELECT icone_bucket_start('hour', m.time), m.dev_eui, m.metric, m.channel, count(*),
           min(m.value), max(m.value), avg(m.value), sum(m.value),
           (min(ARRAY[icone_epoch(m.time), m.value]))[2], min(m.time),
           (max(ARRAY[icone_epoch(m.time), m.value]))[2], max(m.time)
    FROM unnest(i_dev, i_day) r (dev_eui, day)
    JOIN measurements m
      ON m.dev_eui = r.dev_eui
     AND m.time >= greatest(r.day, raw_floor)
     AND m.time < least(icone_bucket_next('day', r.day), new_hwm)
    GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS affected = ROW_COUNT;
    written := written + affected;
    DELETE FROM measurements_daily_mat a
    USING unnest(i_dev, i_day) r (dev_eui, day)
    WHERE a.dev_eui = r.dev_eui AND a.bucket = r.day AND r.day >= hourly_floor
      AND icone_bucket_next('day', r.day) <= new_dwm;
    INSERT INTO measurements_daily_mat
    SELECT r.day, h.dev_eui, h.metric, h.channel, sum(h.n)::bigint,
           min(h.min_v), max(h.max_v), sum(h.sum_v) / sum(h.n)::double precision, sum(h.sum_v),
           (min(ARRAY[icone_epoch(h.first_t), h.first_v]))[2], min(h.first_t),
           (max(ARRAY[icone_epoch(h.last_t), h.last_v]))[2], max(h.last_t)
    FROM unnest(i_dev, i_day) r (dev_eui, day)
    JOIN measurements_hourly_mat h
      ON h.dev_eui = r.dev_eui
     AND h.bucket >= r.day AND h.bucket < icone_bucket_next('day', r.day)
    WHERE r.day >= hourly_floor AND icone_bucket_next('day', r.day) <= new_dwm
    GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS affected = ROW_COUNT;
    written := written + affected;
    -- every listed day is now current: its materialised hours and day row are recomputed,
    -- and the views compute the rest from raw rows (the part of a day above the hourly
    -- watermark, a day above the daily one); below a retention horizon nothing is re-derived
    -- from raw rows, on purpose
    DELETE FROM rollup_invalidations i
    WHERE i.epoch < cur_epoch AND (dev_euis IS NULL OR i.dev_eui = ANY (dev_euis));
    RETURN written;
END $$;
