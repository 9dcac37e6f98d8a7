-- 0002 storage: counter registers, meter swaps, metric kinds, emission factors, and the
-- read interface shared by both storage modes (bucketing helpers, consumption).
-- The mode companions create `measurements_hourly` / `measurements_daily` (continuous
-- aggregates, or rollup tables behind views) with the SAME columns, plus
-- icone_refresh_rollups and icone_apply_retention.

-- How each metric's values relate over time (decoders.vocabulary.Kind), so SQL can tell a
-- register (consumption = difference of readings) from an interval quantity (a sum).
-- Seeded with the vocabulary as of this migration; ingest_service.consumption.sync_metric_kinds
-- upserts newer vocabulary entries (the maintenance job runs it).
CREATE TABLE metric_kinds (
    metric text PRIMARY KEY,
    kind   text NOT NULL CHECK (kind IN ('gauge', 'counter', 'interval')),
    unit   text NOT NULL
);
INSERT INTO metric_kinds (metric, kind, unit) VALUES
    ('temperature', 'gauge', '°C'), ('relative_humidity', 'gauge', '%'), ('co2', 'gauge', 'ppm'),
    ('illuminance', 'gauge', 'lx'), ('motion_count', 'counter', '1'),
    ('battery_voltage', 'gauge', 'V'), ('battery_level', 'gauge', '%'),
    ('water_volume_index', 'counter', 'm³'), ('water_volume', 'interval', 'm³'),
    ('water_flow', 'gauge', 'm³/h'), ('pulse_count', 'counter', '1'),
    ('energy_active_import_index', 'counter', 'kWh'),
    ('energy_reactive_import_index', 'counter', 'kvarh'),
    ('energy_reactive_export_index', 'counter', 'kvarh'),
    ('energy_apparent_index', 'counter', 'kVAh'), ('active_power', 'gauge', 'W'),
    ('apparent_power', 'gauge', 'VA'), ('current', 'gauge', 'A'), ('charge_index', 'counter', 'Ah'),
    ('voltage', 'gauge', 'V'), ('pulse_increment', 'interval', '1'),
    ('digital_input', 'gauge', '1'), ('analog_voltage', 'gauge', 'V'), ('distance', 'gauge', 'm'),
    ('occupancy', 'gauge', '1'), ('air_pressure', 'gauge', 'hPa'), ('sound_level', 'gauge', 'dBA'),
    ('tvoc', 'gauge', 'ppb'), ('water_temperature', 'gauge', '°C'),
    ('acoustic_noise_level', 'gauge', '1'), ('pulse_rate', 'gauge', '1/h');

-- One row per counter register (device + metric + channel) whose physical properties
-- matter for consumption: the register width (rollover) and the index at commissioning
-- (so the first reading after installation yields the consumption since installation).
CREATE TABLE counter_registers (
    dev_eui                text NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,
    metric                 text NOT NULL,
    channel                text NOT NULL DEFAULT '',
    register_digits        smallint CHECK (register_digits BETWEEN 1 AND 15),
    -- value of one unit of the last digit, in the metric's unit (0.001 for a m³ register
    -- with three decimals): modulus = 10^digits x step
    register_step          double precision NOT NULL DEFAULT 1 CHECK (register_step > 0),
    modulus                double precision GENERATED ALWAYS AS
                               (power(10::double precision, register_digits) * register_step) STORED,
    commissioned_at        timestamptz,
    index_at_commissioning double precision,
    PRIMARY KEY (dev_eui, metric, channel)
);

-- Meter replacements recorded by the technician: readings at or after `swapped_at` belong to
-- the new meter. The consumption between the last old-meter reading and the swap is
-- old_final_index - that reading; after it, new-meter reading - new_initial_index.
CREATE TABLE meter_swaps (
    id                bigserial PRIMARY KEY,
    dev_eui           text NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,
    metric            text NOT NULL,
    channel           text NOT NULL DEFAULT '',
    swapped_at        timestamptz NOT NULL,
    old_final_index   double precision,          -- NULL when the old register was unreadable
    new_initial_index double precision NOT NULL DEFAULT 0,
    recorded_by       text NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    note              text NOT NULL DEFAULT '',
    UNIQUE (dev_eui, metric, channel, swapped_at)
);

