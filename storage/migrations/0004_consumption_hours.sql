-- 0004: icone_consumption, cheaper for hour buckets (issue #5: the night-flow query at scale 1).
--
-- Same signature and same figures as 0002 (whose header comment defines them: swaps,
-- rollovers, resets, gaps, late data, DST). Day and month buckets run 0002's statement minus
-- its hour branches. Hour buckets now run their own statements, because 0002's hour path cost
-- ~85 ms per call for 300 water meters at scale 1 (auto_explain), spent on:
--  * raw points read with `dev_eui = ANY (every device of the site)`: one probe of the
--    (dev_eui, metric, channel, time) index per device, and with metric and channel unbound
--    the time range is only a filter inside the index, so each probe walked the device's whole
--    chunk (~700 entries for 16 wanted): 35 ms. Now one exact index range per register found
--    in the day rows (a LATERAL kept from being pulled up into a join): 5 ms.
--  * the edge readings (the nearest before and after the window, however old): a LIMIT 1
--    lookup each side per register through every chunk of the hypertable. Starting the plan
--    of the "before" lookup initialises every chunk, compressed ones included (~10 ms per
--    call even when little is read). Now the raw readings are read over the window widened
--    by `reach` (30 minutes) each side, which holds the edge readings of nearly every
--    register; for the others only, they are looked for within `margin` (1 day) of the
--    window, where the scan starts on the chunks near the window only, then over the whole
--    history, each in a statement run only when some register needs it (600 lookups,
--    ~8 ms, replaced by ~2 ms of extra raw readings).
--  * the registers (those with a day row from the window's first day on): one probe of the
--    daily aggregate per device, 7 ms for the 1,000 devices of the fleet. Above
--    `fleet_probe_limit` devices, one probe per metric instead: 0.5 ms.
--  * branches of the other bucket kinds: 0002 ran one statement for all buckets, so every
--    call started the plans of branches it would never run (for day and month, the hour
--    path's edge lookup over every chunk older than the window). Each path now has its
--    own statement: monthly energy per site 26 -> 24 ms, daily water 10 -> 7.5 ms at scale 1.
-- Per night-flow call (300 meters, 4 hours) ~85 -> ~22 ms. Same figures as 0002 on the
-- scale-1 bench database, compared byte for byte (hour, day and month, sites and fleet).

-- The consumption between two consecutive readings of a register (0002's rule, written once
-- for both statements below): value >= previous -> the difference; a drop of more than half
-- the register's modulus -> a rollover (6/8/9-digit registers); otherwise an unrecorded reset
-- or replacement, the register restarted at 0 -> the value. A one-expression SQL function:
-- the planner inlines it, no call per row.
CREATE FUNCTION icone_counter_delta(v0 double precision, v double precision,
                                    modulus double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN v >= v0 THEN v - v0
                WHEN modulus IS NOT NULL AND v0 - v > modulus / 2 THEN v + modulus - v0
                ELSE v
           END
$$;

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
    -- hour buckets: how far from the window the edge readings are looked for first
    margin    constant interval := interval '1 day';
    fleet_probe_limit constant integer := 100;
    r_dev     text[];    -- registers (device, metric, channel), numbered by position
    r_metric  text[];
    r_channel text[];
    -- hour buckets: how far beyond the window the raw readings are read (step 2). Two
    -- readings of a 15-minute meter each side; wider costs more than the lookups it saves
    -- (night flow at scale 1, min of 80 runs: 2 hours 58.6 ms, 1 hour 50.9, 30 min 47.7,
    -- lookups for every register 55.5)
    reach     constant interval := interval '30 minutes';
    pt_reg    integer[];    -- those readings: register, time, value
    pt_t      timestamptz[];
    pt_v      double precision[];
    miss_before integer[];    -- registers with no reading in the reach before the window
    miss_after  integer[];    -- and after it
    before_t  timestamptz[];    -- their edge readings, by position in miss_before / after
    before_v  double precision[];
    after_t   timestamptz[];
    after_v   double precision[];
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

    IF p_bucket = 'hour' THEN
        -- hour buckets: the same points, deltas and shares as the day/month statement below,
        -- but read per register, in steps (see the header). 1. the registers.
        IF cardinality(devs) <= fleet_probe_limit THEN
            SELECT coalesce(array_agg(s.dev_eui), '{}'), coalesce(array_agg(s.metric), '{}'),
                   coalesce(array_agg(s.channel), '{}')
              INTO r_dev, r_metric, r_channel
            FROM (SELECT DISTINCT a.dev_eui, a.metric, a.channel
                  FROM measurements_daily a
                  WHERE a.dev_eui = ANY (devs) AND a.metric = ANY (counters)
                    AND a.bucket >= d_from) s;
        ELSE
            -- many devices (the whole fleet): one probe per metric instead of one per device
            SELECT coalesce(array_agg(s.dev_eui), '{}'), coalesce(array_agg(s.metric), '{}'),
                   coalesce(array_agg(s.channel), '{}')
              INTO r_dev, r_metric, r_channel
            FROM (SELECT DISTINCT a.dev_eui, a.metric, a.channel
                  FROM measurements_daily a
                  WHERE a.metric = ANY (counters) AND a.bucket >= d_from) s
            JOIN unnest(devs) AS d (dev_eui) ON d.dev_eui = s.dev_eui;
        END IF;
        -- 2. the raw readings of the window widened by `reach` on both sides, one exact index
        -- range per register, kept in arrays for the two statements that use them: most
        -- edge readings (the last before the window, the first at/after its end) are among
        -- them, so only the registers with none in the reach need the lookups of step 3.
        -- The extra readings only add deltas outside the window, which step 4's filter
        -- (`l.t >= w_from AND l.t0 < w_to`) drops: same figures.
        WITH p AS MATERIALIZED (
            SELECT s.reg::integer AS reg, r.t, r.v
            FROM unnest(r_dev, r_metric, r_channel) WITH ORDINALITY
                 AS s (dev_eui, metric, channel, reg)
            CROSS JOIN LATERAL (
                SELECT m.time AS t, m.value AS v FROM measurements m
                WHERE m.dev_eui = s.dev_eui AND m.metric = s.metric AND m.channel = s.channel
                  AND m.time >= w_from - reach AND m.time < w_to + reach
                OFFSET 0    -- kept a lateral scan: as a join it read every device's rows
            ) r
        )
        -- (one pass over them for the arrays, one for the registers missing an edge)
        SELECT a.reg, a.t, a.v, b.miss_before, b.miss_after
        FROM (SELECT coalesce(array_agg(p.reg), '{}') AS reg, coalesce(array_agg(p.t), '{}') AS t,
                     coalesce(array_agg(p.v), '{}') AS v
              FROM p) a,
             (SELECT coalesce(array_agg(s.reg) FILTER (WHERE x.has_before IS NOT TRUE), '{}')
                         AS miss_before,
                     coalesce(array_agg(s.reg) FILTER (WHERE x.has_after IS NOT TRUE), '{}')
                         AS miss_after
              FROM generate_subscripts(r_dev, 1) s (reg)
              LEFT JOIN (SELECT p.reg, bool_or(p.t < w_from) AS has_before,
                                bool_or(p.t >= w_to) AS has_after
                         FROM p GROUP BY p.reg) x ON x.reg = s.reg) b
          INTO pt_reg, pt_t, pt_v, miss_before, miss_after;
        -- 3. the edge readings of the registers with none in the reach: within `margin` of
        -- the window first (those scans start on the chunks near the window only), then
        -- beyond it, however old (or new), for those still without. Statements of their own,
        -- run only when some register needs them: starting a scan of every chunk costs
        -- ~10 ms at scale 1 even when it reads nothing. Results by position in miss_*.
        IF cardinality(miss_before) > 0 THEN
            SELECT array_agg(b.t ORDER BY s.i), array_agg(b.v ORDER BY s.i)
              INTO before_t, before_v
            FROM unnest(miss_before) WITH ORDINALITY AS s (reg, i)
            LEFT JOIN LATERAL (
                SELECT m.time AS t, m.value AS v FROM measurements m
                WHERE m.dev_eui = r_dev[s.reg] AND m.metric = r_metric[s.reg]
                  AND m.channel = r_channel[s.reg]
                  AND m.time >= w_from - margin AND m.time < w_from
                ORDER BY m.time DESC LIMIT 1
            ) b ON true;
            IF array_position(before_t, NULL) IS NOT NULL THEN
                SELECT array_agg(coalesce(before_t[s.i], b.t) ORDER BY s.i),
                       array_agg(coalesce(before_v[s.i], b.v) ORDER BY s.i)
                  INTO before_t, before_v
                FROM unnest(miss_before) WITH ORDINALITY AS s (reg, i)
                LEFT JOIN LATERAL (
                    SELECT m.time AS t, m.value AS v FROM measurements m
                    WHERE before_t[s.i] IS NULL
                      AND m.dev_eui = r_dev[s.reg] AND m.metric = r_metric[s.reg]
                      AND m.channel = r_channel[s.reg]
                      AND m.time < w_from - margin
                    ORDER BY m.time DESC LIMIT 1
                ) b ON true;
            END IF;
        END IF;
        IF cardinality(miss_after) > 0 THEN
            SELECT array_agg(a.t ORDER BY s.i), array_agg(a.v ORDER BY s.i)
              INTO after_t, after_v
            FROM unnest(miss_after) WITH ORDINALITY AS s (reg, i)
            LEFT JOIN LATERAL (
                SELECT m.time AS t, m.value AS v FROM measurements m
                WHERE m.dev_eui = r_dev[s.reg] AND m.metric = r_metric[s.reg]
                  AND m.channel = r_channel[s.reg]
                  AND m.time >= w_to AND m.time < w_to + margin
                ORDER BY m.time ASC LIMIT 1
            ) a ON true;
            IF array_position(after_t, NULL) IS NOT NULL THEN
                SELECT array_agg(coalesce(after_t[s.i], a.t) ORDER BY s.i),
                       array_agg(coalesce(after_v[s.i], a.v) ORDER BY s.i)
                  INTO after_t, after_v
                FROM unnest(miss_after) WITH ORDINALITY AS s (reg, i)
                LEFT JOIN LATERAL (
                    SELECT m.time AS t, m.value AS v FROM measurements m
                    WHERE after_t[s.i] IS NULL
                      AND m.dev_eui = r_dev[s.reg] AND m.metric = r_metric[s.reg]
                      AND m.channel = r_channel[s.reg]
                      AND m.time >= w_to + margin
                    ORDER BY m.time ASC LIMIT 1
                ) a ON true;
            END IF;
        END IF;
        -- 4. the figures
        RETURN QUERY
        WITH series AS MATERIALIZED (
            SELECT s.dev_eui, s.metric, s.channel, s.reg::integer AS reg, r.modulus
            FROM unnest(r_dev, r_metric, r_channel) WITH ORDINALITY
                 AS s (dev_eui, metric, channel, reg)
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
        points AS (
            -- the raw readings of the widened window (step 2)...
            SELECT p.reg, p.t, p.v, 2 AS k, false AS cut
            FROM unnest(pt_reg, pt_t, pt_v) AS p (reg, t, v)
            UNION ALL
            -- ...the edge readings found beyond it (step 3)...
            SELECT e.reg, e.t, e.v, 2, false
            FROM unnest(miss_before, before_t, before_v) AS e (reg, t, v)
            WHERE e.t IS NOT NULL
            UNION ALL
            SELECT e.reg, e.t, e.v, 2, false
            FROM unnest(miss_after, after_t, after_v) AS e (reg, t, v)
            WHERE e.t IS NOT NULL
            UNION ALL
            -- ...and the technician's records
            SELECT m.reg, m.t, m.v, m.k, m.cut FROM marks m
        ),
        deltas AS (
            SELECT l.reg, l.t0, l.t, l.delta, icone_bucket_start('hour', l.t0) AS b0,
                   CASE WHEN l.t > l.t0
                        THEN icone_bucket_start('hour', l.t - interval '1 microsecond')
                        ELSE icone_bucket_start('hour', l.t0) END AS b1
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
            -- a delta within one hour goes to it whole (the usual case)...
            SELECT d.reg, d.b0 AS b, d.delta AS q
            FROM deltas d
            WHERE d.b0 = d.b1
            UNION ALL
            -- ...one spanning hours is spread over them pro rata of time
            SELECT d.reg, g.b,
                   d.delta * (icone_epoch(least(d.t, g.b + interval '1 hour'))
                              - icone_epoch(greatest(d.t0, g.b)))
                           / (icone_epoch(d.t) - icone_epoch(d.t0))
            FROM deltas d
            CROSS JOIN LATERAL generate_series(d.b0, d.b1, interval '1 hour') g (b)
            WHERE d.b0 <> d.b1
        ),
        totals AS (
            SELECT s.dev_eui, s.metric, s.channel, x.b, x.q
            FROM (SELECT sh.reg, sh.b, sum(sh.q) AS q FROM shares sh
                  WHERE sh.b >= w_from AND sh.b < w_to GROUP BY sh.reg, sh.b) x
            JOIN series s ON s.reg = x.reg
            UNION ALL
            SELECT m.dev_eui, m.metric, m.channel, icone_bucket_start('hour', m.time),
                   sum(m.value)
            FROM measurements m
            WHERE m.dev_eui = ANY (devs) AND m.metric = ANY (intervals)
              AND m.time >= w_from AND m.time < w_to
            GROUP BY 1, 2, 3, 4
        )
        SELECT x.b, x.dev_eui, d.site_id, x.metric, x.channel, x.q, k.unit
        FROM totals x
        JOIN devices d ON d.dev_eui = x.dev_eui
        JOIN metric_kinds k ON k.metric = x.metric
        ORDER BY x.dev_eui, x.metric, x.channel, x.b;
        RETURN;
    END IF;

    -- day and month buckets: 0002's statement without its hour-only branches (same figures)
    RETURN QUERY
    WITH day_rows AS MATERIALIZED (
        SELECT a.dev_eui, a.metric, a.channel, a.bucket, a.first_t, a.first_v, a.last_t,
               a.last_v, a.min_v, a.max_v
        FROM measurements_daily a
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
            SELECT a.last_t, a.last_v FROM measurements_daily a
            WHERE a.dev_eui = s.dev_eui AND a.metric = s.metric AND a.channel = s.channel
              AND a.bucket < w_from
            ORDER BY a.bucket DESC LIMIT 1
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
        FROM measurements_daily a
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
