-- 0016: the indicators' live work cut, in three steps measured one by one (docs/benchmarks.md
-- names them 0016, 0017 and 0018, as they were measured; folded here before landing, so that
-- each function is restated once).
--
-- (measured as 0016) The emissions of a year in one energy computation. icone_emissions (0012)
-- read the months with one emission factor all month as month buckets, but the partial months
-- at the ends of a window that does not start on the 1st (the last 365 days, say) as day
-- buckets: three icone_energy calls for a rolling year, each reading the cache and its
-- coverage (at scale 1: 67 ms for the first partial month's ~25 days x 400 meters, 38 ms for
-- the whole months, 75-100 ms for the last one with the day in progress). Now:
--   * icone_figure_parts takes month buckets over a window cut at local days: a partial month
--     is the sum of its cached days in the window (labelled with the month's start, as every
--     month part), the whole months are month rows;
--   * icone_metered gets p_partial: the window is cut at local days instead of widened to
--     whole buckets, and the first and last buckets it returns start and end where the window
--     does (without p_partial, as before: the window is whole buckets, so the bounds are the
--     buckets'). Its coverage already counts a bucket's part in the window;
--   * icone_emissions reads every month with one factor all month, partial ones included, as
--     one month bucket (one icone_metered call for a rolling year); a month in which a factor
--     starts or ends is still read by day.
--
-- (measured as 0017) The day in progress read once per call. The figure cache's live part
-- (icone_figure_parts, every metered call: today, for each register) read the day's rows of
-- measurements_daily_current twice: for the readings, then inside icone_consumption for the
-- figures. In TimescaleDB mode that row is built at each read from the day's hourly rows (a
-- real-time hierarchical aggregate: at 17:00, 17 hourly rows per register, re-bucketed to the
-- local day): 25-35 ms for 400 electricity meters, ~20 ms for 300 water meters, growing
-- through the day. And icone_consumption looked up the last reading before the day in progress
-- register by register (one query of the real-time view each, 60-100 us under EXPLAIN ANALYZE:
-- 20-30 ms for 300-400 meters). Now icone_figure_parts reads a horizon group's daily rows
-- once, from a week before its horizon on (8 days cost ~3 ms more than today alone), into an
-- array of icone_daily_row, and hands it to icone_consumption (p_daily), which takes its
-- window's rows and each register's last row before the window from it (its own reads
-- otherwise: counters and interval metrics in one read). Same rows, same figures: only where
-- they are read from changes.
--
-- (measured as 0018) Per-row costs of a metered call with day or month buckets (at scale 1,
-- 300 water meters x 31 days: 9,300 rows per call, through icone_device_rows then
-- icone_metered).
--   * icone_device_rows summed its parts again per bucket, device and channel for the register
--     figures and the readings: the parts are one row per bucket, device and channel already
--     (icone_register_figures' GROUP BY), so only years are summed again; and it grouped them
--     three more times (which registers a device counts, its total, its most-read channel):
--     now one grouping per bucket and device gives its total registers' sum, its tariff
--     registers' sum and its most-read channel's readings;
--   * icone_metered counted the devices contributing to a scope's register with count(DISTINCT
--     dev_eui), a sort of the call's rows: a device has one row per bucket and register there,
--     so count(*) is the same number.
-- The functions are 0015's (icone_consumption, icone_figure_parts), 0013's (icone_device_rows,
-- icone_metered) and 0012's (icone_emissions) otherwise.

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

-- 0015's icone_figure_parts: months of a window cut at local days, and the live part's
-- daily rows read once (see the header). Whole months come from month rows from the
-- window's first whole month (whole_from) to the horizon's month or p_to's, whichever is
-- first (l.cut); the days of the window's first month before its first whole one, and
-- those from l.cut to the horizon, from day rows.
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

-- 0013's icone_device_rows, one grouping per bucket and device (see the header).
CREATE OR REPLACE FUNCTION icone_device_rows(p_metric text, p_from timestamptz, p_to timestamptz,
                                  p_bucket text, p_devs text[], p_site text DEFAULT NULL,
                                  p_figures boolean DEFAULT true,
                                  p_coverage boolean DEFAULT true)