-- Emission factors are versioned data, never constants (domain.md §2): a new ADEME value
-- is a new row with its validity period; history is recomputed only on purpose.
CREATE TABLE emission_factors (
    id         bigserial PRIMARY KEY,
    energy     text NOT NULL,                    -- electricity, water, gas, heat...
    perimeter  text NOT NULL DEFAULT 'France continentale',
    value      double precision NOT NULL CHECK (value >= 0),
    unit       text NOT NULL,                    -- kgCO2e/kWh, kgCO2e/m³
    valid_from date NOT NULL,
    valid_to   date,                             -- exclusive; NULL = still valid
    source     text NOT NULL,                    -- e.g. ADEME Base Empreinte, "Mix de consommation – moyen"
    source_id  text,                             -- Base Empreinte identifier
    year       integer,                          -- reference year of the factor
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    UNIQUE (energy, perimeter, valid_from)
);

-- The factor in force on `p_at` (the latest version starting on or before it).
CREATE FUNCTION icone_emission_factor(p_energy text, p_at date,
                                      p_perimeter text DEFAULT 'France continentale')
RETURNS emission_factors LANGUAGE sql STABLE AS $$
    SELECT * FROM emission_factors
    WHERE energy = p_energy AND perimeter = p_perimeter AND valid_from <= p_at
      AND (valid_to IS NULL OR valid_to > p_at)
    ORDER BY valid_from DESC LIMIT 1
$$;

