-- 0017: the day in progress read once per call. The figure cache's live part (icone_figure_parts,
-- every metered call: today, for each register) read the day's rows of
-- measurements_daily_current twice: for the readings, then inside icone_consumption for the
-- figures. In TimescaleDB mode that row is built at each read from the day's hourly rows (a
-- real-time hierarchical aggregate: at 17:00, 17 hourly rows per register, re-bucketed to
-- the local day): 25-35 ms for 400 electricity meters, ~20 ms for 300 water meters, growing
-- through the day. And icone_consumption looked up the last reading before the day in
-- progress register by register (one query of the real-time view each, ~70 us: 20-30 ms
-- for 300-400 meters). Now icone_figure_parts reads a horizon group's daily rows once, from
-- a week before its horizon on (8 days cost ~3 ms more than today alone), into an array of
-- icone_daily_row, and hands it to icone_consumption (p_daily), which takes its window's
-- rows and each register's last row before the window from it (its own reads otherwise:
-- counters and interval metrics in one read). Same rows, same figures: only where they are
-- read from changes.

-- One row of measurements_daily_current.
CREATE TYPE icone_daily_row AS (
    bucket  timestamptz,
    dev_eui text,
    metric  text,
    channel text,
    n       bigint,
    first_t timestamptz,
    first_v double precision,
    last_t  timestamptz,
    last_v  double precision,
    min_v   double precision,
    max_v   double precision,
    sum_v   double precision
);

-- 0015's icone_consumption with p_daily: the daily rows of the devices (p_devs) from the
-- window's first local day on, every later day included (the first reading after the window
-- is among them), as measurements_daily_current gives them, and optionally every day from
-- some day before the window (the last reading before it is then taken from them, and
-- looked up only for registers without one there); NULL: read here, as before.
DROP FUNCTION icone_consumption(timestamptz, timestamptz, text, text, text, text, text[]);