RETURNS TABLE (bucket timestamptz, dev_eui text, register text, figure double precision,
               readings bigint, readings_expected double precision, days_with_data integer,
               days_expected integer)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan    -- as icone_figure_parts (0012)
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
    -- the one read of the cache and of the live rows: day parts for day buckets, month
    -- parts for months and years
    parts AS MATERIALIZED (
        SELECT f.bucket, f.dev_eui, f.channel, f.consumption, f.readings, f.days_with_data
        FROM icone_register_figures(p_metric, p_from, p_to,
                                    CASE p_bucket WHEN 'day' THEN 'day' ELSE 'month' END,
                                    p_devs, p_site, p_figures) f
    ),
    -- a register's class, once per channel name (three regular expressions)
    classes AS MATERIALIZED (
        SELECT x.channel, icone_register_class(p_metric, x.channel) AS cls
        FROM (SELECT DISTINCT c.channel FROM parts c) x
    ),
    -- per bucket, device and channel: the parts (one row each for day and month buckets),
    -- summed over the months for years
    chans AS NOT MATERIALIZED (
        SELECT c.bucket, c.dev_eui, c.channel, c.consumption AS q, c.readings AS n,
               c.days_with_data AS dd
        FROM parts c WHERE p_bucket <> 'year'
        UNION ALL
        SELECT icone_bucket_start('year', c.bucket), c.dev_eui, c.channel, sum(c.consumption),
               sum(c.readings), sum(c.days_with_data)
        FROM parts c WHERE p_bucket = 'year'
        GROUP BY 1, 2, 3
    ),
    -- per bucket and device, one grouping: its total registers' sum, its tariff registers'
    -- sum, and the readings and days of its most-read channel
    per_dev AS MATERIALIZED (
        SELECT c.bucket, c.dev_eui, sum(c.q) FILTER (WHERE k.cls = 'total') AS t,
               sum(c.q) FILTER (WHERE k.cls = 'tariff') AS f, max(c.n) AS n, max(c.dd) AS dd
        FROM chans c JOIN classes k ON k.channel = c.channel
        GROUP BY 1, 2
    ),
    -- a device counts its total register(s) when it has one in the window, else the sum of
    -- its tariff registers
    has_total AS (
        SELECT p.dev_eui, bool_or(p.t IS NOT NULL) AS t FROM per_dev p GROUP BY 1
    ),
    got AS (
        SELECT p.bucket, p.dev_eui, p.n, p.dd
        FROM per_dev p JOIN devs v ON v.dev_eui = p.dev_eui
        WHERE v.t0 <= p_from AND p_coverage
        UNION ALL
        -- installed inside the window: its readings from its installation day on
        SELECT x.bucket, x.dev_eui, max(x.n), max(x.dd)
        FROM (SELECT icone_bucket_start(p_bucket, f.bucket) AS bucket, f.dev_eui, f.channel,
                     sum(f.readings) AS n, sum(f.days_with_data) AS dd
              FROM devs v
              CROSS JOIN LATERAL icone_register_figures(p_metric,
                                                        icone_bucket_start('day', v.t0), p_to,
                                                        'day', ARRAY[v.dev_eui], NULL,
                                                        false) f
              WHERE v.t0 > p_from AND p_coverage
              GROUP BY 1, 2, 3) x
        GROUP BY 1, 2
    ),
    -- the buckets and their local days, once (not per device)
    buckets AS MATERIALIZED (
        SELECT b.bucket, b.bucket_end,
               ((b.bucket_end - interval '1 microsecond') AT TIME ZONE 'Europe/Paris')::date
               - (b.bucket AT TIME ZONE 'Europe/Paris')::date + 1 AS days
        FROM icone_buckets(p_bucket, p_from, p_to) b
        WHERE p_coverage
    ),
    grid AS (
        SELECT v.dev_eui, v.uplink_interval_s, b.bucket, b.bucket_end, b.days,
               greatest(b.bucket, v.t0) AS s0, least(b.bucket_end, v.t1) AS s1
        FROM devs v CROSS JOIN buckets b
    )
    SELECT x.bucket, x.dev_eui, 'total', x.q, NULL::bigint, NULL::double precision,
           NULL::integer, NULL::integer
    FROM (SELECT p.bucket, p.dev_eui, CASE WHEN h.t THEN p.t ELSE p.f END AS q
          FROM per_dev p JOIN has_total h ON h.dev_eui = p.dev_eui) x
    WHERE x.q IS NOT NULL AND p_figures
    UNION ALL
    SELECT c.bucket, c.dev_eui, c.channel, c.q, NULL, NULL, NULL, NULL
    FROM chans c JOIN classes k ON k.channel = c.channel
    WHERE k.cls = 'tariff' AND c.q IS NOT NULL AND p_figures
    UNION ALL
    SELECT g.bucket, g.dev_eui, NULL, NULL, coalesce(x.n, 0)::bigint,
           greatest(0, icone_epoch(g.s1) - icone_epoch(g.s0)) / g.uplink_interval_s,
           coalesce(x.dd, 0)::integer,
           CASE WHEN g.s0 = g.bucket AND g.s1 = g.bucket_end THEN g.days
                WHEN g.s1 > g.s0
                THEN ((g.s1 - interval '1 microsecond') AT TIME ZONE 'Europe/Paris')::date
                     - (g.s0 AT TIME ZONE 'Europe/Paris')::date + 1
                ELSE 0 END
    FROM grid g LEFT JOIN got x ON x.bucket = g.bucket AND x.dev_eui = g.dev_eui;
