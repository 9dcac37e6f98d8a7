-- 0018: per-row costs of a metered call with day or month buckets (at scale 1, 300 water
-- meters x 31 days: 9,300 rows per call, through icone_device_rows then icone_metered).
--   * icone_device_rows summed its parts again per bucket, device and channel for the
--     register figures and the readings: the parts are one row per bucket, device and
--     channel already (icone_register_figures' GROUP BY), so only years are summed again;
--     and it grouped them three more times (which registers a device counts, its total,
--     its most-read channel): now one grouping per bucket and device gives its total
--     registers' sum, its tariff registers' sum and its most-read channel's readings;
--   * icone_metered counted the devices contributing to a scope's register with
--     count(DISTINCT dev_eui), a sort of the call's rows: a device has one row per bucket and
--     register there, so count(*) is the same number.
-- The functions are 0013's (icone_device_rows) and 0016's (icone_metered) otherwise.

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

-- 0016's icone_metered, count(*) for the devices contributing (see the header).
CREATE OR REPLACE FUNCTION icone_metered(
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