CREATE FUNCTION icone_consumption(
    p_from    timestamptz,
    p_to      timestamptz,
    p_bucket  text DEFAULT 'day',
    p_site    text DEFAULT NULL,
    p_metric  text DEFAULT NULL,
    p_dev_eui text DEFAULT NULL,
    p_devs    text[] DEFAULT NULL,   -- these devices only (NULL: any)
    p_daily   icone_daily_row[] DEFAULT NULL    -- the daily rows, when the caller has them
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
        WHERE p_devs IS NULL OR h.dev_eui = ANY (p_devs)
        ORDER BY h.dev_eui, h.metric, h.channel, h.bucket;
        RETURN;
    END IF;

    d_from := icone_bucket_start('day', w_from);
    SELECT array_agg(d.dev_eui) INTO devs FROM devices d
    WHERE (p_site IS NULL OR d.site_id = p_site) AND (p_dev_eui IS NULL OR d.dev_eui = p_dev_eui)
      AND (p_devs IS NULL OR d.dev_eui IN (SELECT unnest(p_devs)));    -- hashed, not n x m
    SELECT coalesce(array_agg(k.metric) FILTER (WHERE k.kind = 'counter'), '{}'),
           coalesce(array_agg(k.metric) FILTER (WHERE k.kind = 'interval'), '{}')
      INTO counters, intervals
    FROM metric_kinds k WHERE p_metric IS NULL OR k.metric = p_metric;
    IF devs IS NULL THEN
        RETURN;
    END IF;

    -- day and month buckets: 0005's statement, reading measurements_daily_current (or
    -- p_daily) once, with the regular-day condition of the header
    RETURN QUERY
    WITH daily AS MATERIALIZED (
        SELECT a.bucket, a.dev_eui, a.metric, a.channel, a.n, a.first_t, a.first_v, a.last_t,
               a.last_v, a.min_v, a.max_v, a.sum_v
        FROM measurements_daily_current a
        WHERE p_daily IS NULL AND a.dev_eui = ANY (devs)
          AND a.metric = ANY (counters || intervals) AND a.bucket >= d_from
        UNION ALL
        SELECT a.bucket, a.dev_eui, a.metric, a.channel, a.n, a.first_t, a.first_v, a.last_t,
               a.last_v, a.min_v, a.max_v, a.sum_v
        FROM unnest(p_daily) a
        WHERE a.bucket >= d_from AND a.metric = ANY (counters || intervals)
          AND a.dev_eui IN (SELECT unnest(devs))    -- hashed: = ANY is n x m here
    ),
    -- the last daily row before the window of each register p_daily has days before it for
    -- (the latest of them is the latest of all: p_daily holds every day from its first on)
    before AS MATERIALIZED (
        SELECT DISTINCT ON (a.dev_eui, a.metric, a.channel) a.dev_eui, a.metric, a.channel,
               a.last_t, a.last_v
        FROM unnest(p_daily) a
        WHERE a.bucket < w_from AND a.metric = ANY (counters)
          AND a.dev_eui IN (SELECT unnest(devs))
        ORDER BY a.dev_eui, a.metric, a.channel, a.bucket DESC
    ),
    day_rows AS NOT MATERIALIZED (
        SELECT a.dev_eui, a.metric, a.channel, a.bucket, a.first_t, a.first_v, a.last_t,
               a.last_v, a.min_v, a.max_v
        FROM daily a WHERE a.metric = ANY (counters)
    ),
    series AS MATERIALIZED (
        SELECT s.dev_eui, s.metric, s.channel, (row_number() OVER ())::integer AS reg, r.modulus
        FROM (SELECT DISTINCT a.dev_eui, a.metric, a.channel FROM day_rows a) s
        LEFT JOIN counter_registers r
          ON r.dev_eui = s.dev_eui AND r.metric = s.metric AND r.channel = s.channel
    ),
    -- the registers whose last reading before the window is not in p_daily (all of them
    -- without p_daily): looked up one by one below (kept apart so that the lookups run
    -- for these only)
    lookups AS MATERIALIZED (
        SELECT s.* FROM series s
        WHERE NOT EXISTS (SELECT 1 FROM before x
                          WHERE x.dev_eui = s.dev_eui AND x.metric = s.metric
                            AND x.channel = s.channel)
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
        FROM series s JOIN before b
          ON b.dev_eui = s.dev_eui AND b.metric = s.metric AND b.channel = s.channel
        WHERE p_bucket <> 'hour'
        UNION ALL
        SELECT s.reg, b.last_t, b.last_v, 2, false
        FROM lookups s
        CROSS JOIN LATERAL (
            -- not in p_daily: the week before first (nearly always there), the whole
            -- history only if not:
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
        FROM daily a
        WHERE p_bucket <> 'hour' AND a.metric = ANY (intervals)
          AND a.bucket >= w_from AND a.bucket < w_to
        GROUP BY 1, 2, 3, 4
    )
    SELECT x.b, x.dev_eui, d.site_id, x.metric, x.channel, x.q, k.unit
    FROM totals x
    JOIN devices d ON d.dev_eui = x.dev_eui
    JOIN metric_kinds k ON k.metric = x.metric
    ORDER BY x.dev_eui, x.metric, x.channel, x.b;
END $$;

-- 0016's icone_figure_parts, the live part's daily rows read once (see the header).
CREATE OR REPLACE FUNCTION icone_figure_parts(p_metric text, p_from timestamptz,
                                              p_to timestamptz, p_bucket text, p_devs text[],
                                              p_site text DEFAULT NULL,
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
    l_from timestamptz[];    -- cached p_bucket rows end (for months, the start of l_from's
    l_cut timestamptz[];     -- month or of p_to's: a month is cached whole or not at all)
    lo timestamptz;          -- the lowest live start (NULL: no device)
    whole_from timestamptz;  -- the first whole bucket of the window
    g record;
    daily icone_daily_row[];    -- a horizon group's daily rows from its horizon on
BEGIN
    IF p_bucket NOT IN ('day', 'month') THEN
        RAISE EXCEPTION 'icone_figure_parts: bucket must be day or month, not %', p_bucket
            USING ERRCODE = '22023';
    END IF;
    whole_from := CASE p_bucket WHEN 'month' THEN icone_bucket_ceil('month', p_from)
                                ELSE p_from END;
    SELECT array_agg(l.dev_eui), array_agg(l.live_from),
           array_agg(CASE p_bucket WHEN 'month'
                         THEN least(icone_bucket_start('month', l.live_from),
                                    icone_bucket_start('month', p_to))
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
     AND c.bucket >= whole_from AND c.bucket < l.cut AND c.bucket < p_to
    UNION ALL
    -- ...for months, the days below the horizon in the month of the window's start when the
    -- window starts inside it...
    SELECT icone_bucket_start('month', p_from), c.dev_eui, c.channel, c.consumption,
           c.readings, c.days_with_data
    FROM unnest(l_dev, l_from) AS l (dev_eui, live_from)
    JOIN figure_cache c
      ON c.dev_eui = l.dev_eui AND c.metric = p_metric AND c.span = 'day'
     AND c.bucket >= p_from AND c.bucket < whole_from AND c.bucket < l.live_from
     AND c.bucket < p_to
    WHERE p_bucket = 'month'
    UNION ALL
    -- ...and in the month of the horizon or of the window's end (l.cut)
    SELECT l.cut, c.dev_eui, c.channel, c.consumption, c.readings, c.days_with_data
    FROM unnest(l_dev, l_cut, l_from) AS l (dev_eui, cut, live_from)
    JOIN figure_cache c
      ON c.dev_eui = l.dev_eui AND c.metric = p_metric AND c.span = 'day'
     AND c.bucket >= l.cut AND c.bucket >= whole_from AND c.bucket < l.live_from
     AND c.bucket < p_to
    WHERE p_bucket = 'month';

    -- from the horizon on, per horizon shared by devices: their daily rows read once, for
    -- the readings and for icone_consumption's figures
    FOR g IN
        SELECT l.live_from, array_agg(l.dev_eui) AS devs
        FROM unnest(l_dev, l_from) AS l (dev_eui, live_from)
        WHERE l.live_from < p_to
        GROUP BY 1
    LOOP
        -- (and the week before: the last reading before the horizon is nearly always there,
        -- found in the same read instead of one lookup per register). Only for a horizon
        -- within a month of now, the usual case: a long live span (a cache emptied, a
        -- device new to it) stays where its rows are, read twice as before 0017 (an array
        -- holds at most 1 GB, ~7 M rows: a year of a 20,000-device fleet's days)
        daily := CASE WHEN now() - g.live_from <= interval '31 days' THEN ARRAY(
            SELECT ROW(a.bucket, a.dev_eui, a.metric, a.channel, a.n, a.first_t, a.first_v,
                       a.last_t, a.last_v, a.min_v, a.max_v, a.sum_v)::icone_daily_row
            FROM measurements_daily_current a
            WHERE a.dev_eui = ANY (g.devs) AND a.metric = p_metric
              AND a.bucket >= g.live_from - interval '7 days') END;
        RETURN QUERY
        SELECT icone_bucket_start(p_bucket, a.bucket), a.dev_eui, a.channel,
               NULL::double precision, a.n::bigint, (a.n > 0)::integer
        FROM (SELECT x.bucket, x.dev_eui, x.channel, x.n FROM unnest(daily) x
              UNION ALL
              SELECT x.bucket, x.dev_eui, x.channel, x.n FROM measurements_daily_current x
              WHERE daily IS NULL AND x.dev_eui = ANY (g.devs) AND x.metric = p_metric
                AND x.bucket >= g.live_from) a
        WHERE a.bucket >= g.live_from AND a.bucket < p_to;
        CONTINUE WHEN NOT p_consumption;
        RETURN QUERY
        SELECT icone_bucket_start(p_bucket, c.bucket), c.dev_eui, c.channel, c.consumption,
               0::bigint, 0
        FROM icone_consumption(g.live_from, p_to, 'day', NULL, p_metric, NULL, g.devs,
                               daily) c;
    END LOOP;
END $$;
