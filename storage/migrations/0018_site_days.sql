-- 0018: settled days and months kept per site. A metered indicator (energy or water,
-- icone_metered) summed, for every call, each meter's cached rows through icone_device_rows
-- (its total or tariff registers, its coverage) and then per scope: at scale 1, 300 water
-- meters x 30 days, ~50 ms of a 30-day call's ~90 for days whose answer cannot change until
-- a reading, a record or the registry does. Now:
--
--   icone_site_rows: icone_metered's first half, per bucket, site and register: the sums of
--       icone_device_rows over the site's meters (figure, meters with a figure, meters
--       expected, readings, expected readings, readings counted towards coverage, gap days).
--       icone_metered sums its rows per scope (the second half, as before).
--   site_day_cache: icone_site_rows by local day, and by local month, for the days (the
--       whole months) where every register of the site's meters is below its figure-cache
--       horizon (0012), written by icone_refresh_site_days after each figure-cache refresh;
--       site_day_horizon: per site and metric, the days [first_day, horizon) it holds (and
--       the months from first_day's to horizon's).
--   icone_metered with day or month buckets reads a site's held buckets from the cache when
--       the window starts inside what it holds, and calls icone_site_rows for the rest: the
--       day in progress and its month, and a partial first month (p_partial); one call per
--       group of sites sharing those bounds (usually one). Year buckets: computed, as before.
--
-- The cached rows are icone_site_rows' own output, so cached and computed answers are the
-- same figures (summed in another order for a scope of several sites: equal to ~1e-15
-- relative); tests/storage/test_figure_cache.py compares them, late rows, records and registry
-- changes included. A site's row depends on the site's meters (which devices, their status,
-- role, installation date, model and its uplink interval) and on their registers' cached
-- days; it can go stale in these ways only, each closed by a trigger:
--   * a register's cached days change (late rows, a technician's record: 0012's triggers move
--     its horizon back or empty it; a new register gets one): the site's horizon goes back as
--     far (trigger on figure_cache_horizon);
--   * the registry changes a device (site, status, role, installation date, model: inserted,
--     updated or deleted) or a model (category, uplink interval): the sites concerned lose
--     their horizon, the next refresh computes them again (triggers on devices and
--     device_models). These take the figure cache's advisory lock shared, as 0012's triggers
--     do: a refresh (exclusive) never writes site rows computed before a change it did not see;
--     a registry write waits for a refresh in progress (seconds, hourly).
--
-- One rule changes with this split: "a meter counts its total register, else the sum of its
-- tariff registers" is now decided per bucket (it was over the whole window), so that a
-- bucket's figure does not depend on the window it is asked in. The case it changes: a meter
-- whose total register starts or stops inside the window (a TIC reader switched from
-- "historique", BASE/HCHC/HCHP, to "standard", EAST + EASF..): its buckets without the total
-- register count its tariff registers instead of nothing.

