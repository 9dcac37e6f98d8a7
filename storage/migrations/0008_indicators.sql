-- 0008 indicators: the figures of the energy managers' boards, the strategy dashboard and the
-- open-data export (docs/indicators.md). Every figure is computed here, once, on top of
-- icone_consumption (the only consumption rule); the API and Grafana only select from these
-- functions. Each figure comes with its unit, its period, its method and its coverage:
--   readings / readings_expected: readings present against the catalogue's uplink interval
--     (coverage = sum over devices of least(readings, expected) / sum of expected),
--   devices_contributing / devices_expected: devices with a figure / devices that should have one,
--   gap_days: device-days (Europe/Paris) of the period without any reading.
-- Periods are [bucket, bucket_end) in Europe/Paris local time (day, month or year).

-- The catalogue's facts SQL needs (hardware/catalogue/*.yaml, synced by
-- storage.indicators.sync_device_models on `icone migrate`, the demo and maintenance).
CREATE TABLE device_models (
    model             text PRIMARY KEY,
    category          text NOT NULL,                 -- water | energy | climate
    uplink_interval_s integer NOT NULL CHECK (uplink_interval_s > 0),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Where a datacenter's IT energy is metered: the measurement category PUE must state
-- (The Green Grid: 1 = UPS output, 2 = PDU output, 3 = IT equipment input; ISO/IEC 30134-2
-- basic / intermediate / advanced).
CREATE TABLE datacenter_metering (
    site_id  text PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    category smallint NOT NULL CHECK (category BETWEEN 1 AND 3),
    note     text NOT NULL DEFAULT ''
);

-- ASHRAE TC 9.9 envelopes at the IT equipment inlet, as data (limits NULL = no limit).
CREATE TABLE ashrae_envelopes (
    name      text PRIMARY KEY,
    t_min     double precision NOT NULL,
    t_max     double precision NOT NULL,
    rh_min    double precision,
    rh_max    double precision,
    dp_min    double precision,
    dp_max    double precision,
    source    text NOT NULL
);
INSERT INTO ashrae_envelopes VALUES
    ('recommended', 18, 27, NULL, 60, 5.5, 15,
     'ASHRAE TC 9.9 recommended envelope (classes A1-A4): 18-27 °C dry bulb; humidity '
     || '5.5-15 °C dew point and <= 60 % RH (2008 edition)'),
    ('A1', 15, 32, 8, 80, -12, 17,
     'ASHRAE TC 9.9 allowable envelope, class A1: 15-32 °C dry bulb, 8-80 % RH, '
     || 'dew point -12 to 17 °C');

-- Device roles that meter part of a site already counted by its main meter (a datacenter's
-- IT load and cooling are inside its facility_total): never added to the site's energy.
CREATE FUNCTION icone_is_submeter(p_role text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(p_role IN ('it_load', 'cooling', 'submeter'), false)
$$;

-- What a counter channel of a meter is (decoders/adeunis.py, TIC labels):
--   tariff: one register per tariff period (BASE; HCHC/HCHP; TIC standard EASF01-10), their
--           sum is the meter's total;
--   period: a billing-period register (PME-PMI EAP_s, EaP-1_s) or a distributor register
--           (EASD01-04): restarts every period or duplicates the supplier's; never summed;
--   total:  everything else (a whole-meter index: '', EA_s, pulse inputs).
CREATE FUNCTION icone_register_class(p_metric text, p_channel text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_channel IN ('BASE', 'HCHC', 'HCHP') OR p_channel ~ '^EASF[0-9]{2}$' THEN 'tariff'
        WHEN p_channel ~ '^(EAP_s|EaP-1_s|ER[+-]P(-1)?_s)$' OR p_channel ~ '^EASD[0-9]{2}$'
            THEN 'period'
        ELSE 'total'
    END
$$;

-- Dew point (°C) from dry bulb (°C) and relative humidity (%), Magnus formula with
-- Sonntag's constants (a = 17.62, b = 243.12 °C; within 0.1 °C from -45 to 60 °C).
CREATE FUNCTION icone_dew_point(p_t double precision, p_rh double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_rh > 0 THEN
        243.12 * (ln(p_rh / 100) + 17.62 * p_t / (243.12 + p_t))
        / (17.62 - (ln(p_rh / 100) + 17.62 * p_t / (243.12 + p_t)))
    END
$$;

-- Local period boundaries: every bucket start in [p_from, p_to) (day, month or year).
CREATE FUNCTION icone_buckets(p_bucket text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, bucket_end timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT l AT TIME ZONE 'Europe/Paris',
           (l + ('1 ' || p_bucket)::interval) AT TIME ZONE 'Europe/Paris'
    FROM generate_series(icone_bucket_start(p_bucket, p_from) AT TIME ZONE 'Europe/Paris',
                         (p_to AT TIME ZONE 'Europe/Paris') - interval '1 microsecond',
                         ('1 ' || p_bucket)::interval) AS l
$$;

-- The arguments every bucketed indicator takes; a bad one is SQLSTATE 22023 (API: 422).
CREATE FUNCTION icone_check_period(p_bucket text, p_from timestamptz, p_to timestamptz)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_bucket IS NULL OR p_bucket NOT IN ('day', 'month', 'year') THEN
        RAISE EXCEPTION 'indicators: bucket must be day, month or year, not %', p_bucket
            USING ERRCODE = '22023';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'indicators: empty or open window [%, %)', p_from, p_to
            USING ERRCODE = '22023';
    END IF;
END $$;

-- Coverage of `p_metric` readings per bucket and device: readings present (per local day, the
-- most readings of any channel: one uplink carries every channel), readings expected
-- (seconds of the bucket within [installed_at, now()) / the model's uplink interval; NULL
-- when the model is not in the catalogue), days with a reading, days expected. Counts whole
-- local days (measurements_daily_current, 0006: late readings count at once, as in
-- icone_consumption).
CREATE FUNCTION icone_coverage(p_from timestamptz, p_to timestamptz, p_bucket text,
                               p_devs text[], p_metric text)
RETURNS TABLE (bucket timestamptz, dev_eui text, readings bigint,
               readings_expected double precision, days_with_data integer,
               days_expected integer)
LANGUAGE sql STABLE AS $$
    WITH devs AS (
        SELECT d.dev_eui, m.uplink_interval_s,
               greatest(p_from, coalesce(d.installed_at, p_from)) AS t0,
               least(p_to, now()) AS t1
        FROM devices d LEFT JOIN device_models m ON m.model = d.model
        WHERE d.dev_eui = ANY (p_devs)
    ),
    days AS (
        SELECT b.bucket AS day, b.bucket_end AS day_end FROM icone_buckets('day', p_from, p_to) b
    ),
    daily AS (
        SELECT a.dev_eui, a.bucket AS day, max(a.n) AS n
        FROM measurements_daily_current a
        WHERE a.dev_eui = ANY (p_devs) AND a.metric = p_metric
          AND a.bucket >= icone_bucket_start('day', p_from) AND a.bucket < p_to
        GROUP BY 1, 2
    ),
    grid AS (
        SELECT dv.dev_eui, dv.uplink_interval_s, dy.day, da.n,
               greatest(0, icone_epoch(least(dy.day_end, dv.t1))
                           - icone_epoch(greatest(dy.day, dv.t0))) AS seconds
        FROM devs dv CROSS JOIN days dy
        LEFT JOIN daily da ON da.dev_eui = dv.dev_eui AND da.day = dy.day
    )
    SELECT icone_bucket_start(p_bucket, g.day), g.dev_eui,
           coalesce(sum(g.n) FILTER (WHERE g.seconds > 0), 0)::bigint,
           sum(g.seconds) / min(g.uplink_interval_s),
           count(g.n) FILTER (WHERE g.seconds > 0)::integer,
           count(*) FILTER (WHERE g.seconds > 0)::integer
    FROM grid g
    GROUP BY 1, 2
$$;

-- Energy (or water) of each device per bucket: its 'total' register(s), or, when it has none,
-- the sum of its tariff registers (register = 'total'); plus one row per tariff register
-- (register = the label: HCHC, HCHP, BASE, EASF01...), kept apart. Billing-period registers
-- are never used. From icone_consumption, day/month buckets (a year = its 12 months).
CREATE FUNCTION icone_device_figures(p_metric text, p_from timestamptz, p_to timestamptz,
                                     p_bucket text, p_devs text[], p_site text DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, dev_eui text, register text, figure double precision)
LANGUAGE sql STABLE AS $$
    WITH regs AS MATERIALIZED (
        SELECT icone_bucket_start(p_bucket, c.bucket) AS bucket, c.dev_eui, c.channel,
               icone_register_class(c.metric, c.channel) AS cls, sum(c.consumption) AS q
        FROM icone_consumption(p_from, p_to, CASE p_bucket WHEN 'year' THEN 'month'
                                                  ELSE p_bucket END, p_site, p_metric) c
        WHERE c.dev_eui = ANY (p_devs) AND c.bucket >= p_from AND c.bucket < p_to
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
    SELECT r.bucket, r.dev_eui, r.channel, r.q FROM regs r WHERE r.cls = 'tariff'
$$;

-- THE metered figure (energy kWh or water m³) per bucket and scope: p_group 'site',
-- 'site_kind' or 'metropolis'. Devices counted: active devices of the metric's catalogue
-- category (energy / water) that are not sub-meters, in p_sites (NULL = every site).
-- figure is NULL when no device contributed (never a 0 made of missing data).
-- figure_per_m2 = figure of the scope's sites with a known floor area / their area.
CREATE FUNCTION icone_metered(
    p_metric text, p_from timestamptz, p_to timestamptz, p_bucket text DEFAULT 'month',
    p_group text DEFAULT 'site', p_sites text[] DEFAULT NULL
)
RETURNS TABLE (bucket timestamptz, bucket_end timestamptz, scope text, register_name text,
               figure double precision, unit text, floor_area_m2 double precision,
               figure_per_m2 double precision, devices_contributing integer,
               devices_expected integer, readings bigint, readings_expected double precision,
               coverage double precision, gap_days integer, method text)
LANGUAGE plpgsql STABLE AS $$
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
    figs AS MATERIALIZED (
        SELECT f.bucket, f.dev_eui, f.register, f.figure
        FROM icone_device_figures(p_metric, w_from, w_to, p_bucket, devs, one) f
    ),
    cov AS MATERIALIZED (
        SELECT c.bucket, m.scope, sum(least(c.readings, c.readings_expected)) AS got,
               sum(c.readings)::bigint AS readings, sum(c.readings_expected) AS expected,
               sum(c.days_expected - c.days_with_data)::integer AS gaps,
               count(*)::integer AS n_expected
        FROM icone_coverage(w_from, w_to, p_bucket, devs, p_metric) c
        JOIN meters m ON m.dev_eui = c.dev_eui
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
        FROM figs f JOIN meters m ON m.dev_eui = f.dev_eui
        GROUP BY 1, 2, 3
    ),
    registers AS (
        SELECT DISTINCT s.scope, s.register FROM sums s
        UNION
        SELECT DISTINCT c.scope, 'total' FROM cov c
    )
    SELECT c.bucket, icone_bucket_next(p_bucket, c.bucket), c.scope, r.register,
           s.figure, (SELECT k.unit FROM metric_kinds k WHERE k.metric = p_metric),
           a.area, s.with_area / a.area, coalesce(s.contributing, 0), c.n_expected,
           c.readings, c.expected, c.got / nullif(c.expected, 0), c.gaps,
           'sum over the ' || cat || ' meters of the scope (sub-meters it_load/cooling excluded)'
           || ' of icone_consumption (counter deltas spread pro rata of time, Europe/Paris '
           || p_bucket || 's); a meter counts its total register, else the sum of its tariff'
           || ' registers; billing-period registers never'
           || CASE WHEN r.register <> 'total' THEN '; tariff register ' || r.register ELSE '' END
    FROM cov c
    JOIN registers r ON r.scope = c.scope
    LEFT JOIN sums s ON s.bucket = c.bucket AND s.scope = c.scope AND s.register = r.register
    LEFT JOIN areas a ON a.scope = c.scope
    WHERE r.register = 'total' OR s.figure IS NOT NULL
    ORDER BY 3, 1, (r.register <> 'total'), 4;
END $$;

-- Energy (kWh) and water (m³): icone_metered for their metric.
CREATE FUNCTION icone_energy(p_from timestamptz, p_to timestamptz, p_bucket text DEFAULT 'month',
                             p_group text DEFAULT 'site', p_sites text[] DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, bucket_end timestamptz, scope text, register_name text,
               figure double precision, unit text, floor_area_m2 double precision,
               figure_per_m2 double precision, devices_contributing integer,
               devices_expected integer, readings bigint, readings_expected double precision,
               coverage double precision, gap_days integer, method text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM icone_metered('energy_active_import_index', p_from, p_to, p_bucket, p_group,
                                p_sites)
$$;

CREATE FUNCTION icone_water(p_from timestamptz, p_to timestamptz, p_bucket text DEFAULT 'month',
                            p_group text DEFAULT 'site', p_sites text[] DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, bucket_end timestamptz, scope text, register_name text,
               figure double precision, unit text, floor_area_m2 double precision,
               figure_per_m2 double precision, devices_contributing integer,
               devices_expected integer, readings bigint, readings_expected double precision,
               coverage double precision, gap_days integer, method text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM icone_metered('water_volume_index', p_from, p_to, p_bucket, p_group, p_sites)
$$;

-- Year-on-year: the calendar year p_year against p_year - 1, per scope (total registers).
-- change = figure / previous - 1 (NULL when either year has no figure).
CREATE FUNCTION icone_metered_yoy(p_metric text, p_year integer, p_group text DEFAULT 'site',
                                  p_sites text[] DEFAULT NULL)
RETURNS TABLE (scope text, year integer, figure double precision,
               previous_figure double precision, change double precision, unit text,
               coverage double precision, previous_coverage double precision, method text)
LANGUAGE sql STABLE AS $$
    WITH y AS (
        SELECT (extract(year FROM m.bucket AT TIME ZONE 'Europe/Paris'))::integer AS yr, m.*
        FROM icone_metered(p_metric,
                           make_date(p_year - 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris',
                           make_date(p_year + 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris',
                           'year', p_group, p_sites) m
        WHERE m.register_name = 'total'
    )
    SELECT coalesce(c.scope, p.scope), p_year, c.figure, p.figure, c.figure / p.figure - 1,
           coalesce(c.unit, p.unit), c.coverage, p.coverage,
           'year-on-year change of icone_metered(' || p_metric || ', year): '
           || 'figure / previous_figure - 1'
    FROM (SELECT * FROM y WHERE y.yr = p_year) c
    FULL JOIN (SELECT * FROM y WHERE y.yr = p_year - 1) p ON p.scope = c.scope
    ORDER BY 1
$$;

-- kgCO2e of the energy of each scope: each local day's kWh x the factor in force that day
-- (icone_emission_factor). A factor that changes inside the period splits it: one row per
-- factor, with the days it covered. Energy of days without a factor is one row with
-- factor_id, factor and kgco2e NULL: not computed, never guessed.
CREATE FUNCTION icone_emissions(p_from timestamptz, p_to timestamptz,
                                p_group text DEFAULT 'metropolis', p_sites text[] DEFAULT NULL,
                                p_energy text DEFAULT 'electricity')
RETURNS TABLE (scope text, period_start timestamptz, period_end timestamptz, kwh double precision,
               kgco2e double precision, factor double precision, factor_unit text,
               factor_id bigint, factor_source text, factor_source_id text, factor_year integer,
               coverage double precision, method text)
LANGUAGE sql STABLE AS $$
    WITH days AS (
        SELECT e.bucket, e.bucket_end, e.scope, e.figure, e.readings_expected,
               least(e.readings, e.readings_expected) AS got,
               (icone_emission_factor(p_energy, (e.bucket AT TIME ZONE 'Europe/Paris')::date)).*
        FROM icone_energy(p_from, p_to, 'day', p_group, p_sites) e
        WHERE e.register_name = 'total'
    )
    SELECT d.scope, min(d.bucket), max(d.bucket_end), sum(d.figure), sum(d.figure) * min(d.value),
           min(d.value), min(d.unit), d.id, min(d.source), min(d.source_id), min(d.year),
           sum(d.got) / nullif(sum(d.readings_expected), 0),
           CASE WHEN d.id IS NULL
                THEN 'no ' || p_energy || ' emission factor in force on these days: not computed'
                ELSE 'kWh (icone_energy, day buckets) x the factor in force each day' END
    FROM days d
    GROUP BY d.scope, d.id
    ORDER BY 1, 2
$$;

-- Datacenter energy per site and bucket, by device role (it_load, facility_total, cooling):
-- PUE = sum E_facility / sum E_IT over the same period (ISO/IEC 30134-2: energies, never an
-- average of ratios); a PUE below 1 is a data error (pue NULL, pue_status says so);
-- cooling_share = E_cooling / E_facility. Sites: those with a device of one of the roles.
CREATE FUNCTION icone_datacenter(p_from timestamptz, p_to timestamptz,
                                 p_bucket text DEFAULT 'month', p_sites text[] DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, bucket_end timestamptz, site_id text,
               e_facility double precision, e_it double precision, e_cooling double precision,
               unit text, pue double precision, pue_status text, cooling_share double precision,
               metering_category text, facility_meters text, it_meters text,
               cooling_meters text, coverage double precision, gap_days integer, method text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    w_from timestamptz;
    w_to   timestamptz;
    devs   text[];
    one    text;
BEGIN
    PERFORM icone_check_period(p_bucket, p_from, p_to);
    w_from := icone_bucket_start(p_bucket, p_from);
    w_to := icone_bucket_ceil(p_bucket, p_to);
    SELECT array_agg(d.dev_eui) INTO devs FROM devices d
    WHERE d.role IN ('it_load', 'facility_total', 'cooling') AND d.status = 'active'
      AND d.site_id IS NOT NULL AND (p_sites IS NULL OR d.site_id = ANY (p_sites));
    IF devs IS NULL THEN
        RETURN;
    END IF;
    one := CASE WHEN cardinality(p_sites) = 1 THEN p_sites[1] END;

    RETURN QUERY
    WITH meters AS MATERIALIZED (
        SELECT d.dev_eui, d.site_id, d.role FROM devices d WHERE d.dev_eui = ANY (devs)
    ),
    figs AS MATERIALIZED (
        SELECT f.bucket, f.dev_eui, f.figure
        FROM icone_device_figures('energy_active_import_index', w_from, w_to, p_bucket, devs,
                                  one) f
        WHERE f.register = 'total'
    ),
    cov AS MATERIALIZED (
        SELECT c.bucket, c.dev_eui, least(c.readings, c.readings_expected) AS got,
               c.readings_expected, c.days_expected - c.days_with_data AS gaps
        FROM icone_coverage(w_from, w_to, p_bucket, devs, 'energy_active_import_index') c
    ),
    per_role AS (
        SELECT c.bucket, m.site_id,
               sum(f.figure) FILTER (WHERE m.role = 'facility_total') AS fac,
               sum(f.figure) FILTER (WHERE m.role = 'it_load') AS it,
               sum(f.figure) FILTER (WHERE m.role = 'cooling') AS cool,
               count(f.figure) FILTER (WHERE m.role = 'facility_total') || '/'
                   || count(*) FILTER (WHERE m.role = 'facility_total') AS fac_n,
               count(f.figure) FILTER (WHERE m.role = 'it_load') || '/'
                   || count(*) FILTER (WHERE m.role = 'it_load') AS it_n,
               count(f.figure) FILTER (WHERE m.role = 'cooling') || '/'
                   || count(*) FILTER (WHERE m.role = 'cooling') AS cool_n,
               sum(c.got) / nullif(sum(c.readings_expected), 0) AS coverage,
               sum(c.gaps)::integer AS gaps
        FROM cov c JOIN meters m ON m.dev_eui = c.dev_eui
        LEFT JOIN figs f ON f.bucket = c.bucket AND f.dev_eui = c.dev_eui
        GROUP BY 1, 2
    )
    SELECT p.bucket, icone_bucket_next(p_bucket, p.bucket), p.site_id, p.fac, p.it, p.cool,
           'kWh',
           CASE WHEN p.it > 0 AND p.fac / p.it >= 1 THEN p.fac / p.it END,
           CASE WHEN p.fac IS NULL THEN 'no facility_total energy: PUE not computed'
                WHEN p.it IS NULL OR p.it <= 0 THEN 'no it_load energy: PUE not computed'
                WHEN p.fac / p.it < 1 THEN 'data error: E_DC < E_IT (ratio '
                     || round((p.fac / p.it)::numeric, 3) || '), PUE < 1 is impossible'
                ELSE 'ok' END,
           p.cool / nullif(p.fac, 0),
           CASE dm.category WHEN 1 THEN 'category 1: IT energy at the UPS output'
                            WHEN 2 THEN 'category 2: IT energy at the PDU output'
                            WHEN 3 THEN 'category 3: IT energy at the IT equipment input'
                            ELSE 'not recorded (datacenter_metering)' END,
           p.fac_n, p.it_n, p.cool_n, p.coverage, p.gaps,
           'PUE = sum E_DC (facility_total meters) / sum E_IT (it_load meters) over the same '
           || p_bucket || ' (ISO/IEC 30134-2, energies from icone_consumption); cooling share '
           || '= E_cooling / E_DC'
    FROM per_role p LEFT JOIN datacenter_metering dm ON dm.site_id = p.site_id
    ORDER BY 3, 1;
END $$;

-- Thermal compliance of each rack-inlet sensor (role rack_inlet) over [p_from, p_to): share
-- of the observed time spent in the ASHRAE recommended envelope and in the A1 allowable one.
-- Each temperature reading (channel '') holds until the next reading, at most two uplink
-- intervals (3600 s when the model is unknown): longer silences are unobserved time, not
-- compliant time. Humidity is the relative_humidity reading of the same instant; a reading
-- without one is judged on temperature only (humidity_known_share says how often).
CREATE FUNCTION icone_ashrae(p_from timestamptz, p_to timestamptz, p_sites text[] DEFAULT NULL)
RETURNS TABLE (site_id text, dev_eui text, location text, observed_hours double precision,
               recommended_share double precision, a1_share double precision,
               humidity_known_share double precision, readings bigint,
               coverage double precision, method text)
LANGUAGE sql STABLE AS $$
    WITH sensors AS MATERIALIZED (
        SELECT d.dev_eui, d.site_id, d.location,
               2 * coalesce(m.uplink_interval_s, 1800) AS max_hold_s,
               icone_epoch(least(p_to, now())) - icone_epoch(greatest(p_from,
                   coalesce(d.installed_at, p_from))) AS window_s,
               m.uplink_interval_s
        FROM devices d LEFT JOIN device_models m ON m.model = d.model
        WHERE d.role = 'rack_inlet' AND d.status = 'active'
          AND (p_sites IS NULL OR d.site_id = ANY (p_sites))
    ),
    readings AS (
        SELECT t.dev_eui, t.time, t.value AS temp, h.value AS rh,
               least(icone_epoch(coalesce(lead(t.time) OVER w, p_to)),
                     icone_epoch(p_to), icone_epoch(t.time) + s.max_hold_s)
               - icone_epoch(t.time) AS held_s
        FROM sensors s
        JOIN measurements t ON t.dev_eui = s.dev_eui AND t.metric = 'temperature'
             AND t.channel = '' AND t.time >= p_from AND t.time < p_to
        LEFT JOIN measurements h ON h.dev_eui = t.dev_eui AND h.metric = 'relative_humidity'
             AND h.channel = '' AND h.time = t.time
        WINDOW w AS (PARTITION BY t.dev_eui ORDER BY t.time)
    ),
    judged AS (
        SELECT r.dev_eui, r.held_s, r.rh IS NOT NULL AS rh_known,
               (r.temp BETWEEN e.t_min AND e.t_max
                AND (r.rh IS NULL OR (r.rh BETWEEN coalesce(e.rh_min, 0) AND coalesce(e.rh_max, 100)
                     AND icone_dew_point(r.temp, r.rh)
                         BETWEEN coalesce(e.dp_min, '-Infinity') AND coalesce(e.dp_max, 'Infinity'))))
                   AS rec,
               (r.temp BETWEEN a.t_min AND a.t_max
                AND (r.rh IS NULL OR (r.rh BETWEEN coalesce(a.rh_min, 0) AND coalesce(a.rh_max, 100)
                     AND icone_dew_point(r.temp, r.rh)
                         BETWEEN coalesce(a.dp_min, '-Infinity') AND coalesce(a.dp_max, 'Infinity'))))
                   AS a1
        FROM readings r
        CROSS JOIN (SELECT * FROM ashrae_envelopes WHERE name = 'recommended') e
        CROSS JOIN (SELECT * FROM ashrae_envelopes WHERE name = 'A1') a
    )
    SELECT s.site_id, s.dev_eui, s.location, sum(j.held_s) / 3600,
           sum(j.held_s) FILTER (WHERE j.rec) / nullif(sum(j.held_s), 0),
           sum(j.held_s) FILTER (WHERE j.a1) / nullif(sum(j.held_s), 0),
           sum(j.held_s) FILTER (WHERE j.rh_known) / nullif(sum(j.held_s), 0),
           count(j.dev_eui),
           least(1, sum(j.held_s) / nullif(s.window_s, 0)),
           'share of observed time (each reading holds until the next, at most 2 uplink '
           || 'intervals) within the ASHRAE envelopes of table ashrae_envelopes; coverage = '
           || 'observed time / period'
    FROM sensors s LEFT JOIN judged j ON j.dev_eui = s.dev_eui
    GROUP BY s.site_id, s.dev_eui, s.location, s.window_s
    ORDER BY 1, 2
$$;

-- Water alerts at p_at: the night-flow leak rule (icone_night_flow_high over the 2 nights
-- ending with the last complete one, threshold in m³/h) and the meters' own alarms (leak,
-- burst, backflow, dry) whose latest state at p_at is active.
CREATE FUNCTION icone_water_alerts(p_at timestamptz, p_sites text[] DEFAULT NULL,
                                   p_threshold double precision DEFAULT 0)
RETURNS TABLE (site_id text, dev_eui text, alert text, since timestamptz, detail text)
LANGUAGE sql STABLE AS $$
    WITH last_night AS (
        SELECT ((p_at AT TIME ZONE 'Europe/Paris') - interval '5 hours')::date AS d
    )
    SELECT f.site_id, f.dev_eui, 'night_flow_high', NULL::timestamptz,
           'night minimum above ' || p_threshold || ' ' || f.unit || ' on 2 nights (lowest '
           || round(f.lowest_min_flow::numeric, 4) || ')'
    FROM last_night n, icone_night_flow_high(n.d, p_threshold, 2, NULL, 'water_volume_index') f
    WHERE p_sites IS NULL OR f.site_id = ANY (p_sites)
    UNION ALL
    SELECT d.site_id, e.dev_eui, e.code, e.time, e.source || coalesce(': ' || nullif(e.detail, ''), '')
    FROM devices d
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (x.code) x.dev_eui, x.code, x.time, x.active, x.source, x.detail
        FROM device_events x
        WHERE x.dev_eui = d.dev_eui AND x.code IN ('leak', 'burst', 'backflow', 'dry')
          AND x.time <= p_at
        ORDER BY x.code, x.time DESC
    ) e
    WHERE e.active AND d.site_id IS NOT NULL AND (p_sites IS NULL OR d.site_id = ANY (p_sites))
    ORDER BY 1, 2, 3
$$;

-- Fleet health at p_at per site and catalogue category: active devices registered; reporting
-- = an uplink within max(24 h, 2 x the model's uplink interval) before p_at, silent = the
-- others; low battery = latest battery_level (last 7 days) below 10 %, or an active
-- low_battery alarm; uplinks in the last 24 h against 86400 / uplink interval.
CREATE FUNCTION icone_fleet(p_at timestamptz DEFAULT now(), p_sites text[] DEFAULT NULL)
RETURNS TABLE (site_id text, category text, registered integer, reporting integer,
               silent integer, low_battery integer, uplinks_24h bigint,
               uplinks_expected_24h double precision, coverage double precision, method text)
LANGUAGE sql STABLE AS $$
    WITH devs AS (
        SELECT d.dev_eui, d.site_id, coalesce(m.category, 'unknown') AS category,
               m.uplink_interval_s,
               greatest(interval '24 hours',
                        2 * coalesce(m.uplink_interval_s, 43200) * interval '1 second') AS horizon
        FROM devices d LEFT JOIN device_models m ON m.model = d.model
        WHERE d.status = 'active' AND (p_sites IS NULL OR d.site_id = ANY (p_sites))
    ),
    state AS (
        SELECT v.*,
               (SELECT max(u.time) FROM uplinks u
                WHERE u.dev_eui = v.dev_eui AND u.time <= p_at AND u.time > p_at - v.horizon)
                   AS last_uplink,
               (SELECT count(*) FROM uplinks u
                WHERE u.dev_eui = v.dev_eui AND u.time <= p_at
                  AND u.time > p_at - interval '24 hours') AS n24,
               coalesce((SELECT b.value < 10 FROM measurements b
                         WHERE b.dev_eui = v.dev_eui AND b.metric = 'battery_level'
                           AND b.channel = '' AND b.time <= p_at
                           AND b.time > p_at - interval '7 days'
                         ORDER BY b.time DESC LIMIT 1), false)
               OR coalesce((SELECT e.active FROM device_events e
                            WHERE e.dev_eui = v.dev_eui AND e.code = 'low_battery'
                              AND e.time <= p_at
                            ORDER BY e.time DESC LIMIT 1), false) AS low
        FROM devs v
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

-- Open data (CNIL, décret 2020-196): monthly figures per site kind, published only for cells
-- of at least p_min_points delivery points (meters with a figure that month). Smaller cells of
-- a month are merged into one 'other kinds' cell; if that merge is still below the
-- threshold it is suppressed (figure NULL). Aggregates only: no site or device ever appears.
CREATE FUNCTION icone_opendata(p_year integer, p_metric text DEFAULT 'energy_active_import_index',
                               p_min_points integer DEFAULT 10)
RETURNS TABLE (month date, cell text, site_kinds text[], figure double precision, unit text,
               delivery_points integer, status text, note text)
LANGUAGE sql STABLE AS $$
    WITH cells AS (
        SELECT (m.bucket AT TIME ZONE 'Europe/Paris')::date AS month, m.scope AS kind,
               m.figure, m.unit, m.devices_contributing AS points
        FROM icone_metered(p_metric,
                           make_date(p_year, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris',
                           make_date(p_year + 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris',
                           'month', 'site_kind', NULL) m
        WHERE m.register_name = 'total' AND m.figure IS NOT NULL
    ),
    merged AS (
        SELECT c.month, CASE WHEN c.points >= p_min_points THEN c.kind ELSE 'other kinds' END
                            AS cell,
               array_agg(c.kind ORDER BY c.kind) AS kinds, sum(c.figure) AS figure,
               min(c.unit) AS unit, sum(c.points)::integer AS points,
               bool_and(c.points >= p_min_points) AS alone
        FROM cells c
        GROUP BY 1, 2
    )
    SELECT g.month, g.cell, g.kinds,
           CASE WHEN g.points >= p_min_points THEN g.figure END, g.unit, g.points,
           CASE WHEN g.alone THEN 'published'
                WHEN g.points >= p_min_points THEN 'merged'
                ELSE 'suppressed' END,
           CASE WHEN g.alone THEN ''
                WHEN g.points >= p_min_points
                    THEN 'site kinds with fewer than ' || p_min_points
                         || ' delivery points merged into one cell'
                ELSE 'fewer than ' || p_min_points || ' delivery points even merged: suppressed'
           END
    FROM merged g
    ORDER BY 1, (g.cell = 'other kinds'), 2
$$;

-- The yearly summary of the strategy dashboard and the REEN report (calendar year p_year,
-- Europe/Paris): one row per figure, each with its method, coverage and, for CO2e, the
-- emission factor used. Every figure is a row of the functions above, nothing recomputed.
CREATE FUNCTION icone_summary(p_year integer, p_sites text[] DEFAULT NULL)
RETURNS TABLE (section text, indicator text, scope text, period_start timestamptz,
               period_end timestamptz, figure double precision, unit text,
               coverage double precision, devices text, gap_days integer, factor text,
               method text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    y0 timestamptz := make_date(p_year, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris';
    y1 timestamptz := make_date(p_year + 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris';
    fleet_at timestamptz := least(now(), make_date(p_year + 1, 1, 1)::timestamp
                                         AT TIME ZONE 'Europe/Paris');
BEGIN
    RETURN QUERY
    SELECT 'energy', 'energy', e.scope, e.bucket, e.bucket_end, e.figure, e.unit, e.coverage,
           e.devices_contributing || '/' || e.devices_expected, e.gap_days, NULL, e.method
    FROM icone_energy(y0, y1, 'year', 'metropolis', p_sites) e WHERE e.register_name = 'total'
    UNION ALL
    SELECT 'energy', 'energy_per_m2', e.scope, e.bucket, e.bucket_end, e.figure_per_m2,
           e.unit || '/m²', e.coverage, e.devices_contributing || '/' || e.devices_expected,
           e.gap_days, NULL,
           'energy of the sites with a known floor area / their area ('
           || coalesce(e.floor_area_m2::text, 'no site with a floor area') || ' m²)'
    FROM icone_energy(y0, y1, 'year', 'metropolis', p_sites) e WHERE e.register_name = 'total'
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
