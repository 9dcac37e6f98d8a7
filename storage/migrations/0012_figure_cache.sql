-- 0012: the figure cache. The indicators sum a year of day figures for a whole fleet
-- (issue 15: p95 < 150 ms per endpoint, the yearly summary < 1 s, on 1,000 devices); from the
-- rollups that costs ~20 us per device-day inside icone_consumption, seconds per call. So the
-- settled part of every register's history is kept as icone_consumption's own output:
--
--   figure_cache: per register and local day, and per register and local month, the
--       consumption icone_consumption gives for it (NULL: it gives none), the readings of the
--       register in it and the days with a reading. A month row is the sum of its day rows
--       (pro rata shares are additive over time, so a month of days is the month).
--   figure_cache_horizon: per register, the local day before which every day is in the cache
--       (a day without a row has no figure and no reading).
--
-- Nothing else computes a figure: icone_figure_parts reads the cache below each register's
-- horizon and calls icone_consumption from there on, so a cached and an uncached answer are
-- the same figures (tests/storage/test_figure_cache.py checks it, late rows and records
-- included).
--
-- WHY A CACHED DAY CANNOT GO STALE. A day's figure depends on the register's points from the
-- last one before the day to the first one after it. icone_refresh_figure_cache (run after
-- each rollup refresh) moves a register's horizon to the day of its latest reading older than
-- now() - icone_rollup_margin(): every cached day then has its next point, older than the
-- margin. What can still change such a day:
--   * a reading older than now() - margin / 2 (what 0006 calls a late row): the statement
--     trigger below moves the register's horizon back to the day of its last reading before
--     the late rows and drops the rows from there, in the writer's transaction; readings
--     newer than that cannot fall before a horizon;
--   * a technician's record (meter_swaps, counter_registers: a swap, a commissioning index,
--     a modulus): the row trigger below empties the register's cache.
-- Both take the cache's advisory lock shared, the refresh takes it exclusively: a refresh
-- never writes rows computed before a change it did not see. Deleting raw rows (retention)
-- changes nothing, as for the rollups.
--
-- Every function here runs with jit = off, as icone_consumption does (0002): a plan over every
-- chunk of the hypertables passes jit_above_cost, and compiling it took up to 33 s (the
-- refresh's work list at 1,000 devices) for statements that run in milliseconds.

-- 0006's icone_consumption, with one change: the last reading before the window is looked
-- for in the week before it first, then in the whole history only if there is none (0006
-- sorted every daily row of the register before the window, ~1.4 ms per register on
-- compressed chunks: the cost of the cache's live part, "today", for a whole fleet).
CREATE OR REPLACE FUNCTION icone_consumption(
    p_from    timestamptz,
    p_to      timestamptz,
    p_bucket  text DEFAULT 'day',
    p_site    text DEFAULT NULL,
    p_metric  text DEFAULT NULL,
    p_dev_eui text DEFAULT NULL
)
RETURNS TABLE (bucket timestamptz, dev_eui text, site_id text, metric text, channel text,
               consumption double precision, unit text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    w_from    timestamptz;
    w_to      timestamptz;
    d_from    timestamptz;
    devs      text[];
    counters  text[];
    intervals text[];
BEGIN
    IF p_bucket IS NULL OR p_bucket NOT IN ('hour', 'day', 'month') THEN
        RAISE EXCEPTION 'icone_consumption: bucket must be hour, day or month, not %', p_bucket
            USING ERRCODE = '22023';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'icone_consumption: empty or open window [%, %)', p_from, p_to
            USING ERRCODE = '22023';
    END IF;
    w_from := icone_bucket_start(p_bucket, p_from);
    w_to := icone_bucket_ceil(p_bucket, p_to);

    IF p_bucket = 'hour' THEN
        -- hour buckets: icone_consumption_hours (0005), one window
        RETURN QUERY
        SELECT h.bucket, h.dev_eui, h.site_id, h.metric, h.channel, h.consumption, h.unit
        FROM icone_consumption_hours(ARRAY[w_from], ARRAY[w_to], p_site, p_metric, p_dev_eui) h
        ORDER BY h.dev_eui, h.metric, h.channel, h.bucket;
        RETURN;
    END IF;

    d_from := icone_bucket_start('day', w_from);
    SELECT array_agg(d.dev_eui) INTO devs FROM devices d
    WHERE (p_site IS NULL OR d.site_id = p_site) AND (p_dev_eui IS NULL OR d.dev_eui = p_dev_eui);
    SELECT coalesce(array_agg(k.metric) FILTER (WHERE k.kind = 'counter'), '{}'),
           coalesce(array_agg(k.metric) FILTER (WHERE k.kind = 'interval'), '{}')
      INTO counters, intervals
    FROM metric_kinds k WHERE p_metric IS NULL OR k.metric = p_metric;
    IF devs IS NULL THEN
        RETURN;
    END IF;

    -- day and month buckets: 0005's statement, reading measurements_daily_current, with
    -- the regular-day condition of the header
    RETURN QUERY
    WITH day_rows AS MATERIALIZED (
        SELECT a.dev_eui, a.metric, a.channel, a.bucket, a.first_t, a.first_v, a.last_t,
               a.last_v, a.min_v, a.max_v
        FROM measurements_daily_current a
        WHERE a.dev_eui = ANY (devs) AND a.metric = ANY (counters) AND a.bucket >= d_from
    ),
    series AS MATERIALIZED (
        SELECT s.dev_eui, s.metric, s.channel, (row_number() OVER ())::integer AS reg, r.modulus
        FROM (SELECT DISTINCT a.dev_eui, a.metric, a.channel FROM day_rows a) s
        LEFT JOIN counter_registers r
          ON r.dev_eui = s.dev_eui AND r.metric = s.metric AND r.channel = s.channel
    ),
    -- technician records; k orders points at one instant, `cut`: a new meter starts here
    marks AS MATERIALIZED (
        SELECT s.reg, w.swapped_at AS t, w.old_final_index AS v, 0 AS k, false AS cut
        FROM meter_swaps w JOIN series s
          ON s.dev_eui = w.dev_eui AND s.metric = w.metric AND s.channel = w.channel
        WHERE w.old_final_index IS NOT NULL
        UNION ALL
        SELECT s.reg, w.swapped_at, w.new_initial_index, 1, true
        FROM meter_swaps w JOIN series s
          ON s.dev_eui = w.dev_eui AND s.metric = w.metric AND s.channel = w.channel
        UNION ALL
        SELECT s.reg, c.commissioned_at, c.index_at_commissioning, 1, false
        FROM counter_registers c JOIN series s
          ON s.dev_eui = c.dev_eui AND s.metric = c.metric AND s.channel = c.channel
        WHERE c.commissioned_at IS NOT NULL AND c.index_at_commissioning IS NOT NULL
    ),
    -- day and month buckets: day rows of the window, and whether first/last summarise them
    days AS MATERIALIZED (
        SELECT s.reg, a.bucket, a.first_t, a.first_v, a.last_t, a.last_v,
               (a.min_v >= a.first_v AND a.max_v <= a.last_v
                AND icone_counter_span_is_plain(a.min_v, a.max_v, s.modulus)
                AND NOT EXISTS (SELECT 1 FROM marks m
                                WHERE m.reg = s.reg AND m.t BETWEEN a.first_t AND a.last_t))
                   AS regular
        FROM day_rows a JOIN series s
          ON s.dev_eui = a.dev_eui AND s.metric = a.metric AND s.channel = a.channel
        WHERE p_bucket <> 'hour' AND a.bucket < w_to
    ),
    points AS (
        -- day/month buckets: first and last reading of regular days...
        SELECT d.reg, d.first_t AS t, d.first_v AS v, 2 AS k, false AS cut
        FROM days d WHERE d.regular
        UNION ALL
        SELECT d.reg, d.last_t, d.last_v, 2, false
        FROM days d WHERE d.regular AND d.last_t > d.first_t
        UNION ALL
        -- ...every raw reading of irregular days...
        SELECT d.reg, r.time, r.value, 2, false
        FROM days d JOIN series s ON s.reg = d.reg
        CROSS JOIN LATERAL (
            SELECT m.time, m.value FROM measurements m
            WHERE m.dev_eui = s.dev_eui AND m.metric = s.metric AND m.channel = s.channel
              AND m.time >= d.first_t AND m.time <= d.last_t
        ) r
        WHERE NOT d.regular
        UNION ALL
        -- ...the first reading after the window and the last one before it
        (SELECT DISTINCT ON (s.reg) s.reg, a.first_t, a.first_v, 2, false
         FROM day_rows a JOIN series s
           ON s.dev_eui = a.dev_eui AND s.metric = a.metric AND s.channel = a.channel
         WHERE p_bucket <> 'hour' AND a.bucket >= w_to
         ORDER BY s.reg, a.bucket)
        UNION ALL
        SELECT s.reg, b.last_t, b.last_v, 2, false
        FROM series s
        CROSS JOIN LATERAL (
            -- the week before first (nearly always there), the whole history only if not:
            -- a bound the daily rows' index can use, compressed chunks included
            (SELECT a.last_t, a.last_v FROM measurements_daily_current a
             WHERE a.dev_eui = s.dev_eui AND a.metric = s.metric AND a.channel = s.channel
               AND a.bucket < w_from AND a.bucket >= w_from - interval '7 days'
             ORDER BY a.bucket DESC LIMIT 1)
            UNION ALL
            (SELECT a.last_t, a.last_v FROM measurements_daily_current a
             WHERE a.dev_eui = s.dev_eui AND a.metric = s.metric AND a.channel = s.channel
               AND a.bucket < w_from
             ORDER BY a.bucket DESC LIMIT 1)
            LIMIT 1
        ) b
        WHERE p_bucket <> 'hour'
        UNION ALL
        SELECT m.reg, m.t, m.v, m.k, m.cut FROM marks m
    ),
    deltas AS (
        -- the buckets of both ends are computed once here: a Europe/Paris bucket costs two
        -- time zone conversions (~1 us each), the largest per-row cost of this query
        SELECT l.reg, l.t0, l.t, l.delta, icone_bucket_start(p_bucket, l.t0) AS b0,
               CASE WHEN l.t > l.t0
                    THEN icone_bucket_start(p_bucket, l.t - interval '1 microsecond')
                    ELSE icone_bucket_start(p_bucket, l.t0) END AS b1
        FROM (
            SELECT l.reg, l.t0, l.t,
                   icone_counter_delta(l.v0, l.v, s.modulus) AS delta
            FROM (
                SELECT p.reg, p.t, p.v, p.cut, lag(p.t) OVER w AS t0, lag(p.v) OVER w AS v0
                FROM points p
                WINDOW w AS (PARTITION BY p.reg ORDER BY p.t, p.k)
            ) l
            JOIN series s ON s.reg = l.reg
            WHERE l.t0 IS NOT NULL AND NOT l.cut AND l.t >= w_from AND l.t0 < w_to
        ) l
    ),
    shares AS (
        -- a delta within one bucket goes to it whole (the usual case)...
        SELECT d.reg, d.b0 AS b, d.delta AS q
        FROM deltas d
        WHERE d.b0 = d.b1
        UNION ALL
        -- ...one spanning buckets is spread over them pro rata of time
        SELECT d.reg, g.b,
               d.delta * (icone_epoch(least(d.t, icone_bucket_next(p_bucket, g.b)))
                          - icone_epoch(greatest(d.t0, g.b)))
                       / (icone_epoch(d.t) - icone_epoch(d.t0))
        FROM deltas d
        CROSS JOIN LATERAL (
            SELECT gl AT TIME ZONE 'Europe/Paris' AS b
            FROM generate_series(d.b0 AT TIME ZONE 'Europe/Paris', d.b1 AT TIME ZONE 'Europe/Paris',
                                 ('1 ' || p_bucket)::interval) gl
            WHERE p_bucket <> 'hour'
        ) g
        WHERE d.b0 <> d.b1
    ),
    totals AS (
        SELECT s.dev_eui, s.metric, s.channel, x.b, x.q
        FROM (SELECT sh.reg, sh.b, sum(sh.q) AS q FROM shares sh
              WHERE sh.b >= w_from AND sh.b < w_to GROUP BY sh.reg, sh.b) x
        JOIN series s ON s.reg = x.reg
        UNION ALL
        SELECT a.dev_eui, a.metric, a.channel, icone_bucket_start(p_bucket, a.bucket), sum(a.sum_v)
        FROM measurements_daily_current a
        WHERE p_bucket <> 'hour' AND a.dev_eui = ANY (devs) AND a.metric = ANY (intervals)
          AND a.bucket >= w_from AND a.bucket < w_to
        GROUP BY 1, 2, 3, 4
    )
    SELECT x.b, x.dev_eui, d.site_id, x.metric, x.channel, x.q, k.unit
    FROM totals x
    JOIN devices d ON d.dev_eui = x.dev_eui
    JOIN metric_kinds k ON k.metric = x.metric
    ORDER BY x.dev_eui, x.metric, x.channel, x.b;
END $$;

CREATE TABLE figure_cache (
    dev_eui        text NOT NULL,
    metric         text NOT NULL,
    channel        text NOT NULL,
    span           text NOT NULL CHECK (span IN ('day', 'month')),
    bucket         timestamptz NOT NULL,
    consumption    double precision,
    readings       bigint NOT NULL,
    days_with_data integer NOT NULL,
    PRIMARY KEY (dev_eui, metric, span, bucket, channel)
);

CREATE TABLE figure_cache_horizon (
    dev_eui text NOT NULL,
    metric  text NOT NULL,
    channel text NOT NULL,
    horizon timestamptz NOT NULL,
    PRIMARY KEY (dev_eui, metric, channel)
);

-- The cache's advisory lock (arbitrary, fixed: "ICONE_FC").
CREATE FUNCTION icone_figure_cache_lock_key()
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 5288912838757712707::bigint
$$;

-- A register's figures from p_t0 on may have changed: its horizon goes back to the day of its
-- last reading before p_t0's day ('-infinity' when none), and the rows from there are dropped.
-- A register the cache does not know yet gets a horizon of '-infinity'.
CREATE FUNCTION icone_forget_figures(p_dev_eui text, p_metric text, p_channel text,
                                     p_t0 timestamptz)
RETURNS void LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    h timestamptz;
BEGIN
    IF p_t0 > '-infinity' THEN
        SELECT max(a.bucket) INTO h
        FROM measurements_daily_current a
        WHERE a.dev_eui = p_dev_eui AND a.metric = p_metric AND a.channel = p_channel
          AND a.bucket < icone_bucket_start('day', p_t0);
    END IF;
    h := coalesce(h, '-infinity');
    INSERT INTO figure_cache_horizon AS x (dev_eui, metric, channel, horizon)
    VALUES (p_dev_eui, p_metric, p_channel, '-infinity')
    ON CONFLICT (dev_eui, metric, channel) DO UPDATE SET horizon = least(x.horizon, h)
    RETURNING x.horizon INTO h;
    DELETE FROM figure_cache c
    WHERE c.dev_eui = p_dev_eui AND c.metric = p_metric AND c.channel = p_channel
      AND icone_bucket_next(c.span, c.bucket) > h;
END $$;

-- Late rows (one scan of the statement's rows when there are none, as 0006's trigger).
CREATE FUNCTION icone_forget_late_figures()
RETURNS trigger LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    late timestamptz := now() - icone_rollup_margin() / 2;    -- rows older than this are late
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.time < late) THEN
        RETURN NULL;    -- live rows only: no cached day can depend on them
    END IF;
    PERFORM pg_advisory_xact_lock_shared(icone_figure_cache_lock_key());
    PERFORM icone_forget_figures(r.dev_eui, r.metric, r.channel, r.t0)
    FROM (SELECT n.dev_eui, n.metric, n.channel, min(n.time) AS t0
          FROM new_rows n
          WHERE n.time < late
          GROUP BY 1, 2, 3) r
    JOIN metric_kinds k ON k.metric = r.metric AND k.kind IN ('counter', 'interval');
    -- thermal time (below): a sensor's horizon goes back one hold before its late rows
    WITH late_sensors AS (
        SELECT n.dev_eui,
               icone_bucket_start('day', min(n.time)
                                         - icone_max_hold_s(n.dev_eui) * interval '1 second') AS h
        FROM new_rows n
        WHERE n.time < late
          AND n.metric IN ('temperature', 'relative_humidity')
        GROUP BY n.dev_eui
    ),
    moved AS (
        UPDATE thermal_cache_horizon x SET horizon = l.h
        FROM late_sensors l WHERE x.dev_eui = l.dev_eui AND x.horizon > l.h
        RETURNING x.dev_eui, x.horizon
    )
    DELETE FROM thermal_cache c USING moved m
    WHERE c.dev_eui = m.dev_eui AND c.day >= m.horizon;
    RETURN NULL;
END $$;

CREATE TRIGGER measurements_forget_figures_insert AFTER INSERT ON measurements
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION icone_forget_late_figures();
CREATE TRIGGER measurements_forget_figures_update AFTER UPDATE ON measurements
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION icone_forget_late_figures();

-- A technician's record changes the points of its register at any time: the register's
-- cache is emptied (the next refresh recomputes it).
CREATE FUNCTION icone_forget_recorded_figures()
RETURNS trigger LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(icone_figure_cache_lock_key());
    IF TG_OP <> 'INSERT' THEN
        PERFORM icone_forget_figures(OLD.dev_eui, OLD.metric, OLD.channel, '-infinity');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM icone_forget_figures(NEW.dev_eui, NEW.metric, NEW.channel, '-infinity');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER meter_swaps_forget_figures AFTER INSERT OR UPDATE OR DELETE ON meter_swaps
    FOR EACH ROW EXECUTE FUNCTION icone_forget_recorded_figures();
CREATE TRIGGER counter_registers_forget_figures
    AFTER INSERT OR UPDATE OR DELETE ON counter_registers
    FOR EACH ROW EXECUTE FUNCTION icone_forget_recorded_figures();

-- Day rows of the registers of p_devs from icone_consumption over [p_from, p_to), for the
-- days of each register in [its old horizon, its new one) (table _fc_work of the refresh).
CREATE FUNCTION icone_fill_figure_days(p_from timestamptz, p_to timestamptz,
                                       p_dev_eui text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    written bigint;
BEGIN
    INSERT INTO figure_cache AS x (dev_eui, metric, channel, span, bucket, consumption, readings,
                                   days_with_data)
    SELECT w.dev_eui, w.metric, w.channel, 'day', coalesce(c.bucket, a.bucket), c.consumption,
           coalesce(a.n, 0), (coalesce(a.n, 0) > 0)::integer
    FROM (SELECT c.bucket, c.dev_eui, c.metric, c.channel, c.consumption
          FROM icone_consumption(p_from, p_to, 'day', NULL, NULL, p_dev_eui) c) c
    FULL JOIN (SELECT a.bucket, a.dev_eui, a.metric, a.channel, a.n
               FROM measurements_daily_current a
               WHERE (p_dev_eui IS NULL OR a.dev_eui = p_dev_eui)
                 AND a.bucket >= p_from AND a.bucket < p_to) a
      ON a.dev_eui = c.dev_eui AND a.metric = c.metric AND a.channel = c.channel
     AND a.bucket = c.bucket
    JOIN _fc_work w
      ON w.dev_eui = coalesce(c.dev_eui, a.dev_eui) AND w.metric = coalesce(c.metric, a.metric)
     AND w.channel = coalesce(c.channel, a.channel)
     AND coalesce(c.bucket, a.bucket) >= w.old_h AND coalesce(c.bucket, a.bucket) < w.new_h
    ON CONFLICT (dev_eui, metric, span, bucket, channel) DO UPDATE
        SET consumption = excluded.consumption, readings = excluded.readings,
            days_with_data = excluded.days_with_data;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END $$;

-- Moves every register's horizon as far as it may go (see the header) and fills the cache
-- up to it; returns the rows written. Called by storage.rollups.refresh_rollups, after the
-- rollups. Registers are found in the daily rows since the previous refresh (two days back),
-- all of them on the first call; late rows add theirs through the trigger.
CREATE FUNCTION icone_refresh_figure_cache()
RETURNS bigint LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    settled timestamptz := now() - icone_rollup_margin();
    scan_from timestamptz;    -- registers are looked for in the daily rows from there
    written bigint := 0;
    n bigint;
    bulk_from timestamptz;
    bulk_to timestamptz;
    d record;
BEGIN
    PERFORM pg_advisory_xact_lock(icone_figure_cache_lock_key());
    scan_from := icone_state('figure_cache_scanned') - interval '2 days';
    INSERT INTO figure_cache_horizon (dev_eui, metric, channel, horizon)
    SELECT DISTINCT a.dev_eui, a.metric, a.channel, '-infinity'::timestamptz
    FROM measurements_daily_current a JOIN metric_kinds k ON k.metric = a.metric
    WHERE k.kind IN ('counter', 'interval') AND a.bucket >= scan_from
    ON CONFLICT DO NOTHING;
    PERFORM icone_set_state('figure_cache_scanned', settled);

    -- the registers whose horizon moves: their days [old_h, new_h) are filled. The new
    -- horizon of those read in the last week comes from one scan of that week; the others
    -- (silent for a week) look for theirs one by one, and so do new ones for their first day
    DROP TABLE IF EXISTS _fc_work;
    CREATE TEMP TABLE _fc_work ON COMMIT DROP AS
    WITH recent AS (
        SELECT a.dev_eui, a.metric, a.channel, max(a.bucket) AS new_h
        FROM measurements_daily_current a
        WHERE a.bucket >= icone_bucket_start('day', settled - interval '7 days')
          AND a.first_t <= settled
          AND a.metric IN (SELECT k.metric FROM metric_kinds k
                           WHERE k.kind IN ('counter', 'interval'))
        GROUP BY 1, 2, 3
    ),
    moves AS (
        SELECT h.dev_eui, h.metric, h.channel, h.horizon,
               coalesce(r.new_h, (    -- evaluated only when the week had nothing
                   SELECT max(a.bucket) FROM measurements_daily_current a
                   WHERE a.dev_eui = h.dev_eui AND a.metric = h.metric
                     AND a.channel = h.channel AND a.bucket >= h.horizon
                     AND a.first_t <= settled)) AS new_h
        FROM figure_cache_horizon h
        LEFT JOIN recent r
          ON r.dev_eui = h.dev_eui AND r.metric = h.metric AND r.channel = h.channel
    )
    SELECT m.dev_eui, m.metric, m.channel, m.new_h,
           CASE WHEN m.horizon > '-infinity' THEN m.horizon ELSE (
               SELECT min(a.bucket) FROM measurements_daily_current a
               WHERE a.dev_eui = m.dev_eui AND a.metric = m.metric
                 AND a.channel = m.channel) END AS old_h
    FROM moves m
    WHERE m.new_h > m.horizon;
    DELETE FROM _fc_work w WHERE w.old_h IS NULL OR w.old_h >= w.new_h;
    ANALYZE _fc_work;
    SELECT min(w.old_h), max(w.new_h) INTO bulk_from, bulk_to FROM _fc_work w;
    IF bulk_from IS NULL THEN
        RETURN 0;
    END IF;

    -- registers a few days behind (the usual case): one icone_consumption call for all;
    -- the devices of the others (forgotten, long silent) one call each, or, when more than
    -- 20 devices are far behind (the first fill), calls for all of a month at a time
    IF (SELECT count(DISTINCT w.dev_eui) FROM _fc_work w
        WHERE w.old_h < bulk_to - interval '7 days') > 20 THEN
        FOR d IN SELECT gl AT TIME ZONE 'Europe/Paris' AS lo
                 FROM generate_series(icone_bucket_start('month', bulk_from)
                                          AT TIME ZONE 'Europe/Paris',
                                      bulk_to AT TIME ZONE 'Europe/Paris',
                                      interval '1 month') gl
        LOOP
            written := written + icone_fill_figure_days(
                d.lo, least(bulk_to, icone_bucket_next('month', d.lo)));
        END LOOP;
    ELSE
        bulk_from := greatest(bulk_from, bulk_to - interval '7 days');
        FOR d IN SELECT w.dev_eui, min(w.old_h) AS lo, max(w.new_h) AS hi
                 FROM _fc_work w GROUP BY 1 HAVING min(w.old_h) < bulk_from
        LOOP
            written := written + icone_fill_figure_days(d.lo, d.hi, d.dev_eui);
        END LOOP;
        IF EXISTS (SELECT 1 FROM _fc_work w WHERE w.old_h >= bulk_from) THEN
            written := written + icone_fill_figure_days(bulk_from, bulk_to);
        END IF;
    END IF;

    -- month rows: the sum of the day rows of each month wholly below the new horizon
    INSERT INTO figure_cache AS x (dev_eui, metric, channel, span, bucket, consumption, readings,
                                   days_with_data)
    SELECT c.dev_eui, c.metric, c.channel, 'month', m.month, sum(c.consumption),
           sum(c.readings), sum(c.days_with_data)
    FROM _fc_work w
    JOIN figure_cache c
      ON c.dev_eui = w.dev_eui AND c.metric = w.metric AND c.channel = w.channel
     AND c.span = 'day' AND c.bucket >= icone_bucket_start('month', w.old_h)
     AND c.bucket < w.new_h
    CROSS JOIN LATERAL (SELECT icone_bucket_start('month', c.bucket) AS month) m
    GROUP BY c.dev_eui, c.metric, c.channel, m.month
    HAVING icone_bucket_next('month', m.month) <= min(w.new_h)
    ON CONFLICT (dev_eui, metric, span, bucket, channel) DO UPDATE
        SET consumption = excluded.consumption, readings = excluded.readings,
            days_with_data = excluded.days_with_data;
    GET DIAGNOSTICS n = ROW_COUNT;
    written := written + n;

    UPDATE figure_cache_horizon h SET horizon = w.new_h
    FROM _fc_work w
    WHERE h.dev_eui = w.dev_eui AND h.metric = w.metric AND h.channel = w.channel;
    DROP TABLE _fc_work;
    RETURN written;
END $$;

-- The figures of p_metric's registers of p_devs in [p_from, p_to) (aligned on p_bucket, day
-- or month), in parts to be summed per (bucket, dev_eui, channel): the cache below each
-- device's horizon (its registers' lowest), icone_consumption and the daily rows from there
-- on. Devices sharing a horizon share a call, the largest group scoped by p_site (NULL: any
-- site); with p_consumption false only the readings are read (no icone_consumption call).
CREATE FUNCTION icone_figure_parts(p_metric text, p_from timestamptz, p_to timestamptz,
                                   p_bucket text, p_devs text[], p_site text DEFAULT NULL,
                                   p_consumption boolean DEFAULT true)
RETURNS TABLE (bucket timestamptz, dev_eui text, channel text, consumption double precision,
               readings bigint, days_with_data integer)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan    -- as icone_consumption: planning the daily view
SET jit = off
AS $$                                       -- over every chunk costs more than running it
#variable_conflict use_column
DECLARE
    l_dev text[];            -- the devices, where their live part starts and where their
    l_from timestamptz[];    -- cached p_bucket rows end (the start of l_from's month for
    l_cut timestamptz[];     -- months: a month is cached whole or not at all)
    lo timestamptz;          -- the lowest live start
    g record;
    largest boolean := true;
BEGIN
    IF p_bucket NOT IN ('day', 'month') THEN
        RAISE EXCEPTION 'icone_figure_parts: bucket must be day or month, not %', p_bucket
            USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(l.dev_eui), array_agg(l.live_from),
           array_agg(CASE p_bucket WHEN 'month'
                         THEN greatest(p_from, icone_bucket_start('month', l.live_from))
                         ELSE l.live_from END),
           min(l.live_from)
      INTO l_dev, l_from, l_cut, lo
    FROM (SELECT d.dev_eui, greatest(p_from, coalesce(min(h.horizon), '-infinity')) AS live_from
          FROM unnest(p_devs) AS d (dev_eui)
          LEFT JOIN figure_cache_horizon h ON h.dev_eui = d.dev_eui AND h.metric = p_metric
          GROUP BY 1) l;
    IF lo IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    -- whole buckets below the horizon (day rows for day buckets, month rows for months)...
    SELECT c.bucket, c.dev_eui, c.channel, c.consumption, c.readings, c.days_with_data
    FROM unnest(l_dev, l_cut) AS l (dev_eui, cut)
    JOIN figure_cache c
      ON c.dev_eui = l.dev_eui AND c.metric = p_metric AND c.span = p_bucket
     AND c.bucket >= p_from AND c.bucket < l.cut AND c.bucket < p_to
    UNION ALL
    -- ...and for months, the days below the horizon in its month
    SELECT l.cut, c.dev_eui, c.channel, c.consumption, c.readings, c.days_with_data
    FROM unnest(l_dev, l_cut, l_from) AS l (dev_eui, cut, live_from)
    JOIN figure_cache c
      ON c.dev_eui = l.dev_eui AND c.metric = p_metric AND c.span = 'day'
     AND c.bucket >= l.cut AND c.bucket < l.live_from AND c.bucket < p_to
    WHERE p_bucket = 'month'
    UNION ALL
    -- the readings from the horizon on
    SELECT icone_bucket_start(p_bucket, a.bucket), a.dev_eui, a.channel, NULL, a.n,
           (a.n > 0)::integer
    FROM unnest(l_dev, l_from) AS l (dev_eui, live_from)
    JOIN measurements_daily_current a
      ON a.dev_eui = l.dev_eui AND a.metric = p_metric AND a.bucket >= l.live_from
    WHERE a.bucket >= lo AND a.bucket < p_to;
    IF NOT p_consumption THEN
        RETURN;
    END IF;

    -- the figures from the horizon on: one icone_consumption call per horizon shared by
    -- several devices (the largest group scoped by p_site), one per device otherwise
    FOR g IN
        SELECT l.live_from, array_agg(l.dev_eui) AS devs, count(*) AS n
        FROM unnest(l_dev, l_from) AS l (dev_eui, live_from)
        WHERE l.live_from < p_to
        GROUP BY 1
        ORDER BY count(*) DESC, 1
    LOOP
        IF largest AND g.n > 1 THEN
            largest := false;
            RETURN QUERY
            SELECT icone_bucket_start(p_bucket, c.bucket), c.dev_eui, c.channel, c.consumption,
                   0::bigint, 0
            FROM icone_consumption(g.live_from, p_to, 'day', p_site, p_metric) c
            WHERE c.dev_eui = ANY (g.devs);
        ELSE
            RETURN QUERY
            SELECT icone_bucket_start(p_bucket, c.bucket), c.dev_eui, c.channel, c.consumption,
                   0::bigint, 0
            FROM unnest(g.devs) AS d (dev_eui)
            CROSS JOIN LATERAL icone_consumption(g.live_from, p_to, 'day', NULL, p_metric,
                                                 d.dev_eui) c;
        END IF;
    END LOOP;
END $$;

-- The parts summed: per bucket (day or month), device and register. A month is the sum of
-- its days' pro rata shares, which in floating point can differ from the share computed at
-- once in the last bits (100 kWh over 31 days: 99.99999999999999): figures are rounded to
-- 1e-9 of their unit, a millionth of the finest register step (1 Wh, 1 L).
CREATE FUNCTION icone_register_figures(p_metric text, p_from timestamptz, p_to timestamptz,
                                       p_bucket text, p_devs text[], p_site text DEFAULT NULL,
                                       p_consumption boolean DEFAULT true)
RETURNS TABLE (bucket timestamptz, dev_eui text, channel text, consumption double precision,
               readings bigint, days_with_data integer)
LANGUAGE sql STABLE SET jit = off
AS $$
    SELECT p.bucket, p.dev_eui, p.channel, round(sum(p.consumption)::numeric, 9)::float8,
           sum(p.readings)::bigint, sum(p.days_with_data)::integer
    FROM icone_figure_parts(p_metric, p_from, p_to, p_bucket, p_devs, p_site, p_consumption) p
    GROUP BY 1, 2, 3
$$;

-- 0008's icone_device_figures, reading icone_register_figures instead of icone_consumption
-- (the same figures: see the header).
CREATE OR REPLACE FUNCTION icone_device_figures(p_metric text, p_from timestamptz,
                                                p_to timestamptz, p_bucket text, p_devs text[],
                                                p_site text DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, dev_eui text, register text, figure double precision)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan    -- planned once per session: its callers' query
SET jit = off                               -- stays small to plan (see icone_figure_parts)
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH regs AS MATERIALIZED (
        SELECT icone_bucket_start(p_bucket, c.bucket) AS bucket, c.dev_eui, c.channel,
               icone_register_class(p_metric, c.channel) AS cls, sum(c.consumption) AS q
        FROM icone_register_figures(p_metric, p_from, p_to,
                                    CASE p_bucket WHEN 'year' THEN 'month' ELSE p_bucket END,
                                    p_devs, p_site) c
        WHERE c.consumption IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ),
    has_total AS (
        SELECT r.dev_eui, bool_or(r.cls = 'total') AS t FROM regs r GROUP BY 1
    )
    SELECT r.bucket, r.dev_eui, 'total', sum(r.q)
    FROM regs r JOIN has_total h ON h.dev_eui = r.dev_eui
    WHERE r.cls = CASE WHEN h.t THEN 'total' ELSE 'tariff' END
    GROUP BY 1, 2
    UNION ALL
    SELECT r.bucket, r.dev_eui, r.channel, r.q FROM regs r WHERE r.cls = 'tariff';
END $$;

-- Coverage of `p_metric` readings per bucket and device (replaces 0008's): readings present
-- (those of the device's most-read channel in the bucket: one uplink carries every channel),
-- readings expected (seconds of the bucket within [installed_at, now()) / the model's uplink
-- interval; NULL when the model is not in the catalogue), days with a reading (same channel
-- rule), days expected (local days of the bucket within [installed_at, now())). A device
-- installed inside the window counts its readings from its installation day on. From
-- icone_register_figures' readings: the figure cache, and measurements_daily_current above
-- its horizon (late readings count at once).
CREATE OR REPLACE FUNCTION icone_coverage(p_from timestamptz, p_to timestamptz, p_bucket text,
                                          p_devs text[], p_metric text)
RETURNS TABLE (bucket timestamptz, dev_eui text, readings bigint,
               readings_expected double precision, days_with_data integer,
               days_expected integer)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan    -- as icone_device_figures
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH devs AS MATERIALIZED (
        SELECT d.dev_eui, m.uplink_interval_s,
               greatest(p_from, coalesce(d.installed_at, p_from)) AS t0,
               least(p_to, now()) AS t1
        FROM devices d LEFT JOIN device_models m ON m.model = d.model
        WHERE d.dev_eui = ANY (p_devs)
    ),
    per_channel AS (
        SELECT icone_bucket_start(p_bucket, f.bucket) AS bucket, f.dev_eui, f.channel,
               sum(f.readings) AS n, sum(f.days_with_data) AS dd
        FROM icone_register_figures(p_metric, p_from, p_to,
                                    CASE p_bucket WHEN 'day' THEN 'day' ELSE 'month' END,
                                    ARRAY(SELECT v.dev_eui FROM devs v WHERE v.t0 <= p_from),
                                    NULL, false) f
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT icone_bucket_start(p_bucket, f.bucket), f.dev_eui, f.channel, sum(f.readings),
               sum(f.days_with_data)
        FROM devs v
        CROSS JOIN LATERAL icone_register_figures(p_metric, icone_bucket_start('day', v.t0),
                                                  p_to, 'day', ARRAY[v.dev_eui], NULL,
                                                  false) f
        WHERE v.t0 > p_from
        GROUP BY 1, 2, 3
    ),
    got AS (
        SELECT c.bucket, c.dev_eui, max(c.n) AS n, max(c.dd) AS dd
        FROM per_channel c GROUP BY 1, 2
    ),
    grid AS (
        SELECT v.dev_eui, v.uplink_interval_s, b.bucket,
               greatest(b.bucket, v.t0) AS s0, least(b.bucket_end, v.t1) AS s1
        FROM devs v CROSS JOIN icone_buckets(p_bucket, p_from, p_to) b
    )
    SELECT g.bucket, g.dev_eui, coalesce(x.n, 0)::bigint,
           greatest(0, icone_epoch(g.s1) - icone_epoch(g.s0)) / g.uplink_interval_s,
           coalesce(x.dd, 0)::integer,
           CASE WHEN g.s1 > g.s0
                THEN ((g.s1 - interval '1 microsecond') AT TIME ZONE 'Europe/Paris')::date
                     - (g.s0 AT TIME ZONE 'Europe/Paris')::date + 1
                ELSE 0 END
    FROM grid g LEFT JOIN got x ON x.bucket = g.bucket AND x.dev_eui = g.dev_eui;
END $$;

-- 0008's icone_emissions, with the energy of the months that have one factor all month read
-- as month buckets (one cached row per meter and month instead of ~30): the factor is the same
-- on each day of such a month, so the kgCO2e are those of the days. Partial months at the
-- ends of the window and months in which a factor starts or ends stay day buckets. Coverage
-- is then capped per month for the whole months (per day for the others).
CREATE OR REPLACE FUNCTION icone_emissions(p_from timestamptz, p_to timestamptz,
                                           p_group text DEFAULT 'metropolis',
                                           p_sites text[] DEFAULT NULL,
                                           p_energy text DEFAULT 'electricity')
RETURNS TABLE (scope text, period_start timestamptz, period_end timestamptz, kwh double precision,
               kgco2e double precision, factor double precision, factor_unit text,
               factor_id bigint, factor_source text, factor_source_id text, factor_year integer,
               coverage double precision, method text)
LANGUAGE sql STABLE SET jit = off
AS $$
    WITH bounds AS (
        SELECT icone_bucket_start('day', p_from) AS d0, icone_bucket_ceil('day', p_to) AS d1
    ),
    months AS (
        SELECT b.bucket, b.bucket_end,
               b.bucket >= x.d0 AND b.bucket_end <= x.d1
               AND NOT EXISTS (
                   SELECT 1 FROM emission_factors f
                   WHERE f.energy = p_energy AND f.perimeter = 'France continentale'
                     AND ((f.valid_from > (b.bucket AT TIME ZONE 'Europe/Paris')::date
                           AND f.valid_from < (b.bucket_end AT TIME ZONE 'Europe/Paris')::date)
                          OR (f.valid_to > (b.bucket AT TIME ZONE 'Europe/Paris')::date
                              AND f.valid_to < (b.bucket_end AT TIME ZONE 'Europe/Paris')::date)))
                   AS whole
        FROM bounds x CROSS JOIN icone_buckets('month', x.d0, x.d1) b
    ),
    segments AS (    -- runs of consecutive months of one kind, clipped to the window
        SELECT r.whole, greatest(min(r.bucket), x.d0) AS s0, least(max(r.bucket_end), x.d1) AS s1
        FROM (SELECT m.*, row_number() OVER (ORDER BY m.bucket)
                          - row_number() OVER (PARTITION BY m.whole ORDER BY m.bucket) AS run
              FROM months m) r
        CROSS JOIN bounds x
        GROUP BY r.whole, r.run, x.d0, x.d1
    ),
    days AS (
        SELECT e.bucket, e.bucket_end, e.scope, e.figure, e.readings_expected,
               least(e.readings, e.readings_expected) AS got,
               (icone_emission_factor(p_energy, (e.bucket AT TIME ZONE 'Europe/Paris')::date)).*
        FROM segments s
        CROSS JOIN LATERAL icone_energy(s.s0, s.s1, CASE WHEN s.whole THEN 'month' ELSE 'day' END,
                                        p_group, p_sites) e
        WHERE e.register_name = 'total'
    )
    SELECT d.scope, min(d.bucket), max(d.bucket_end), sum(d.figure), sum(d.figure) * min(d.value),
           min(d.value), min(d.unit), d.id, min(d.source), min(d.source_id), min(d.year),
           sum(d.got) / nullif(sum(d.readings_expected), 0),
           CASE WHEN d.id IS NULL
                THEN 'no ' || p_energy || ' emission factor in force on these days: not computed'
                ELSE 'kWh (icone_energy: month buckets for the months with one factor all month, '
                     || 'day buckets otherwise) x the factor in force on each of them' END
    FROM days d
    GROUP BY d.scope, d.id
    ORDER BY 1, 2
$$;

-- THERMAL TIME (icone_ashrae). Each temperature reading (channel '') of a sensor holds from its
-- time until the next reading, at most two uplink intervals of its model (3600 s when the
-- model is unknown): its "hold". The time of a window [p_from, p_to) is the part of the holds
-- inside it, readings before the window included: a sum over local days, so the days of
-- settled history are cached like the figures. A day's time depends on the readings from one
-- hold before it to its end, plus the next reading of each (at most one hold after): a day is
-- cached once it ends a hold before now() - icone_rollup_margin(); late temperature or
-- humidity rows move the horizon back one hold before them; a change of envelope, of a
-- model's uplink interval or of a device's model forgets the sensors it concerns.

CREATE TABLE thermal_cache (
    dev_eui     text NOT NULL,
    day         timestamptz NOT NULL,
    held_s      double precision NOT NULL,    -- observed time in the day
    rec_s       double precision NOT NULL,    -- of which in the recommended envelope
    a1_s        double precision NOT NULL,    -- of which in the A1 allowable envelope
    rh_known_s  double precision NOT NULL,    -- of which with a humidity reading
    readings    bigint NOT NULL,              -- temperature readings in the day
    PRIMARY KEY (dev_eui, day)
);

CREATE TABLE thermal_cache_horizon (
    dev_eui text PRIMARY KEY,
    horizon timestamptz NOT NULL                -- every local day before it is cached
);

-- The longest a reading of the device holds (seconds).
CREATE FUNCTION icone_max_hold_s(p_dev_eui text)
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT 2 * coalesce((SELECT m.uplink_interval_s FROM devices d
                         JOIN device_models m ON m.model = d.model
                         WHERE d.dev_eui = p_dev_eui), 1800)
$$;

-- Thermal time of p_devs per local day within [p_from, p_to) (holds clipped to the window,
-- readings counted where they are): the one computation behind the cache and icone_ashrae.
CREATE FUNCTION icone_thermal_days(p_from timestamptz, p_to timestamptz, p_devs text[])
RETURNS TABLE (dev_eui text, day timestamptz, held_s double precision, rec_s double precision,
               a1_s double precision, rh_known_s double precision, readings bigint)
LANGUAGE plpgsql STABLE
SET jit = off
SET plan_cache_mode = force_generic_plan    -- planned once per session, not per call
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH sensors AS MATERIALIZED (
        SELECT d.dev_eui, icone_max_hold_s(d.dev_eui) * interval '1 second' AS max_hold
        FROM unnest(p_devs) AS d (dev_eui)
    ),
    holds AS (
        SELECT t.dev_eui, t.time, t.value AS temp, h.value AS rh,
               least(coalesce(lead(t.time) OVER w, 'infinity'), t.time + s.max_hold) AS until
        FROM sensors s
        JOIN measurements t ON t.dev_eui = s.dev_eui AND t.metric = 'temperature'
             AND t.channel = '' AND t.time >= p_from - s.max_hold AND t.time < p_to
             -- a bound known at run time: TimescaleDB excludes the other chunks
             AND t.time >= p_from - (SELECT max(x.max_hold) FROM sensors x)
        LEFT JOIN measurements h ON h.dev_eui = t.dev_eui AND h.metric = 'relative_humidity'
             AND h.channel = '' AND h.time = t.time
             AND h.time >= p_from - (SELECT max(x.max_hold) FROM sensors x) AND h.time < p_to
        WINDOW w AS (PARTITION BY t.dev_eui ORDER BY t.time)
    ),
    judged AS (
        SELECT x.dev_eui, x.time, greatest(x.time, p_from) AS a, least(x.until, p_to) AS b,
               x.rh IS NOT NULL AS rh_known,
               (x.temp BETWEEN e.t_min AND e.t_max
                AND (x.rh IS NULL OR (x.rh BETWEEN coalesce(e.rh_min, 0) AND coalesce(e.rh_max, 100)
                     AND icone_dew_point(x.temp, x.rh)
                         BETWEEN coalesce(e.dp_min, '-Infinity') AND coalesce(e.dp_max, 'Infinity'))))
                   AS rec,
               (x.temp BETWEEN a.t_min AND a.t_max
                AND (x.rh IS NULL OR (x.rh BETWEEN coalesce(a.rh_min, 0) AND coalesce(a.rh_max, 100)
                     AND icone_dew_point(x.temp, x.rh)
                         BETWEEN coalesce(a.dp_min, '-Infinity') AND coalesce(a.dp_max, 'Infinity'))))
                   AS a1
        FROM holds x
        CROSS JOIN (SELECT * FROM ashrae_envelopes WHERE name = 'recommended') e
        CROSS JOIN (SELECT * FROM ashrae_envelopes WHERE name = 'A1') a
    ),
    pieces AS (
        -- a hold within one day (nearly all of them) goes to it whole...
        SELECT j.dev_eui, icone_bucket_start('day', j.a) AS day, j.a, j.b, j.time, j.rh_known,
               j.rec, j.a1
        FROM judged j
        WHERE j.b > j.a
          AND icone_bucket_start('day', j.a)
              = icone_bucket_start('day', j.b - interval '1 microsecond')
        UNION ALL
        -- ...one across midnight is cut at each midnight
        SELECT j.dev_eui, g.day, greatest(j.a, g.day), least(j.b, icone_bucket_next('day', g.day)),
               j.time, j.rh_known, j.rec, j.a1
        FROM judged j
        CROSS JOIN LATERAL (
            SELECT gl AT TIME ZONE 'Europe/Paris' AS day
            FROM generate_series(icone_bucket_start('day', j.a) AT TIME ZONE 'Europe/Paris',
                                 icone_bucket_start('day', j.b - interval '1 microsecond')
                                     AT TIME ZONE 'Europe/Paris',
                                 interval '1 day') gl
        ) g
        WHERE j.b > j.a
          AND icone_bucket_start('day', j.a)
              <> icone_bucket_start('day', j.b - interval '1 microsecond')
    ),
    timed AS (
        SELECT p.dev_eui, p.day, icone_epoch(p.b) - icone_epoch(p.a) AS s, p.rh_known, p.rec,
               p.a1, (p.time >= p.day AND p.time >= p_from) AS counted
        FROM pieces p
    )
    SELECT t.dev_eui, t.day, sum(t.s), coalesce(sum(t.s) FILTER (WHERE t.rec), 0),
           coalesce(sum(t.s) FILTER (WHERE t.a1), 0),
           coalesce(sum(t.s) FILTER (WHERE t.rh_known), 0), count(*) FILTER (WHERE t.counted)
    FROM timed t
    GROUP BY 1, 2;
END $$;

-- The sensors (role rack_inlet) whose thermal time is cached: their horizon goes to the
-- last local day ending a hold before now() - icone_rollup_margin(); returns rows written.
CREATE FUNCTION icone_refresh_thermal_cache()
RETURNS bigint LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    written bigint := 0;
    n bigint;
    s record;
BEGIN
    PERFORM pg_advisory_xact_lock(icone_figure_cache_lock_key());
    FOR s IN
        SELECT d.dev_eui, coalesce(h.horizon, f.first_day) AS old_h,
               icone_bucket_start('day', now() - icone_rollup_margin()
                                         - icone_max_hold_s(d.dev_eui) * interval '1 second')
                   AS new_h
        FROM devices d
        LEFT JOIN thermal_cache_horizon h ON h.dev_eui = d.dev_eui
        CROSS JOIN LATERAL (
            SELECT min(a.bucket) AS first_day FROM measurements_daily_current a
            WHERE h.horizon IS NULL AND a.dev_eui = d.dev_eui AND a.metric = 'temperature'
              AND a.channel = ''
        ) f
        WHERE d.role = 'rack_inlet'
    LOOP
        CONTINUE WHEN s.old_h IS NULL OR s.old_h >= s.new_h;
        INSERT INTO thermal_cache AS x (dev_eui, day, held_s, rec_s, a1_s, rh_known_s, readings)
        SELECT t.dev_eui, t.day, t.held_s, t.rec_s, t.a1_s, t.rh_known_s, t.readings
        FROM icone_thermal_days(s.old_h, s.new_h, ARRAY[s.dev_eui]) t
        ON CONFLICT (dev_eui, day) DO UPDATE
            SET held_s = excluded.held_s, rec_s = excluded.rec_s, a1_s = excluded.a1_s,
                rh_known_s = excluded.rh_known_s, readings = excluded.readings;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        INSERT INTO thermal_cache_horizon AS x (dev_eui, horizon) VALUES (s.dev_eui, s.new_h)
        ON CONFLICT (dev_eui) DO UPDATE SET horizon = excluded.horizon;
    END LOOP;
    RETURN written;
END $$;

-- What the thermal time is judged by, or how long a reading holds, changed: the sensors
-- concerned are recomputed from their first day (all of them for an envelope).
CREATE FUNCTION icone_forget_thermal()
RETURNS trigger LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(icone_figure_cache_lock_key());
    IF TG_TABLE_NAME = 'ashrae_envelopes' THEN
        DELETE FROM thermal_cache;
        DELETE FROM thermal_cache_horizon;
    ELSIF TG_TABLE_NAME = 'device_models' THEN
        DELETE FROM thermal_cache c USING devices d
        WHERE d.dev_eui = c.dev_eui AND d.model IN (OLD.model, NEW.model);
        DELETE FROM thermal_cache_horizon c USING devices d
        WHERE d.dev_eui = c.dev_eui AND d.model IN (OLD.model, NEW.model);
    ELSE    -- devices: its model changed
        DELETE FROM thermal_cache c WHERE c.dev_eui = NEW.dev_eui;
        DELETE FROM thermal_cache_horizon c WHERE c.dev_eui = NEW.dev_eui;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ashrae_envelopes_forget_thermal
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ashrae_envelopes
    FOR EACH STATEMENT EXECUTE FUNCTION icone_forget_thermal();
CREATE TRIGGER device_models_forget_thermal AFTER UPDATE OF uplink_interval_s ON device_models
    FOR EACH ROW WHEN (OLD.uplink_interval_s IS DISTINCT FROM NEW.uplink_interval_s)
    EXECUTE FUNCTION icone_forget_thermal();
CREATE TRIGGER devices_forget_thermal AFTER UPDATE OF model ON devices
    FOR EACH ROW WHEN (OLD.model IS DISTINCT FROM NEW.model)
    EXECUTE FUNCTION icone_forget_thermal();

-- 0008's icone_ashrae on thermal time (above): whole local days below a sensor's horizon
-- from thermal_cache, the rest (the window's partial first and last days, the days from the
-- horizon on) from icone_thermal_days. A reading before the window now holds into it (0008
-- counted the window from its first reading): the time of a window is the sum of its days'.
CREATE OR REPLACE FUNCTION icone_ashrae(p_from timestamptz, p_to timestamptz,
                                        p_sites text[] DEFAULT NULL)
RETURNS TABLE (site_id text, dev_eui text, location text, observed_hours double precision,
               recommended_share double precision, a1_share double precision,
               humidity_known_share double precision, readings bigint,
               coverage double precision, method text)
LANGUAGE sql STABLE
SET jit = off
AS $$
    WITH sensors AS MATERIALIZED (
        SELECT d.dev_eui, d.site_id, d.location, h.horizon,
               icone_epoch(least(p_to, now())) - icone_epoch(greatest(p_from,
                   coalesce(d.installed_at, p_from))) AS window_s
        FROM devices d LEFT JOIN thermal_cache_horizon h ON h.dev_eui = d.dev_eui
        WHERE d.role = 'rack_inlet' AND d.status = 'active'
          AND (p_sites IS NULL OR d.site_id = ANY (p_sites))
    ),
    -- cached: the whole days in [c0, c1), c1 the lowest horizon of the sensors (one live
    -- computation for them all)
    cut AS (
        SELECT icone_bucket_ceil('day', p_from) AS c0,
               greatest(icone_bucket_ceil('day', p_from),
                        least(coalesce(min(coalesce(s.horizon, '-infinity')), '-infinity'),
                              icone_bucket_start('day', p_to))) AS c1,
               array_agg(s.dev_eui) AS devs
        FROM sensors s
    ),
    days AS (
        SELECT c.dev_eui, c.held_s, c.rec_s, c.a1_s, c.rh_known_s, c.readings
        FROM cut x
        JOIN thermal_cache c ON c.dev_eui = ANY (x.devs) AND c.day >= x.c0 AND c.day < x.c1
        UNION ALL
        SELECT t.dev_eui, t.held_s, t.rec_s, t.a1_s, t.rh_known_s, t.readings
        FROM cut x
        CROSS JOIN LATERAL (VALUES (p_from, least(x.c0, p_to)), (x.c1, p_to)) AS r (lo, hi)
        CROSS JOIN LATERAL icone_thermal_days(r.lo, r.hi, x.devs) t
        WHERE r.hi > r.lo
    )
    SELECT s.site_id, s.dev_eui, s.location, sum(d.held_s) / 3600,
           sum(d.rec_s) / nullif(sum(d.held_s), 0),
           sum(d.a1_s) / nullif(sum(d.held_s), 0),
           sum(d.rh_known_s) / nullif(sum(d.held_s), 0),
           coalesce(sum(d.readings), 0)::bigint,
           least(1, sum(d.held_s) / nullif(s.window_s, 0)),
           'share of observed time (each reading holds until the next, at most 2 uplink '
           || 'intervals, readings before the window included) within the ASHRAE envelopes '
           || 'of table ashrae_envelopes; coverage = observed time / period'
    FROM sensors s LEFT JOIN days d ON d.dev_eui = s.dev_eui
    GROUP BY s.site_id, s.dev_eui, s.location, s.window_s
    ORDER BY 1, 2
$$;

-- Grafana's read-only role (0009) reads the indicators, hence their caches.
GRANT SELECT ON figure_cache, figure_cache_horizon, thermal_cache, thermal_cache_horizon
    TO icone_grafana;

-- 0008's icone_fleet with the uplinks read in one scan of the longest horizon instead of two
-- lookups per device (~1 ms each on a hypertable: a second for 1,000 devices). Same rules.
CREATE OR REPLACE FUNCTION icone_fleet(p_at timestamptz DEFAULT now(),
                                       p_sites text[] DEFAULT NULL)
RETURNS TABLE (site_id text, category text, registered integer, reporting integer,
               silent integer, low_battery integer, uplinks_24h bigint,
               uplinks_expected_24h double precision, coverage double precision, method text)
LANGUAGE sql STABLE
SET jit = off
AS $$
    WITH devs AS MATERIALIZED (
        SELECT d.dev_eui, d.site_id, coalesce(m.category, 'unknown') AS category,
               m.uplink_interval_s,
               greatest(interval '24 hours',
                        2 * coalesce(m.uplink_interval_s, 43200) * interval '1 second') AS horizon
        FROM devices d LEFT JOIN device_models m ON m.model = d.model
        WHERE d.status = 'active' AND (p_sites IS NULL OR d.site_id = ANY (p_sites))
    ),
    seen AS (
        SELECT u.dev_eui, u.time
        FROM uplinks u
        WHERE u.time <= p_at AND u.time > p_at - (SELECT max(v.horizon) FROM devs v)
    ),
    heard AS (
        SELECT v.dev_eui,
               max(u.time) FILTER (WHERE u.time > p_at - v.horizon) AS last_uplink,
               count(u.time) FILTER (WHERE u.time > p_at - interval '24 hours') AS n24
        FROM devs v LEFT JOIN seen u ON u.dev_eui = v.dev_eui
        GROUP BY v.dev_eui
    ),
    state AS (
        SELECT v.*, h.last_uplink, h.n24,
               coalesce((SELECT b.value < 10 FROM measurements b
                         WHERE b.dev_eui = v.dev_eui AND b.metric = 'battery_level'
                           AND b.channel = '' AND b.time <= p_at
                           AND b.time > p_at - interval '7 days'
                         ORDER BY b.time DESC LIMIT 1), false)
               OR coalesce((SELECT e.active FROM device_events e
                            WHERE e.dev_eui = v.dev_eui AND e.code = 'low_battery'
                              AND e.time <= p_at
                            ORDER BY e.time DESC LIMIT 1), false) AS low
        FROM devs v JOIN heard h ON h.dev_eui = v.dev_eui
    )
    SELECT s.site_id, s.category, count(*)::integer,
           count(s.last_uplink)::integer, (count(*) - count(s.last_uplink))::integer,
           count(*) FILTER (WHERE s.low)::integer, sum(s.n24)::bigint,
           sum(86400.0 / s.uplink_interval_s),
           sum(least(s.n24, 86400.0 / s.uplink_interval_s))
               / nullif(sum(86400.0 / s.uplink_interval_s), 0),
           'reporting: an uplink within max(24 h, 2 uplink intervals of the catalogue) before '
           || 'the instant; low battery: battery_level < 10 % (last 7 days) or an active '
           || 'low_battery alarm; coverage: uplinks of the last 24 h / expected'
    FROM state s
    GROUP BY 1, 2
    ORDER BY 1, 2
$$;

-- 0008's icone_summary, the year's metropolis energy computed once for its two rows (energy,
-- energy per m²) instead of twice.
CREATE OR REPLACE FUNCTION icone_summary(p_year integer, p_sites text[] DEFAULT NULL)
RETURNS TABLE (section text, indicator text, scope text, period_start timestamptz,
               period_end timestamptz, figure double precision, unit text,
               coverage double precision, devices text, gap_days integer, factor text,
               method text)
LANGUAGE plpgsql STABLE SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    y0 timestamptz := make_date(p_year, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris';
    y1 timestamptz := make_date(p_year + 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris';
    fleet_at timestamptz := least(now(), make_date(p_year + 1, 1, 1)::timestamp
                                         AT TIME ZONE 'Europe/Paris');
BEGIN
    RETURN QUERY
    WITH metropolis AS MATERIALIZED (    -- computed once, read by two rows
        SELECT * FROM icone_energy(y0, y1, 'year', 'metropolis', p_sites) e
        WHERE e.register_name = 'total'
    )
    SELECT 'energy', 'energy', e.scope, e.bucket, e.bucket_end, e.figure, e.unit, e.coverage,
           e.devices_contributing || '/' || e.devices_expected, e.gap_days, NULL, e.method
    FROM metropolis e
    UNION ALL
    SELECT 'energy', 'energy_per_m2', e.scope, e.bucket, e.bucket_end, e.figure_per_m2,
           e.unit || '/m²', e.coverage, e.devices_contributing || '/' || e.devices_expected,
           e.gap_days, NULL,
           'energy of the sites with a known floor area / their area ('
           || coalesce(e.floor_area_m2::text, 'no site with a floor area') || ' m²)'
    FROM metropolis e
    UNION ALL
    SELECT 'energy', 'energy', e.scope, e.bucket, e.bucket_end, e.figure, e.unit, e.coverage,
           e.devices_contributing || '/' || e.devices_expected, e.gap_days, NULL, e.method
    FROM icone_energy(y0, y1, 'year', 'site_kind', p_sites) e WHERE e.register_name = 'total'
    UNION ALL
    SELECT 'energy', 'energy_change_yoy', v.scope, y0, y1, v.change, '1', v.coverage,
           NULL, NULL, NULL, v.method || ' (previous year coverage '
           || coalesce(round(v.previous_coverage::numeric, 3)::text, 'none') || ')'
    FROM icone_metered_yoy('energy_active_import_index', p_year, 'metropolis', p_sites) v
    UNION ALL
    SELECT 'energy', 'co2e', x.scope, x.period_start, x.period_end, x.kgco2e, 'kgCO2e',
           x.coverage, NULL, NULL,
           CASE WHEN x.factor_id IS NULL THEN 'none in force'
                ELSE x.factor || ' ' || x.factor_unit || ' (' || x.factor_source
                     || coalesce(', id ' || x.factor_source_id, '')
                     || coalesce(', ' || x.factor_year, '') || ')' END,
           x.method || '; ' || coalesce(round(x.kwh::numeric, 3) || ' kWh', 'no energy figure')
    FROM icone_emissions(y0, y1, 'metropolis', p_sites) x
    UNION ALL
    SELECT 'datacenter', i.indicator, d.site_id, d.bucket, d.bucket_end, i.figure, i.unit,
           d.coverage, 'facility ' || d.facility_meters || ', it ' || d.it_meters
           || ', cooling ' || d.cooling_meters, d.gap_days, NULL,
           d.method || '; ' || d.metering_category || '; PUE status: ' || d.pue_status
    FROM icone_datacenter(y0, y1, 'year', p_sites) d
    CROSS JOIN LATERAL (VALUES ('e_facility', d.e_facility, 'kWh'), ('e_it', d.e_it, 'kWh'),
                               ('e_cooling', d.e_cooling, 'kWh'), ('pue', d.pue, '1'),
                               ('cooling_share', d.cooling_share, '1'))
        AS i (indicator, figure, unit)
    UNION ALL
    SELECT 'datacenter', i.indicator,
           a.site_id || '/' || coalesce(nullif(a.location, ''), a.dev_eui), y0, y1, i.figure, '1',
           a.coverage, NULL, NULL, NULL, a.method
    FROM icone_ashrae(y0, y1, p_sites) a
    CROSS JOIN LATERAL (VALUES ('ashrae_recommended_share', a.recommended_share),
                               ('ashrae_a1_share', a.a1_share)) AS i (indicator, figure)
    UNION ALL
    SELECT 'water', 'water', w.scope, w.bucket, w.bucket_end, w.figure, w.unit, w.coverage,
           w.devices_contributing || '/' || w.devices_expected, w.gap_days, NULL, w.method
    FROM icone_water(y0, y1, 'year', 'metropolis', p_sites) w WHERE w.register_name = 'total'
    UNION ALL
    SELECT 'water', 'water_change_yoy', v.scope, y0, y1, v.change, '1', v.coverage,
           NULL, NULL, NULL, v.method
    FROM icone_metered_yoy('water_volume_index', p_year, 'metropolis', p_sites) v
    UNION ALL
    SELECT 'water', 'water_alerts', 'metropolis', fleet_at, fleet_at, count(*)::double precision,
           'alerts', NULL, NULL, NULL, NULL,
           'icone_water_alerts at the end of the year (or now): night-flow rule and active '
           || 'leak/burst/backflow/dry alarms'
    FROM icone_water_alerts(fleet_at, p_sites)
    UNION ALL
    SELECT 'fleet', i.indicator, 'metropolis', fleet_at, fleet_at, i.figure, 'devices',
           f.coverage, NULL, NULL, NULL, f.method
    FROM (SELECT sum(registered) AS registered, sum(reporting) AS reporting,
                 sum(silent) AS silent, sum(low_battery) AS low,
                 sum(uplinks_24h) AS n, sum(uplinks_expected_24h) AS expected,
                 sum(coalesce(coverage, 0) * uplinks_expected_24h)
                     / nullif(sum(uplinks_expected_24h), 0) AS coverage,
                 coalesce(min(method), 'no active device in scope') AS method
          FROM icone_fleet(fleet_at, p_sites)) f
    CROSS JOIN LATERAL (VALUES ('registered', f.registered::double precision),
                               ('reporting', f.reporting::double precision),
                               ('silent', f.silent::double precision),
                               ('low_battery', f.low::double precision)) AS i (indicator, figure);
END $$;

-- 0008's other indicator functions without JIT either (see the header): measured at 1,000
-- devices, JIT compilation was up to half of a call (datacenter over a year 250 -> 85 ms).
ALTER FUNCTION icone_metered(text, timestamptz, timestamptz, text, text, text[]) SET jit = off;
ALTER FUNCTION icone_energy(timestamptz, timestamptz, text, text, text[]) SET jit = off;
ALTER FUNCTION icone_water(timestamptz, timestamptz, text, text, text[]) SET jit = off;
ALTER FUNCTION icone_metered_yoy(text, integer, text, text[]) SET jit = off;
ALTER FUNCTION icone_datacenter(timestamptz, timestamptz, text, text[]) SET jit = off;
ALTER FUNCTION icone_water_alerts(timestamptz, text[], double precision) SET jit = off;
ALTER FUNCTION icone_opendata(integer, text, integer) SET jit = off;
