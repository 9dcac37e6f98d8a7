-- 0014: icone_device_rows (0013) with its per-row costs cut, same rows. Measured on the
-- scale-1 benchmark (TimescaleDB, 300 water meters x 31 days = 9,300 rows per call): after
-- the figures themselves, most of a call went to per-row function calls (time zone
-- conversions for buckets and local days, three regular expressions for the register
-- class). Now: the register class once per channel name, the bucket of a day or month part
-- taken as it is (parts are already days or months; only years are bucketed), and each
-- bucket's local days counted once instead of once per device (a device's own count only
-- where its installation or now() cuts the bucket).

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
    regs AS MATERIALIZED (
        SELECT CASE p_bucket WHEN 'year' THEN icone_bucket_start('year', c.bucket)
                             ELSE c.bucket END AS bucket,    -- parts are days or months
               c.dev_eui, c.channel, k.cls, sum(c.consumption) AS q
        FROM parts c JOIN classes k ON k.channel = c.channel
        WHERE c.consumption IS NOT NULL AND p_figures
        GROUP BY 1, 2, 3, 4
    ),
    has_total AS (
        SELECT r.dev_eui, bool_or(r.cls = 'total') AS t FROM regs r GROUP BY 1
    ),
    per_channel AS (
        SELECT CASE p_bucket WHEN 'year' THEN icone_bucket_start('year', f.bucket)
                             ELSE f.bucket END AS bucket,
               f.dev_eui, f.channel, sum(f.readings) AS n, sum(f.days_with_data) AS dd
        FROM parts f JOIN devs v ON v.dev_eui = f.dev_eui
        WHERE v.t0 <= p_from AND p_coverage
        GROUP BY 1, 2, 3
        UNION ALL
        -- installed inside the window: its readings from its installation day on
        SELECT icone_bucket_start(p_bucket, f.bucket), f.dev_eui, f.channel, sum(f.readings),
               sum(f.days_with_data)
        FROM devs v
        CROSS JOIN LATERAL icone_register_figures(p_metric, icone_bucket_start('day', v.t0),
                                                  p_to, 'day', ARRAY[v.dev_eui], NULL,
                                                  false) f
        WHERE v.t0 > p_from AND p_coverage
        GROUP BY 1, 2, 3
    ),
    got AS (
        SELECT c.bucket, c.dev_eui, max(c.n) AS n, max(c.dd) AS dd
        FROM per_channel c GROUP BY 1, 2
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
    SELECT r.bucket, r.dev_eui, 'total', sum(r.q), NULL::bigint, NULL::double precision,
           NULL::integer, NULL::integer
    FROM regs r JOIN has_total h ON h.dev_eui = r.dev_eui
    WHERE r.cls = CASE WHEN h.t THEN 'total' ELSE 'tariff' END
    GROUP BY 1, 2
    UNION ALL
    SELECT r.bucket, r.dev_eui, r.channel, r.q, NULL, NULL, NULL, NULL
    FROM regs r WHERE r.cls = 'tariff'
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
