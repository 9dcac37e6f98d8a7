-- 0016: the emissions of a year in one energy computation. icone_emissions (0012) read the
-- months with one emission factor all month as month buckets, but the partial months at the
-- ends of a window that does not start on the 1st (the last 365 days, say) as day buckets:
-- three icone_energy calls for a rolling year, each reading the cache and its coverage (at
-- scale 1: 67 ms for the first partial month's ~25 days x 400 meters, 38 ms for the whole
-- months, 75-100 ms for the last one with the day in progress). Now:
--   * icone_figure_parts takes month buckets over a window cut at local days: a partial
--     month is the sum of its cached days in the window (labelled with the month's start,
--     as every month part), the whole months are month rows;
--   * icone_metered gets p_partial: the window is cut at local days instead of widened to
--     whole buckets, and the first and last buckets it returns start and end where the
--     window does (without p_partial, as before: the window is whole buckets, so the bounds
--     are the buckets'). Its coverage already counts a bucket's part in the window;
--   * icone_emissions reads every month with one factor all month, partial ones included, as
--     one month bucket (one icone_metered call for a rolling year); a month in which a factor
--     starts or ends is still read by day.
-- The other functions are 0015's (icone_figure_parts), 0013's (icone_metered) and 0012's
-- (icone_emissions) otherwise.

-- 0015's icone_figure_parts; months of a window cut at local days (see the header). Whole
-- months come from month rows from the window's first whole month (whole_from) to the
-- horizon's month or p_to's, whichever is first (l.cut); the days of the window's first
-- month before its first whole one, and those from l.cut to the horizon, from day rows.
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
    lo timestamptz;          -- the lowest live start
    whole_from timestamptz;  -- the first whole bucket of the window
    g record;
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

    -- the figures from the horizon on: one icone_consumption call per horizon, for the
    -- devices that share it (p_site no longer needed to narrow it)
    FOR g IN
        SELECT l.live_from, array_agg(l.dev_eui) AS devs
        FROM unnest(l_dev, l_from) AS l (dev_eui, live_from)
        WHERE l.live_from < p_to
        GROUP BY 1
    LOOP
        RETURN QUERY
        SELECT icone_bucket_start(p_bucket, c.bucket), c.dev_eui, c.channel, c.consumption,
               0::bigint, 0
        FROM icone_consumption(g.live_from, p_to, 'day', NULL, p_metric, NULL, g.devs) c;
    END LOOP;
END $$;

-- 0013's icone_metered with p_partial (see the header).
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