END $$;

-- 0013's icone_metered with p_partial and count(*) for the devices contributing (see the
-- header).
DROP FUNCTION icone_metered(text, timestamptz, timestamptz, text, text, text[]);

CREATE FUNCTION icone_metered(
    p_metric text, p_from timestamptz, p_to timestamptz, p_bucket text DEFAULT 'month',
    p_group text DEFAULT 'site', p_sites text[] DEFAULT NULL,
    p_partial boolean DEFAULT false    -- true: the window's ends cut at local days
)
RETURNS TABLE (bucket timestamptz, bucket_end timestamptz, scope text, register_name text,
               figure double precision, unit text, floor_area_m2 double precision,
               figure_per_m2 double precision, devices_contributing integer,
               devices_expected integer, readings bigint, readings_expected double precision,
               coverage double precision, gap_days integer, method text)
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
DECLARE
    w_from timestamptz;
    w_to   timestamptz;
    cat    text;
    devs   text[];
    one    text;
BEGIN
    PERFORM icone_check_period(p_bucket, p_from, p_to);
    IF p_group IS NULL OR p_group NOT IN ('site', 'site_kind', 'metropolis') THEN
        RAISE EXCEPTION 'indicators: group must be site, site_kind or metropolis, not %', p_group
            USING ERRCODE = '22023';
    END IF;
    cat := CASE p_metric WHEN 'energy_active_import_index' THEN 'energy'
                         WHEN 'water_volume_index' THEN 'water' END;
    IF cat IS NULL THEN
        RAISE EXCEPTION 'indicators: no metered indicator for metric %', p_metric
            USING ERRCODE = '22023';
    END IF;
    w_from := icone_bucket_start(CASE WHEN p_partial THEN 'day' ELSE p_bucket END, p_from);
    w_to := icone_bucket_ceil(CASE WHEN p_partial THEN 'day' ELSE p_bucket END, p_to);
    SELECT array_agg(d.dev_eui) INTO devs
    FROM devices d JOIN device_models m ON m.model = d.model
    WHERE m.category = cat AND d.status = 'active' AND d.site_id IS NOT NULL
      AND NOT icone_is_submeter(d.role) AND (p_sites IS NULL OR d.site_id = ANY (p_sites));
    IF devs IS NULL THEN
        RETURN;
    END IF;
    one := CASE WHEN cardinality(p_sites) = 1 THEN p_sites[1] END;

    RETURN QUERY
    WITH meters AS MATERIALIZED (
        SELECT d.dev_eui, d.site_id, s.floor_area_m2 AS area,
               CASE p_group WHEN 'site' THEN d.site_id WHEN 'site_kind' THEN s.kind
                            ELSE 'metropolis' END AS scope
        FROM devices d JOIN sites s ON s.id = d.site_id
        WHERE d.dev_eui = ANY (devs)
    ),
    dev_rows AS MATERIALIZED (
        SELECT r.* FROM icone_device_rows(p_metric, w_from, w_to, p_bucket, devs, one) r
    ),
    cov AS MATERIALIZED (
        SELECT c.bucket, m.scope, sum(least(c.readings, c.readings_expected)) AS got,
               sum(c.readings)::bigint AS readings, sum(c.readings_expected) AS expected,
               sum(c.days_expected - c.days_with_data)::integer AS gaps,
               count(*)::integer AS n_expected
        FROM dev_rows c
        JOIN meters m ON m.dev_eui = c.dev_eui
        WHERE c.register IS NULL
        GROUP BY 1, 2
    ),
    areas AS (
        SELECT a.scope, sum(a.area) AS area
        FROM (SELECT DISTINCT m.scope, m.site_id, m.area FROM meters m WHERE m.area IS NOT NULL) a
        GROUP BY 1
    ),
    sums AS (
        SELECT f.bucket, m.scope, f.register, sum(f.figure) AS figure,
               sum(f.figure) FILTER (WHERE m.area IS NOT NULL) AS with_area,
               count(*)::integer AS contributing    -- a device's row is one per register
        FROM dev_rows f JOIN meters m ON m.dev_eui = f.dev_eui
        WHERE f.register IS NOT NULL
        GROUP BY 1, 2, 3
    ),
    registers AS (
        SELECT DISTINCT s.scope, s.register FROM sums s
        UNION
        SELECT DISTINCT c.scope, 'total' FROM cov c
    ),
    -- each register's method and each bucket's end, once (not once per output row)
    methods AS MATERIALIZED (
        SELECT x.register,
               'sum over the ' || cat || ' meters of the scope (sub-meters it_load/cooling '
               || 'excluded) of icone_consumption (counter deltas spread pro rata of time, '
               || 'Europe/Paris ' || p_bucket || 's); a meter counts its total register, else '
               || 'the sum of its tariff registers; billing-period registers never'
               || CASE WHEN x.register <> 'total' THEN '; tariff register ' || x.register
                       ELSE '' END AS method
        FROM (SELECT DISTINCT r.register FROM registers r) x
    ),
    ends AS MATERIALIZED (
        SELECT b.bucket, b.bucket_end FROM icone_buckets(p_bucket, w_from, w_to) b
    )
    SELECT greatest(c.bucket, w_from), least(e.bucket_end, w_to), c.scope, r.register,
           s.figure, (SELECT k.unit FROM metric_kinds k WHERE k.metric = p_metric),
           a.area, s.with_area / a.area, coalesce(s.contributing, 0), c.n_expected,
           c.readings, c.expected, c.got / nullif(c.expected, 0), c.gaps, t.method
    FROM cov c
    JOIN ends e ON e.bucket = c.bucket
    JOIN registers r ON r.scope = c.scope
    JOIN methods t ON t.register = r.register
    LEFT JOIN sums s ON s.bucket = c.bucket AND s.scope = c.scope AND s.register = r.register
    LEFT JOIN areas a ON a.scope = c.scope
    WHERE r.register = 'total' OR s.figure IS NOT NULL
    ORDER BY 3, 1, (r.register <> 'total'), 4;
END $$;

-- 0012's icone_emissions, the months with one factor all month read by icone_metered's month
-- buckets over the window cut at local days (p_partial): a rolling year is one call.
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
               NOT EXISTS (
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
        CROSS JOIN LATERAL icone_metered('energy_active_import_index', s.s0, s.s1,
                                         CASE WHEN s.whole THEN 'month' ELSE 'day' END,
                                         p_group, p_sites, true) e
        WHERE e.register_name = 'total'
    )
    SELECT d.scope, min(d.bucket), max(d.bucket_end), sum(d.figure), sum(d.figure) * min(d.value),
           min(d.value), min(d.unit), d.id, min(d.source), min(d.source_id), min(d.year),
           sum(d.got) / nullif(sum(d.readings_expected), 0),
           CASE WHEN d.id IS NULL
                THEN 'no ' || p_energy || ' emission factor in force on these days: not computed'
                ELSE 'kWh (icone_energy: month buckets, or their days in the window, for the '
                     || 'months with one factor all month, day buckets otherwise) x the factor '
                     || 'in force on each of them' END
    FROM days d
    GROUP BY d.scope, d.id
    ORDER BY 1, 2
$$;