-- Key/value timestamps kept by the storage jobs: rollup watermarks (plain mode) and the
-- newest raw-data retention cutoff, below which aggregates must never be re-derived from raw
-- (a refresh over deleted raw rows would empty them: timescaledb#4328).
CREATE TABLE icone_storage_state (
    key   text PRIMARY KEY,
    value timestamptz NOT NULL
);

-- Bucketing in Europe/Paris local time, written with AT TIME ZONE so it is IMMUTABLE and does
-- not depend on the session TimeZone. Hours are absolute (Paris offsets are whole hours),
-- days and months are local: a DST day is 23 h or 25 h long.
CREATE FUNCTION icone_bucket_start(p_bucket text, t timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_bucket
        WHEN 'hour' THEN date_trunc('hour', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        ELSE date_trunc(p_bucket, t AT TIME ZONE 'Europe/Paris') AT TIME ZONE 'Europe/Paris'
    END
$$;

CREATE FUNCTION icone_bucket_next(p_bucket text, b timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_bucket
        WHEN 'hour' THEN b + interval '1 hour'
        ELSE ((b AT TIME ZONE 'Europe/Paris') + ('1 ' || p_bucket)::interval) AT TIME ZONE 'Europe/Paris'
    END
$$;

-- Smallest bucket boundary >= t.
CREATE FUNCTION icone_bucket_ceil(p_bucket text, t timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN icone_bucket_start(p_bucket, t) = t THEN t
                ELSE icone_bucket_next(p_bucket, icone_bucket_start(p_bucket, t)) END
$$;

-- Epoch seconds without the STABLE date_part(timestamptz): exact to the microsecond in a float8.
CREATE FUNCTION icone_epoch(t timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_part('epoch', t AT TIME ZONE 'UTC')
$$;

-- THE consumption figure (single source of truth for the API and the dashboards).
--
-- Counter metrics (metric_kinds.kind = 'counter'): per register (device, metric, channel),
-- the points are the readings plus the technician's records (commissioning index; at each
-- swap, the old meter's final index and the new meter's initial index). Points are ordered
-- by time (so late and out-of-order arrivals fall into place, and duplicates cannot exist:
-- measurements are unique per register and time); at one instant the old meter's final index
-- comes first, then the new meter's start, then the reading. Deltas are taken between
-- consecutive points, except into a new meter's start (a swap cuts the series):
--   value >= previous          -> value - previous
--   drop > modulus / 2         -> rollover: value + modulus - previous (6/8/9-digit registers)
--   otherwise (unrecorded reset or replacement) -> value (the register restarted at 0)
-- Each delta is spread over the time between its two points pro rata of time, so that the
-- consumption over a gap lands in the hours/days it happened in, not in the bucket of the
-- reading that ended the gap.
-- Interval metrics (kind 'interval') are summed in the bucket of their timestamp.
--
-- Buckets are 'hour', 'day' or 'month' in Europe/Paris local time; the window is widened to
-- whole buckets. Registers are those with a day row from the window's first day on (one that
-- stopped reporting before the window has no later reading to take a delta to).
-- Hour buckets read raw readings (late rows count at once). Day and month buckets read
-- measurements_daily: first and last reading of each day, the last reading before the window
-- and the first after it; only days where the register was not monotonic or a technician's
-- record falls inside are read from raw measurements. Same figures as raw readings at ~2 rows
-- per register-day; late rows older than the aggregate's refresh count after the next refresh
-- (ingest_service.rollups.refresh_rollups).
--
-- Speed (docs/benchmarks.md, Storage): devices and metrics are resolved to arrays first, so
-- every scan below is an index (or compressed-segment) lookup on `= ANY (array)`; registers
-- are numbered so the window sort and the joins run on integers; the plan is generic and
-- cached per session (plan_cache_mode below): re-planning this statement over a year of chunks
-- cost more than running it. JIT is off: the generic plan's cost estimate (every chunk,
-- unknown arrays) passes jit_above_cost, and compiling it took 0.3-1.5 s for a query that runs
-- in ~20 ms (the cause of the slow plain-mode monthly figures as well).
CREATE FUNCTION icone_consumption(
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
        -- hour buckets: the raw readings of the window...
        SELECT s.reg, m.time AS t, m.value AS v, 2 AS k, false AS cut
        FROM measurements m JOIN series s
          ON s.dev_eui = m.dev_eui AND s.metric = m.metric AND s.channel = m.channel
        WHERE p_bucket = 'hour' AND m.dev_eui = ANY (devs) AND m.metric = ANY (counters)
          AND m.time >= w_from AND m.time < w_to
        UNION ALL
        -- ...and the reading before it and the one after it, for deltas crossing its edges
        SELECT s.reg, e.t, e.v, 2, false
        FROM series s
        CROSS JOIN LATERAL (
            (SELECT m.time AS t, m.value AS v FROM measurements m
             WHERE m.dev_eui = s.dev_eui AND m.metric = s.metric AND m.channel = s.channel
               AND m.time < w_from
             ORDER BY m.time DESC LIMIT 1)
            UNION ALL
            (SELECT m.time, m.value FROM measurements m
             WHERE m.dev_eui = s.dev_eui AND m.metric = s.metric AND m.channel = s.channel
               AND m.time >= w_to
             ORDER BY m.time ASC LIMIT 1)
        ) e
        WHERE p_bucket = 'hour'
        UNION ALL
        -- day/month buckets: first and last reading of regular days...
        SELECT d.reg, d.first_t, d.first_v, 2, false FROM days d WHERE d.regular
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
                   CASE WHEN l.v >= l.v0 THEN l.v - l.v0
                        WHEN s.modulus IS NOT NULL AND l.v0 - l.v > s.modulus / 2
                            THEN l.v + s.modulus - l.v0
                        ELSE l.v
                   END AS delta
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
            SELECT gs AS b FROM generate_series(d.b0, d.b1, interval '1 hour') gs
            WHERE p_bucket = 'hour'
            UNION ALL
            SELECT gl AT TIME ZONE 'Europe/Paris'
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
        SELECT m.dev_eui, m.metric, m.channel, icone_bucket_start('hour', m.time), sum(m.value)
        FROM measurements m
        WHERE p_bucket = 'hour' AND m.dev_eui = ANY (devs) AND m.metric = ANY (intervals)
          AND m.time >= w_from AND m.time < w_to
        GROUP BY 1, 2, 3, 4
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

CREATE FUNCTION icone_state(p_key text, p_default timestamptz DEFAULT '-infinity')
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT value FROM icone_storage_state WHERE key = p_key), p_default)
$$;

CREATE FUNCTION icone_set_state(p_key text, p_value timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO icone_storage_state (key, value) VALUES (p_key, p_value)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value
$$;

-- Retention by data class. `p_policy` (built by ingest_service.retention.RetentionPolicy):
--   {"raw": {"personal": "730 days", "non_personal": "1095 days"},
--    "hourly": {...}, "daily": {...}, "network_events": "365 days", "dead_letters": "90 days"}
-- a missing/null horizon keeps data forever. Whole chunks/partitions older than the longest
-- horizon of a table are dropped (mode helper icone_drop_older); the classes with a shorter
-- horizon are then DELETEd row-wise. Devices absent from the registry count as personal
-- (privacy by default). Records the newest cutoffs so rollups are never re-derived from
-- deleted rows.
CREATE FUNCTION icone_apply_retention(p_now timestamptz, p_policy jsonb)
RETURNS TABLE (target text, data_class text, cutoff timestamptz, rows_removed bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    tbl text;
    grp text;
    h_personal interval;
    h_other interval;
    c_personal timestamptz;
    c_other timestamptz;
    c_global timestamptz;
    c_newest timestamptz;
    tcol text;
    n bigint;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['measurements', 'uplinks', 'device_events',
                               'measurements_hourly', 'measurements_daily'] LOOP
        grp := CASE tbl WHEN 'measurements_hourly' THEN 'hourly'
                        WHEN 'measurements_daily' THEN 'daily' ELSE 'raw' END;
        h_personal := (p_policy -> grp ->> 'personal')::interval;
        h_other := (p_policy -> grp ->> 'non_personal')::interval;
        c_personal := p_now - h_personal;          -- NULL when kept forever
        c_other := p_now - h_other;
        c_global := CASE WHEN c_personal IS NULL OR c_other IS NULL THEN NULL
                         ELSE least(c_personal, c_other) END;
        tcol := CASE grp WHEN 'raw' THEN 'time' ELSE 'bucket' END;
        IF c_global IS NOT NULL THEN
            n := icone_drop_older(tbl, c_global);
            target := tbl; data_class := 'all'; cutoff := c_global; rows_removed := n;
            RETURN NEXT;
        END IF;
        IF c_personal IS NOT NULL AND (c_global IS NULL OR c_personal > c_global) THEN
            EXECUTE format(
                'DELETE FROM %s x WHERE x.%I < $1 AND NOT EXISTS '
                '(SELECT 1 FROM devices d WHERE d.dev_eui = x.dev_eui '
                'AND d.data_class = ''non_personal'')', icone_storage_table(tbl), tcol)
                USING c_personal;
            GET DIAGNOSTICS n = ROW_COUNT;
            target := tbl; data_class := 'personal'; cutoff := c_personal; rows_removed := n;
            RETURN NEXT;
        END IF;
        IF c_other IS NOT NULL AND (c_global IS NULL OR c_other > c_global) THEN
            EXECUTE format(
                'DELETE FROM %s x WHERE x.%I < $1 AND EXISTS '
                '(SELECT 1 FROM devices d WHERE d.dev_eui = x.dev_eui '
                'AND d.data_class = ''non_personal'')', icone_storage_table(tbl), tcol)
                USING c_other;
            GET DIAGNOSTICS n = ROW_COUNT;
            target := tbl; data_class := 'non_personal'; cutoff := c_other; rows_removed := n;
            RETURN NEXT;
        END IF;
        c_newest := greatest(c_personal, c_other);   -- greatest ignores NULLs
        IF c_newest IS NOT NULL AND grp <> 'daily' THEN
            PERFORM icone_set_state(grp || '_horizon',
                                    greatest(c_newest, icone_state(grp || '_horizon')));
        END IF;
    END LOOP;
    IF p_policy ->> 'network_events' IS NOT NULL THEN
        c_global := p_now - (p_policy ->> 'network_events')::interval;
        n := icone_drop_older('network_events', c_global);
        target := 'network_events'; data_class := 'all'; cutoff := c_global; rows_removed := n;
        RETURN NEXT;
    END IF;
    IF p_policy ->> 'dead_letters' IS NOT NULL THEN
        c_global := p_now - (p_policy ->> 'dead_letters')::interval;
        DELETE FROM dead_letters WHERE last_seen_at < c_global;
        GET DIAGNOSTICS n = ROW_COUNT;
        target := 'dead_letters'; data_class := 'all'; cutoff := c_global; rows_removed := n;
        RETURN NEXT;
    END IF;
END $$;
