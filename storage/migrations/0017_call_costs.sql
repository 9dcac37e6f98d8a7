-- 0017: two more per-call costs, same rows.
--   * icone_consumption (0016) found its devices with `dev_eui = ANY (p_devs)` tested on each
--     row of `devices`: 1,000 rows x 300 names, 7 ms a call at scale 1; now a hashed
--     `IN (SELECT unnest(p_devs))`.
--   * icone_metered (0013) built its method text and its bucket end (two time zone
--     conversions) on each output row: 1,550 rows for 30 days x 50 sites; now once per
--     register and once per bucket.

CREATE OR REPLACE FUNCTION icone_consumption(
    p_from    timestamptz,
    p_to      timestamptz,
    p_bucket  text DEFAULT 'day',
    p_site    text DEFAULT NULL,
    p_metric  text DEFAULT NULL,
    p_dev_eui text DEFAULT NULL,
    p_devs    text[] DEFAULT NULL    -- these devices only (NULL: any)
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

-- 0013's icone_metered, its methods and bucket ends computed once.
CREATE OR REPLACE FUNCTION icone_metered(
    p_metric text, p_from timestamptz, p_to timestamptz, p_bucket text DEFAULT 'month',
    p_group text DEFAULT 'site', p_sites text[] DEFAULT NULL
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
    w_from := icone_bucket_start(p_bucket, p_from);
    w_to := icone_bucket_ceil(p_bucket, p_to);
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
               count(DISTINCT f.dev_eui)::integer AS contributing
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
    SELECT c.bucket, e.bucket_end, c.scope, r.register,
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