-- The category of the meters of a metered metric (NULL: none).
CREATE FUNCTION icone_metered_category(p_metric text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_metric WHEN 'energy_active_import_index' THEN 'energy'
                         WHEN 'water_volume_index' THEN 'water' END
$$;

-- The meters of a metered indicator: active devices of the metric's category, with a site
-- (one of p_sites when given), that are not sub-meters. NULL: none.
CREATE FUNCTION icone_metered_devices(p_metric text, p_sites text[] DEFAULT NULL)
RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(d.dev_eui ORDER BY d.dev_eui)
    FROM devices d JOIN device_models m ON m.model = d.model
    WHERE m.category = icone_metered_category(p_metric) AND d.status = 'active'
      AND d.site_id IS NOT NULL AND NOT icone_is_submeter(d.role)
      AND (p_sites IS NULL OR d.site_id = ANY (p_sites))
$$;

-- 0016's icone_device_rows with its total-or-tariffs rule per bucket (see the header).
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
    -- a device counts its total register(s) in a bucket where it has one, else the sum of
    -- its tariff registers
    SELECT p.bucket, p.dev_eui, 'total', coalesce(p.t, p.f), NULL::bigint,
           NULL::double precision, NULL::integer, NULL::integer
    FROM per_dev p
    WHERE coalesce(p.t, p.f) IS NOT NULL AND p_figures
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

-- The first half of icone_metered (0016's cov and sums, per site instead of per scope): per
-- bucket, site and register, over the meters p_devs. The 'total' row of a bucket and site
-- carries its coverage (n_expected > 0); a tariff register's row only its figure.
CREATE FUNCTION icone_site_rows(p_metric text, p_from timestamptz, p_to timestamptz,
                                p_bucket text, p_devs text[], p_site text DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, site_id text, register text, figure double precision,
               contributing integer, n_expected integer, readings bigint,
               expected double precision, got double precision, gaps integer)
LANGUAGE sql STABLE SET jit = off AS $$
    SELECT r.bucket, d.site_id, coalesce(r.register, 'total'),
           sum(r.figure),
           count(r.figure)::integer,                -- a meter's figure row is one per register
           count(*) FILTER (WHERE r.register IS NULL)::integer,    -- one coverage row each
           sum(r.readings)::bigint, sum(r.readings_expected),
           sum(least(r.readings, r.readings_expected)),
           sum(r.days_expected - r.days_with_data)::integer
    FROM icone_device_rows(p_metric, p_from, p_to, p_bucket, p_devs, p_site) r
    JOIN devices d ON d.dev_eui = r.dev_eui
    GROUP BY 1, 2, 3
$$;

CREATE TABLE site_day_cache (
    metric       text NOT NULL,
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    span         text NOT NULL CHECK (span IN ('day', 'month')),
    bucket       timestamptz NOT NULL,     -- a local day's or month's start
    register     text NOT NULL,
    figure       double precision,
    contributing integer NOT NULL,
    n_expected   integer NOT NULL,
    readings     bigint,
    expected     double precision,
    got          double precision,
    gaps         integer,
    PRIMARY KEY (metric, site_id, span, bucket, register)
);

CREATE TABLE site_day_horizon (
    metric    text NOT NULL,
    site_id   text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    first_day timestamptz NOT NULL,        -- the cache holds every day in [first_day, horizon)
    horizon   timestamptz NOT NULL,        -- and every month in [first_day's, horizon's)
    PRIMARY KEY (metric, site_id)
);

GRANT SELECT ON site_day_cache, site_day_horizon TO icone_grafana;

-- A register's cached days from NEW.horizon on (all of them: '-infinity', when it is new to
-- the cache or leaves it) may change: so may its site's.
CREATE FUNCTION icone_forget_site_days()
RETURNS trigger LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    r record := CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    h timestamptz := CASE TG_OP WHEN 'UPDATE' THEN NEW.horizon ELSE '-infinity' END;
BEGIN
    UPDATE site_day_horizon s SET horizon = least(s.horizon, h)
    FROM devices d
    WHERE d.dev_eui = r.dev_eui AND s.site_id = d.site_id AND s.metric = r.metric
      AND s.horizon > h;
    RETURN NULL;
END $$;

CREATE TRIGGER figure_cache_horizon_forget_site_days
    AFTER INSERT OR DELETE ON figure_cache_horizon
    FOR EACH ROW EXECUTE FUNCTION icone_forget_site_days();
CREATE TRIGGER figure_cache_horizon_back_forget_site_days
    AFTER UPDATE ON figure_cache_horizon
    FOR EACH ROW WHEN (NEW.horizon < OLD.horizon) EXECUTE FUNCTION icone_forget_site_days();

-- The registry changed a device (its site, status, role, installation date or model) or a
-- model (its category or uplink interval): the sites concerned are computed again.
CREATE FUNCTION icone_forget_registry_site_days()
RETURNS trigger LANGUAGE plpgsql SET jit = off
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(icone_figure_cache_lock_key());
    IF TG_TABLE_NAME = 'device_models' THEN
        DELETE FROM site_day_horizon s
        USING devices d
        WHERE d.model = OLD.model AND s.site_id = d.site_id;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM site_day_horizon s WHERE s.site_id = OLD.site_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        DELETE FROM site_day_horizon s WHERE s.site_id = NEW.site_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER devices_forget_site_days AFTER INSERT OR DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION icone_forget_registry_site_days();
CREATE TRIGGER devices_update_forget_site_days
    AFTER UPDATE OF site_id, status, role, installed_at, model ON devices
    FOR EACH ROW
    WHEN (OLD.site_id IS DISTINCT FROM NEW.site_id OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.installed_at IS DISTINCT FROM NEW.installed_at OR OLD.model <> NEW.model)
    EXECUTE FUNCTION icone_forget_registry_site_days();
CREATE TRIGGER device_models_forget_site_days AFTER DELETE ON device_models
    FOR EACH ROW EXECUTE FUNCTION icone_forget_registry_site_days();
CREATE TRIGGER device_models_update_forget_site_days
    AFTER UPDATE OF category, uplink_interval_s ON device_models
    FOR EACH ROW
    WHEN (OLD.category <> NEW.category OR OLD.uplink_interval_s <> NEW.uplink_interval_s)
    EXECUTE FUNCTION icone_forget_registry_site_days();

-- Extends each site's cached days (and whole months) up to where all its meters' registers
-- are cached (their lowest figure-cache horizon; a site with a register not cached at all yet
-- waits), computing again from the start a site without a horizon; returns the rows written. Called by
-- storage.rollups.refresh_figure_cache after icone_refresh_figure_cache, in its transaction.
CREATE FUNCTION icone_refresh_site_days()
RETURNS bigint LANGUAGE plpgsql SET jit = off
AS $$
DECLARE
    g record;
    written bigint := 0;
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(icone_figure_cache_lock_key());
    DROP TABLE IF EXISTS _sd_work;
    CREATE TEMP TABLE _sd_work ON COMMIT DROP AS
    WITH meters AS (
        SELECT x.metric, d.site_id, d.dev_eui
        FROM unnest(ARRAY['energy_active_import_index', 'water_volume_index']) AS x (metric)
        CROSS JOIN LATERAL unnest(icone_metered_devices(x.metric)) AS v (dev_eui)
        JOIN devices d ON d.dev_eui = v.dev_eui
    ),
    -- per site: how far every register of its meters is cached, and their first cached day
    sites AS (
        SELECT m.metric, m.site_id, min(h.horizon) AS target, min(f.first_day) AS first_day
        FROM meters m
        LEFT JOIN (SELECT h.dev_eui, h.metric, min(h.horizon) AS horizon
                   FROM figure_cache_horizon h GROUP BY 1, 2) h
          ON h.dev_eui = m.dev_eui AND h.metric = m.metric
        CROSS JOIN LATERAL (SELECT min(c.bucket) AS first_day FROM figure_cache c
                            WHERE c.dev_eui = m.dev_eui AND c.metric = m.metric
                              AND c.span = 'day') f
        GROUP BY 1, 2
    )
    -- from the site's horizon on, or anew from its meters' first cached day
    SELECT m.metric, m.site_id, m.dev_eui, s.target,
           coalesce(nullif(x.horizon, '-infinity'), s.first_day) AS lo,
           x.horizon IS NULL OR x.horizon = '-infinity' AS anew
    FROM meters m
    JOIN sites s ON s.metric = m.metric AND s.site_id = m.site_id
    LEFT JOIN site_day_horizon x ON x.metric = m.metric AND x.site_id = m.site_id
    WHERE s.target > '-infinity';
    DELETE FROM _sd_work w WHERE w.lo IS NULL OR w.lo >= w.target;

    FOR g IN
        SELECT w.metric, w.lo, w.target, w.anew, array_agg(DISTINCT w.site_id) AS sites,
               array_agg(w.dev_eui) AS devs
        FROM _sd_work w
        GROUP BY 1, 2, 3, 4
    LOOP
        -- the days from lo on, and the months from lo's on that end before the target
        DELETE FROM site_day_cache c
        WHERE c.metric = g.metric AND c.site_id = ANY (g.sites)
          AND (g.anew OR c.bucket >= icone_bucket_start(c.span, g.lo));
        INSERT INTO site_day_cache (metric, site_id, span, bucket, register, figure,
                                    contributing, n_expected, readings, expected, got, gaps)
        SELECT g.metric, r.site_id, 'day', r.bucket, r.register, r.figure, r.contributing,
               r.n_expected, r.readings, r.expected, r.got, r.gaps
        FROM icone_site_rows(g.metric, g.lo, g.target, 'day', g.devs) r;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        IF icone_bucket_start('month', g.target) > icone_bucket_start('month', g.lo) THEN
            INSERT INTO site_day_cache (metric, site_id, span, bucket, register, figure,
                                        contributing, n_expected, readings, expected, got,
                                        gaps)
            SELECT g.metric, r.site_id, 'month', r.bucket, r.register, r.figure,
                   r.contributing, r.n_expected, r.readings, r.expected, r.got, r.gaps
            FROM icone_site_rows(g.metric, icone_bucket_start('month', g.lo),
                                 icone_bucket_start('month', g.target), 'month', g.devs) r;
            GET DIAGNOSTICS n = ROW_COUNT;
            written := written + n;
        END IF;
        INSERT INTO site_day_horizon AS x (metric, site_id, first_day, horizon)
        SELECT g.metric, s, g.lo, g.target FROM unnest(g.sites) AS s
        ON CONFLICT (metric, site_id) DO UPDATE
            SET first_day = CASE WHEN g.anew THEN excluded.first_day
                                 ELSE least(x.first_day, excluded.first_day) END,
                horizon = excluded.horizon;
    END LOOP;
    RETURN written;
END $$;

-- 0016's icone_metered: its meters from icone_metered_devices, its per-site sums from
-- icone_site_rows, for day and month buckets from site_day_cache where it holds them (see
-- the header); then per scope, as before (the method says the per-bucket rule).
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
    cat := icone_metered_category(p_metric);
    IF cat IS NULL THEN
        RAISE EXCEPTION 'indicators: no metered indicator for metric %', p_metric
            USING ERRCODE = '22023';
    END IF;
    w_from := icone_bucket_start(CASE WHEN p_partial THEN 'day' ELSE p_bucket END, p_from);
    w_to := icone_bucket_ceil(CASE WHEN p_partial THEN 'day' ELSE p_bucket END, p_to);
    devs := icone_metered_devices(p_metric, p_sites);
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
    site_scopes AS MATERIALIZED (
        SELECT DISTINCT m.site_id, m.scope, m.area FROM meters m
    ),
    -- each site's cached buckets [c_from, c_to): for day buckets its days from the window's
    -- start, for months its whole months from the window's first, when the window starts
    -- inside what it holds; none otherwise (c_from = c_to = w_from)
    cuts AS MATERIALIZED (
        SELECT x.site_id, x.c_from,
               CASE WHEN x.held THEN greatest(x.c_from, least(x.held_to, w_to))
                    ELSE x.c_from END AS c_to
        FROM (SELECT s.site_id, o.held,
                     CASE WHEN o.held AND p_bucket = 'month'
                          THEN least(icone_bucket_ceil('month', w_from), w_to)
                          ELSE w_from END AS c_from,
                     CASE p_bucket WHEN 'month' THEN icone_bucket_start('month', h.horizon)
                                   ELSE h.horizon END AS held_to
              FROM site_scopes s
              LEFT JOIN site_day_horizon h ON h.metric = p_metric AND h.site_id = s.site_id
              CROSS JOIN LATERAL (
                  SELECT coalesce(CASE p_bucket
                                      WHEN 'day' THEN h.first_day <= w_from
                                      WHEN 'month' THEN icone_bucket_start('month', h.first_day)
                                                        <= icone_bucket_ceil('month', w_from)
                                  END, false) AS held
              ) o) x
    ),
    -- what the cache does not hold, computed: before c_from (a partial first month) and
    -- from c_to on (the day in progress, its month), one call per group of sites
    segments AS (
        SELECT k.site_id, w_from AS s_from, k.c_from AS s_to FROM cuts k WHERE k.c_from > w_from
        UNION ALL
        SELECT k.site_id, k.c_to, w_to FROM cuts k WHERE k.c_to < w_to
    ),
    site_rows AS MATERIALIZED (
        SELECT c.bucket, c.site_id, c.register, c.figure, c.contributing, c.n_expected,
               c.readings, c.expected, c.got, c.gaps
        FROM cuts k
        JOIN site_day_cache c
          ON c.metric = p_metric AND c.site_id = k.site_id AND c.span = p_bucket
         AND c.bucket >= k.c_from AND c.bucket < k.c_to
        UNION ALL
        SELECT r.bucket, r.site_id, r.register, r.figure, r.contributing, r.n_expected,
               r.readings, r.expected, r.got, r.gaps
        FROM (SELECT g.s_from, g.s_to, array_agg(m.dev_eui) AS devs
              FROM segments g JOIN meters m ON m.site_id = g.site_id
              GROUP BY 1, 2) g
        CROSS JOIN LATERAL icone_site_rows(p_metric, g.s_from, g.s_to, p_bucket, g.devs,
                                           one) r
    ),
    scoped AS MATERIALIZED (
        SELECT r.bucket, s.scope, r.register, sum(r.figure) AS figure,
               sum(r.figure) FILTER (WHERE s.area IS NOT NULL) AS with_area,
               sum(r.contributing)::integer AS contributing,
               sum(r.n_expected)::integer AS n_expected, sum(r.readings)::bigint AS readings,
               sum(r.expected) AS expected, sum(r.got) AS got, sum(r.gaps)::integer AS gaps
        FROM site_rows r JOIN site_scopes s ON s.site_id = r.site_id
        GROUP BY 1, 2, 3
    ),
    areas AS (
        SELECT a.scope, sum(a.area) AS area
        FROM site_scopes a WHERE a.area IS NOT NULL
        GROUP BY 1
    ),
    -- each register's method and each bucket's end, once (not once per output row)
    methods AS MATERIALIZED (
        SELECT x.register,
               'sum over the ' || cat || ' meters of the scope (sub-meters it_load/cooling '
               || 'excluded) of icone_consumption (counter deltas spread pro rata of time, '
               || 'Europe/Paris ' || p_bucket || 's); a meter counts, per ' || p_bucket
               || ', its total register, else the sum of its tariff registers; '
               || 'billing-period registers never'
               || CASE WHEN x.register <> 'total' THEN '; tariff register ' || x.register
                       ELSE '' END AS method
        FROM (SELECT DISTINCT r.register FROM scoped r) x
    ),
    ends AS MATERIALIZED (
        SELECT b.bucket, b.bucket_end FROM icone_buckets(p_bucket, w_from, w_to) b
    )
    -- a bucket and scope: its total row (its coverage), then its tariff registers' rows
    SELECT greatest(c.bucket, w_from), least(e.bucket_end, w_to), c.scope, r.register,
           r.figure, (SELECT k.unit FROM metric_kinds k WHERE k.metric = p_metric),
           a.area, r.with_area / a.area, r.contributing, c.n_expected,
           c.readings, c.expected, c.got / nullif(c.expected, 0), c.gaps, t.method
    FROM scoped c
    JOIN ends e ON e.bucket = c.bucket
    JOIN scoped r
      ON r.bucket = c.bucket AND r.scope = c.scope
     AND (r.register = 'total' OR r.figure IS NOT NULL)
    JOIN methods t ON t.register = r.register
    LEFT JOIN areas a ON a.scope = c.scope
    WHERE c.register = 'total' AND c.n_expected > 0
    ORDER BY 3, 1, (r.register <> 'total'), 4;
END $$;
