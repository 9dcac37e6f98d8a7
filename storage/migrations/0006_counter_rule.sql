-- 0006: the counter rule (every decrease classified, step backs netted), data-quality
-- observations, and day/month buckets that agree with hour buckets at every instant.
--
-- THE COUNTER RULE (supersedes the "otherwise" line of 0002's header; the rest of that
-- contract stands). Between two consecutive points of a register (readings and the
-- technician's records, ordered as 0002 says; a recorded swap still cuts the series), with
-- v0 the previous value and v the new one, `icone_counter_step_kind` says:
--   forward   v >= v0                                   -> v - v0
--   rollover  modulus known and v0 - v > modulus / 2    -> v + modulus - v0
--   reset     0 <= v < 10 % of v0 (unrecorded reset or
--             replacement: the register restarted at 0) -> v
--   step_back any other decrease (backflow, read jitter,
--             a corrected reading)                      -> v - v0 (negative: netted)
-- so the consumption over any window is the register's net movement, except across a
-- reset, a rollover or a swap. `icone_counter_delta` (same signature as 0004) applies it;
-- every bucket path and night flow call it; `icone_counter_observations` lists the steps it
-- did not count as forward movement, from the same classification. docs/counter-rule.md
-- explains the threshold and its edge cases.
--
-- FRESH DAY AND MONTH BUCKETS. The rollups (continuous aggregates, or plain mode's rollup
-- tables) may lag the raw readings in two ways, and both are closed here:
--  * newest data: refreshes never materialise readings newer than now() -
--    icone_rollup_margin() (1 hour; the TimescaleDB policies' end_offset): above that the
--    aggregates are computed from raw rows at query time (real-time aggregation, or the
--    plain views above their watermark);
--  * late data: a statement trigger on `measurements` records in `rollup_invalidations`,
--    in the same transaction as the rows, every (device, Europe/Paris day) that received
--    rows older than now() - icone_rollup_margin() / 2. Newer rows cannot be under a
--    materialised range unless their transaction outlasts half the margin, so live ingest
--    only pays one scan of its own rows. One statement per INSERT or COPY, not one per row,
--    and a device-day already invalidated in the current refresh epoch (below) is only
--    probed, not written again: history frames and back-fills stay cheap. Works on
--    compressed TimescaleDB chunks (their DML fires the hypertable's statement triggers
--    with transition tables; checked on 2.22.1).
--  * `measurements_daily_current` = `measurements_daily` with the registers of each
--    invalidated device-day recomputed from the raw readings at query time. icone_consumption (day/month) and the
--    register discovery of icone_consumption_hours read it, so a late reading counts in the
--    very next query.
--  * refresh epochs, so that a refresh clears only what it materialised, without blocking
--    ingest: each invalidation carries the epoch its writer read (sequence
--    rollup_refresh_epoch). A refresh first starts a new epoch and waits for the writers
--    that may have read the old one (they hold a shared advisory lock from their trigger to
--    their commit; the refresh takes the exclusive one and releases it at once:
--    icone_begin_rollup_refresh). Every invalidation of an older epoch is then committed,
--    and so are its rows: the refresh recomputes its days and deletes the invalidations of
--    older epochs. A writer meanwhile writes the new epoch (renewing an older row's), so its
--    invalidation stays. Plain mode: icone_refresh_rollups (0006_counter_rule.plain.sql);
--    TimescaleDB: storage.rollups (CALL refresh_continuous_aggregate cannot run in a
--    function).
--
-- The "regular day" shortcut of the day/month path (a day summarised by its first and last
-- reading) stays exact with netting: a day is read from raw readings when it is not
-- monotonic, when a technician's record falls inside it, and now also when its range of
-- values could hold a reset or a rollover (`icone_counter_span_is_plain`), since those are
-- not netted.
--
-- icone_consumption and icone_consumption_hours are 0005's statements with only these
-- changes: `measurements_daily` -> `measurements_daily_current` (3 reads and 2), the
-- regular-day condition above. Timings in docs/benchmarks.md.

-- Readings newer than now() minus this are never materialised in a rollup.
CREATE FUNCTION icone_rollup_margin()
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT interval '1 hour'
$$;

-- The classification of a step v0 -> v of a register (see the header). Written once: the
-- figures (icone_counter_delta) and the observations cannot disagree.
CREATE FUNCTION icone_counter_step_kind(v0 double precision, v double precision,
                                        modulus double precision)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN v >= v0 THEN 'forward'
                WHEN modulus IS NOT NULL AND v0 - v > modulus / 2 THEN 'rollover'
                WHEN v >= 0 AND v < 0.1 * v0 THEN 'reset'
                ELSE 'step_back'
           END
$$;

-- The consumption of a step (one SQL expression: inlined by the planner, no call per row).
CREATE OR REPLACE FUNCTION icone_counter_delta(v0 double precision, v double precision,
                                               modulus double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE icone_counter_step_kind(v0, v, modulus)
                WHEN 'rollover' THEN v + modulus - v0
                WHEN 'reset' THEN v
                ELSE v - v0
           END
$$;

-- True when no decrease between two values within [lo, hi] can be a reset or a rollover
-- (the conditions of icone_counter_step_kind at their extremes): a day whose readings stay
-- in that range nets to last - first.
CREATE FUNCTION icone_counter_span_is_plain(lo double precision, hi double precision,
                                            modulus double precision)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT lo >= 0.1 * hi AND (modulus IS NULL OR hi - lo <= modulus / 2)
$$;

-- Device-days whose rollup rows may miss rows (see the header): every register of the
-- device on that day is read from raw readings. One row per device rather than per register:
-- a batch of late rows costs one probe per device. `day` is the Europe/Paris day's start (the
-- daily aggregate's bucket); `epoch` the refresh epoch it was written in.
CREATE SEQUENCE rollup_refresh_epoch;
SELECT setval('rollup_refresh_epoch', 1);    -- called: the next epoch is 2, above what writers read
CREATE TABLE rollup_invalidations (
    dev_eui text NOT NULL,
    day     timestamptz NOT NULL,
    epoch   bigint NOT NULL,
    PRIMARY KEY (dev_eui, day)
);

-- Writers hold this advisory lock shared from their trigger to their commit; a refresh
-- waits for them by taking it exclusively (the key is arbitrary, fixed: "ICONE_RI").
CREATE FUNCTION icone_invalidation_lock_key()
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 5288912838758033737::bigint
$$;

CREATE FUNCTION icone_invalidate_rollups()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.time < now() - icone_rollup_margin() / 2)
    THEN
        RETURN NULL;    -- live rows only: nothing to invalidate
    END IF;
    -- the lock first, then the epoch (a refresh that starts a new epoch waits for this
    -- transaction, or this transaction reads the new epoch)
    PERFORM pg_advisory_xact_lock_shared(icone_invalidation_lock_key());
    SELECT last_value INTO e FROM rollup_refresh_epoch;
    -- per device its first and last late row, then the days between them (one, nearly
    -- always): no time zone conversion per row
    INSERT INTO rollup_invalidations AS i (dev_eui, day, epoch)
    SELECT k.dev_eui, k.day, e
    FROM (SELECT n.dev_eui, min(n.time) AS t0, max(n.time) AS t1
          FROM new_rows n
          WHERE n.time < now() - icone_rollup_margin() / 2
          GROUP BY n.dev_eui) r
    CROSS JOIN LATERAL generate_series(
        icone_bucket_start('day', r.t0) AT TIME ZONE 'Europe/Paris',
        icone_bucket_start('day', r.t1) AT TIME ZONE 'Europe/Paris', interval '1 day') d (day)
    CROSS JOIN LATERAL (SELECT r.dev_eui, d.day AT TIME ZONE 'Europe/Paris' AS day) k
    WHERE NOT EXISTS (SELECT 1 FROM rollup_invalidations x
                      WHERE x.dev_eui = k.dev_eui AND x.day = k.day AND x.epoch >= e)
    ON CONFLICT (dev_eui, day) DO UPDATE SET epoch = excluded.epoch
        WHERE i.epoch < excluded.epoch;
    RETURN NULL;
END $$;

-- Starts a refresh epoch and returns it once no writer of an older epoch is in progress:
-- the invalidations with a lower epoch are then all committed, with their rows.
CREATE FUNCTION icone_begin_rollup_refresh()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    e bigint := nextval('rollup_refresh_epoch');    -- seen by every session at once
BEGIN
    PERFORM pg_advisory_lock(icone_invalidation_lock_key());
    PERFORM pg_advisory_unlock(icone_invalidation_lock_key());
    RETURN e;
END $$;

-- INSERT and COPY (the writer), UPDATE (a corrected value). Not DELETE: retention deletes
-- raw rows on purpose and the rollups keep their figures.
CREATE TRIGGER measurements_invalidate_rollups_insert AFTER INSERT ON measurements
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION icone_invalidate_rollups();
CREATE TRIGGER measurements_invalidate_rollups_update AFTER UPDATE ON measurements
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION icone_invalidate_rollups();

-- The daily aggregate as of now: the registers of invalidated device-days recomputed from raw
-- readings.
CREATE VIEW measurements_daily_current AS
SELECT a.bucket, a.dev_eui, a.metric, a.channel, a.n, a.min_v, a.max_v, a.avg_v, a.sum_v,
       a.first_v, a.first_t, a.last_v, a.last_t
FROM measurements_daily a
WHERE NOT EXISTS (SELECT 1 FROM rollup_invalidations i
                  WHERE i.dev_eui = a.dev_eui AND i.day = a.bucket)
UNION ALL
SELECT i.day, i.dev_eui, r.metric, r.channel, r.n, r.min_v, r.max_v, r.avg_v, r.sum_v,
       r.first_v, r.first_t, r.last_v, r.last_t
FROM rollup_invalidations i
CROSS JOIN LATERAL (
    SELECT m.metric, m.channel, count(*) AS n, min(m.value) AS min_v, max(m.value) AS max_v,
           avg(m.value) AS avg_v, sum(m.value) AS sum_v,
           (min(ARRAY[icone_epoch(m.time), m.value]))[2] AS first_v, min(m.time) AS first_t,
           (max(ARRAY[icone_epoch(m.time), m.value]))[2] AS last_v, max(m.time) AS last_t
    FROM measurements m
    WHERE m.dev_eui = i.dev_eui
      AND m.time >= i.day AND m.time < icone_bucket_next('day', i.day)
    GROUP BY m.metric, m.channel
) r;

-- 0005's hour path; registers found in measurements_daily_current.
CREATE OR REPLACE FUNCTION icone_consumption_hours(
    p_from    timestamptz[],
    p_to      timestamptz[],
    p_site    text DEFAULT NULL,
    p_metric  text DEFAULT NULL,
    p_dev_eui text DEFAULT NULL
)
RETURNS TABLE (win integer, bucket timestamptz, dev_eui text, site_id text, metric text,
               channel text, consumption double precision, unit text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET timescaledb.enable_runtime_exclusion = off    -- see the header
AS $$
#variable_conflict use_column
DECLARE
    devs      text[];
    counters  text[];
    intervals text[];
    d_first   timestamptz;    -- first day of the earliest window
    -- the earliest start and the latest end of the windows: every scan of `measurements`
    -- is bounded by them too, so that TimescaleDB excludes the other chunks when the plan
    -- starts (with bounds taken from an outer row only, every chunk's scan is initialised,
    -- compressed ones included: ~15 ms per statement at scale 1)
    w_lo      timestamptz;
    w_hi      timestamptz;
    -- how far from a window its edge readings are looked for first (step 3)
    margin    constant interval := interval '1 day';
    fleet_probe_limit constant integer := 100;
    -- how far beyond each window the raw readings are read (step 2; 0004's measurements)
    reach     constant interval := interval '30 minutes';
    -- keys: one per (window, register), numbered by position
    k_win     integer[];
    k_dev     text[];
    k_metric  text[];
    k_channel text[];
    k_from    timestamptz[];
    k_to      timestamptz[];
    pt_k      integer[];    -- the readings of step 2: key, time, value
    pt_t      timestamptz[];
    pt_v      double precision[];
    miss_before integer[];    -- keys with no reading in the reach before their window
    miss_after  integer[];    -- and after it
    before_t  timestamptz[];    -- their edge readings, by position in miss_before / after
    before_v  double precision[];
    after_t   timestamptz[];
    after_v   double precision[];
    -- the registers of miss_before / miss_after, as columns: the lookups' conditions on
    -- them must be plain columns of the outer row, not array subscripts, for TimescaleDB to
    -- use a compressed chunk's segmentby index (with subscripts, every lookup decompressed
    -- all the chunk's batches of the time range: 25 s for 2 nights at the first reading)
    mb_dev    text[];
    mb_metric text[];
    mb_channel text[];
    ma_dev    text[];
    ma_metric text[];
    ma_channel text[];
    marked    boolean;
    fast      boolean;    -- step 4's fast path (see there)
    wi        integer;    -- step 3: the window at hand, and its bounds
    w_from    timestamptz;
    w_to      timestamptz;    -- some key has a technician's record (swap, commissioning)
BEGIN
    SELECT array_agg(d.dev_eui) INTO devs FROM devices d
    WHERE (p_site IS NULL OR d.site_id = p_site) AND (p_dev_eui IS NULL OR d.dev_eui = p_dev_eui);
    SELECT coalesce(array_agg(k.metric) FILTER (WHERE k.kind = 'counter'), '{}'),
           coalesce(array_agg(k.metric) FILTER (WHERE k.kind = 'interval'), '{}')
      INTO counters, intervals
    FROM metric_kinds k WHERE p_metric IS NULL OR k.metric = p_metric;
    IF devs IS NULL OR cardinality(p_from) = 0 THEN
        RETURN;
    END IF;
    SELECT min(f), max(t) INTO w_lo, w_hi FROM unnest(p_from, p_to) w (f, t);
    d_first := icone_bucket_start('day', w_lo);

    -- 1. the registers: those with a day row from the window's first day on (0004's rule,
    -- per window: max(bucket) tells which windows a register belongs to)
    IF cardinality(devs) <= fleet_probe_limit THEN
        SELECT coalesce(array_agg(w.i), '{}'),
               coalesce(array_agg(s.dev_eui), '{}'),
               coalesce(array_agg(s.metric), '{}'),
               coalesce(array_agg(s.channel), '{}'),
               coalesce(array_agg(w.f), '{}'),
               coalesce(array_agg(w.t), '{}')
          INTO k_win, k_dev, k_metric, k_channel, k_from, k_to
        FROM (SELECT a.dev_eui, a.metric, a.channel, max(a.bucket) AS last_day
              FROM measurements_daily_current a
              WHERE a.dev_eui = ANY (devs) AND a.metric = ANY (counters)
                AND a.bucket >= d_first
              GROUP BY a.dev_eui, a.metric, a.channel) s
        JOIN unnest(p_from, p_to) WITH ORDINALITY AS w (f, t, i)
          ON s.last_day >= icone_bucket_start('day', w.f);
    ELSE
        -- many devices (the whole fleet): one probe per metric instead of one per device
        SELECT coalesce(array_agg(w.i), '{}'),
               coalesce(array_agg(s.dev_eui), '{}'),
               coalesce(array_agg(s.metric), '{}'),
               coalesce(array_agg(s.channel), '{}'),
               coalesce(array_agg(w.f), '{}'),
               coalesce(array_agg(w.t), '{}')
          INTO k_win, k_dev, k_metric, k_channel, k_from, k_to
        FROM (SELECT a.dev_eui, a.metric, a.channel, max(a.bucket) AS last_day
              FROM measurements_daily_current a
              WHERE a.metric = ANY (counters) AND a.bucket >= d_first
              GROUP BY a.dev_eui, a.metric, a.channel) s
        JOIN unnest(devs) AS d (dev_eui) ON d.dev_eui = s.dev_eui
        JOIN unnest(p_from, p_to) WITH ORDINALITY AS w (f, t, i)
          ON s.last_day >= icone_bucket_start('day', w.f);
    END IF;

    -- 2. the raw readings of each key's window widened by `reach` on both sides, one exact
    -- index range per key (0004's read; the overall bounds are for startup exclusion, see
    -- the header). Kept in arrays for the statements that use them; the extra readings only
    -- add deltas outside the windows, which step 4's filter drops.
    WITH keys AS MATERIALIZED (
        SELECT k.k::integer AS k, k.dev_eui, k.metric, k.channel, k.f, k.t
        FROM unnest(k_dev, k_metric, k_channel, k_from, k_to) WITH ORDINALITY
             AS k (dev_eui, metric, channel, f, t, k)
    ),
    p AS MATERIALIZED (
        SELECT k.k AS reg, r.t, r.v
        FROM keys k
        CROSS JOIN LATERAL (
            SELECT m.time AS t, m.value AS v FROM measurements m
            WHERE m.dev_eui = k.dev_eui AND m.metric = k.metric AND m.channel = k.channel
              AND m.time >= k.f - reach AND m.time < k.t + reach
              AND m.time >= w_lo - reach AND m.time < w_hi + reach
            OFFSET 0    -- kept a lateral scan: as a join it read every device's rows
        ) r
    )
    -- (one pass over them for the arrays, sorted by key and time for step 4's fast path:
    -- one sort of rows read in nearly that order, which the aggregates consume in order;
    -- one for the keys missing an edge; whether any key has a technician's record)
    SELECT a.reg, a.t, a.v, b.miss_before, b.miss_after, c.marked
    FROM (SELECT coalesce(array_agg(p.reg), '{}') AS reg, coalesce(array_agg(p.t), '{}') AS t,
                 coalesce(array_agg(p.v), '{}') AS v
          FROM (SELECT p.reg, p.t, p.v FROM p ORDER BY p.reg, p.t) p) a,
         (SELECT coalesce(array_agg(s.k) FILTER (WHERE x.has_before IS NOT TRUE), '{}')
                     AS miss_before,
                 coalesce(array_agg(s.k) FILTER (WHERE x.has_after IS NOT TRUE), '{}')
                     AS miss_after
          FROM keys s
          LEFT JOIN (SELECT p.reg, bool_or(p.t < k_from[p.reg]) AS has_before,
                            bool_or(p.t >= k_to[p.reg]) AS has_after
                     FROM p GROUP BY p.reg) x ON x.reg = s.k) b,
         (SELECT EXISTS (SELECT 1 FROM meter_swaps w JOIN keys s
                           ON s.dev_eui = w.dev_eui AND s.metric = w.metric
                          AND s.channel = w.channel)
                 OR EXISTS (SELECT 1 FROM counter_registers r JOIN keys s
                              ON s.dev_eui = r.dev_eui AND s.metric = r.metric
                             AND s.channel = r.channel
                            WHERE r.commissioned_at IS NOT NULL
                              AND r.index_at_commissioning IS NOT NULL) AS marked) c
      INTO pt_k, pt_t, pt_v, miss_before, miss_after, marked;

    -- 3. the edge readings of the keys with none in the reach: within `margin` of the
    -- window first, then beyond it, however old (or new), for those still without.
    -- Statements of their own, run only when some key needs them, window by window with
    -- 0004's statements (its bounds are parameters: startup exclusion, and the plans 0004
    -- was measured with; bounds from the outer row chose a plan that decompressed a whole
    -- chunk per register: 0.3 -> 20 s for a window before the first reading).
    -- Results by position in miss_*.
    IF cardinality(miss_before) > 0 THEN
        SELECT array_agg(k_dev[x.k] ORDER BY x.i), array_agg(k_metric[x.k] ORDER BY x.i),
               array_agg(k_channel[x.k] ORDER BY x.i)
          INTO mb_dev, mb_metric, mb_channel
        FROM unnest(miss_before) WITH ORDINALITY AS x (k, i);
        before_t := array_fill(NULL::timestamptz, ARRAY[cardinality(miss_before)]);
        before_v := array_fill(NULL::double precision, ARRAY[cardinality(miss_before)]);
        FOR wi IN 1 .. cardinality(p_from) LOOP
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM unnest(miss_before) s (k) WHERE k_win[s.k] = wi);
            w_from := p_from[wi];
            SELECT array_agg(coalesce(before_t[s.i], b.t) ORDER BY s.i),
                   array_agg(coalesce(before_v[s.i], b.v) ORDER BY s.i)
              INTO before_t, before_v
            FROM unnest(miss_before, mb_dev, mb_metric, mb_channel) WITH ORDINALITY
                 AS s (k, dev_eui, metric, channel, i)
            LEFT JOIN LATERAL (
                SELECT m.time AS t, m.value AS v FROM measurements m
                WHERE k_win[s.k] = wi
                  AND m.dev_eui = s.dev_eui AND m.metric = s.metric
                  AND m.channel = s.channel
                  AND m.time >= w_from - margin AND m.time < w_from
                ORDER BY m.time DESC LIMIT 1
            ) b ON true;
            IF EXISTS (SELECT 1 FROM unnest(miss_before, before_t) x (k, t)
                       WHERE k_win[x.k] = wi AND x.t IS NULL) THEN
                SELECT array_agg(coalesce(before_t[s.i], b.t) ORDER BY s.i),
                       array_agg(coalesce(before_v[s.i], b.v) ORDER BY s.i)
                  INTO before_t, before_v
                FROM unnest(miss_before, mb_dev, mb_metric, mb_channel) WITH ORDINALITY
                     AS s (k, dev_eui, metric, channel, i)
                LEFT JOIN LATERAL (
                    SELECT m.time AS t, m.value AS v FROM measurements m
                    WHERE k_win[s.k] = wi AND before_t[s.i] IS NULL
                      AND m.dev_eui = s.dev_eui AND m.metric = s.metric
                      AND m.channel = s.channel
                      AND m.time < w_from - margin
                    ORDER BY m.time DESC LIMIT 1
                ) b ON true;
            END IF;
        END LOOP;
    END IF;
    IF cardinality(miss_after) > 0 THEN
        SELECT array_agg(k_dev[x.k] ORDER BY x.i), array_agg(k_metric[x.k] ORDER BY x.i),
               array_agg(k_channel[x.k] ORDER BY x.i)
          INTO ma_dev, ma_metric, ma_channel
        FROM unnest(miss_after) WITH ORDINALITY AS x (k, i);
        after_t := array_fill(NULL::timestamptz, ARRAY[cardinality(miss_after)]);
        after_v := array_fill(NULL::double precision, ARRAY[cardinality(miss_after)]);
        FOR wi IN 1 .. cardinality(p_from) LOOP
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM unnest(miss_after) s (k) WHERE k_win[s.k] = wi);
            w_to := p_to[wi];
            SELECT array_agg(coalesce(after_t[s.i], a.t) ORDER BY s.i),
                   array_agg(coalesce(after_v[s.i], a.v) ORDER BY s.i)
              INTO after_t, after_v
            FROM unnest(miss_after, ma_dev, ma_metric, ma_channel) WITH ORDINALITY
                 AS s (k, dev_eui, metric, channel, i)
            LEFT JOIN LATERAL (
                SELECT m.time AS t, m.value AS v FROM measurements m
                WHERE k_win[s.k] = wi
                  AND m.dev_eui = s.dev_eui AND m.metric = s.metric
                  AND m.channel = s.channel
                  AND m.time >= w_to AND m.time < w_to + margin
                ORDER BY m.time ASC LIMIT 1
            ) a ON true;
            IF EXISTS (SELECT 1 FROM unnest(miss_after, after_t) x (k, t)
                       WHERE k_win[x.k] = wi AND x.t IS NULL) THEN
                SELECT array_agg(coalesce(after_t[s.i], a.t) ORDER BY s.i),
                       array_agg(coalesce(after_v[s.i], a.v) ORDER BY s.i)
                  INTO after_t, after_v
                FROM unnest(miss_after, ma_dev, ma_metric, ma_channel) WITH ORDINALITY
                     AS s (k, dev_eui, metric, channel, i)
                LEFT JOIN LATERAL (
                    SELECT m.time AS t, m.value AS v FROM measurements m
                    WHERE k_win[s.k] = wi AND after_t[s.i] IS NULL
                      AND m.dev_eui = s.dev_eui AND m.metric = s.metric
                      AND m.channel = s.channel
                      AND m.time >= w_to + margin
                    ORDER BY m.time ASC LIMIT 1
                ) a ON true;
            END IF;
        END LOOP;
    END IF;

    -- 4. the figures (0004's statement, per key instead of per register)
    fast := NOT marked AND cardinality(miss_before) = 0 AND cardinality(miss_after) = 0;
    RETURN QUERY
    WITH keys AS MATERIALIZED (
        SELECT s.k::integer AS k, s.win, s.dev_eui, s.metric, s.channel, s.f, s.t, r.modulus
        FROM unnest(k_win, k_dev, k_metric, k_channel, k_from, k_to) WITH ORDINALITY
             AS s (win, dev_eui, metric, channel, f, t, k)
        LEFT JOIN counter_registers r
          ON r.dev_eui = s.dev_eui AND r.metric = s.metric AND r.channel = s.channel
    ),
    -- technician records; o orders points at one instant, `cut`: a new meter starts here
    marks AS MATERIALIZED (
        SELECT s.k, w.swapped_at AS t, w.old_final_index AS v, 0 AS o, false AS cut
        FROM meter_swaps w JOIN keys s
          ON s.dev_eui = w.dev_eui AND s.metric = w.metric AND s.channel = w.channel
        WHERE w.old_final_index IS NOT NULL
        UNION ALL
        SELECT s.k, w.swapped_at, w.new_initial_index, 1, true
        FROM meter_swaps w JOIN keys s
          ON s.dev_eui = w.dev_eui AND s.metric = w.metric AND s.channel = w.channel
        UNION ALL
        SELECT s.k, c.commissioned_at, c.index_at_commissioning, 1, false
        FROM counter_registers c JOIN keys s
          ON s.dev_eui = c.dev_eui AND s.metric = c.metric AND s.channel = c.channel
        WHERE c.commissioned_at IS NOT NULL AND c.index_at_commissioning IS NOT NULL
    ),
    points AS (
        -- the raw readings of the widened windows (step 2)...
        SELECT p.k, p.t, p.v, 2 AS o, false AS cut
        FROM unnest(pt_k, pt_t, pt_v) AS p (k, t, v)
        UNION ALL
        -- ...the edge readings found beyond them (step 3)...
        SELECT e.k, e.t, e.v, 2, false
        FROM unnest(miss_before, before_t, before_v) AS e (k, t, v)
        WHERE e.t IS NOT NULL
        UNION ALL
        SELECT e.k, e.t, e.v, 2, false
        FROM unnest(miss_after, after_t, after_v) AS e (k, t, v)
        WHERE e.t IS NOT NULL
        UNION ALL
        -- ...and the technician's records
        SELECT m.k, m.t, m.v, m.o, m.cut FROM marks m
    ),
    deltas AS (
        SELECT l.k, l.t0, l.t, icone_counter_delta(l.v0, l.v, s.modulus) AS delta,
               icone_bucket_start('hour', l.t0) AS b0
        FROM (
            -- each point and the one before it, same key: in general ordered by a window
            -- over all points...
            SELECT l.k, l.t, l.v, l.t0, l.v0
            FROM (
                SELECT p.k, p.t, p.v, p.cut, lag(p.t) OVER w AS t0, lag(p.v) OVER w AS v0
                FROM points p
                WINDOW w AS (PARTITION BY p.k ORDER BY p.t, p.o)
            ) l
            WHERE NOT fast AND l.t0 IS NOT NULL AND NOT l.cut
            UNION ALL
            -- ...but when the points are step 2's readings alone (no edge found beyond the
            -- reach, no technician's record: the usual case), they are in step 2's arrays
            -- already sorted by key and time, one reading per instant: neighbours there.
            -- Same pairs as the window, without its sort and per-row stores (~1/3 of
            -- this statement at scale 1).
            SELECT pt_k[i], pt_t[i], pt_v[i], pt_t[i - 1], pt_v[i - 1]
            FROM generate_series(2, cardinality(pt_k)) i
            WHERE fast AND pt_k[i] = pt_k[i - 1]
        ) l
        JOIN keys s ON s.k = l.k
        WHERE l.t >= s.f AND l.t0 < s.t
    ),
    shares AS (
        -- a delta within one hour goes to it whole (the usual case: it ends by the end of
        -- its first hour, which is 0004's "the bucket of t - 1 us is b0")...
        SELECT d.k, d.b0 AS b, d.delta AS q
        FROM deltas d
        WHERE d.t <= d.b0 + interval '1 hour'
        UNION ALL
        -- ...one spanning hours is spread over them pro rata of time
        SELECT d.k, g.b,
               d.delta * (icone_epoch(least(d.t, g.b + interval '1 hour'))
                          - icone_epoch(greatest(d.t0, g.b)))
                       / (icone_epoch(d.t) - icone_epoch(d.t0))
        FROM deltas d
        CROSS JOIN LATERAL generate_series(
            d.b0, icone_bucket_start('hour', d.t - interval '1 microsecond'),
            interval '1 hour') g (b)
        WHERE d.t > d.b0 + interval '1 hour'
    ),
    totals AS (
        SELECT s.win, s.dev_eui, s.metric, s.channel, x.b, x.q
        FROM (SELECT sh.k, sh.b, sum(sh.q) AS q FROM shares sh GROUP BY sh.k, sh.b) x
        JOIN keys s ON s.k = x.k
        WHERE x.b >= s.f AND x.b < s.t
        UNION ALL
        SELECT w.i::integer, m.dev_eui, m.metric, m.channel, m.b, m.q
        FROM unnest(p_from, p_to) WITH ORDINALITY AS w (f, t, i)
        CROSS JOIN LATERAL (
            SELECT m.dev_eui, m.metric, m.channel, icone_bucket_start('hour', m.time) AS b,
                   sum(m.value) AS q
            FROM measurements m
            WHERE m.dev_eui = ANY (devs) AND m.metric = ANY (intervals)
              AND m.time >= w.f AND m.time < w.t AND m.time >= w_lo AND m.time < w_hi
            GROUP BY 1, 2, 3, 4
        ) m
        WHERE cardinality(intervals) > 0
    )
    SELECT x.win, x.b, x.dev_eui, d.site_id, x.metric, x.channel, x.q, k.unit
    FROM totals x
    JOIN devices d ON d.dev_eui = x.dev_eui
    JOIN metric_kinds k ON k.metric = x.metric;
END $$;

-- 0005's function; day and month buckets from measurements_daily_current (see the header).
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
        ORDER BY h.dev_eui, h.metric, h.channel, h.bucket;
        RETURN;
    END IF;

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
            SELECT a.last_t, a.last_v FROM measurements_daily_current a
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

-- Data-quality observations: every step of a counter register in [p_from, p_to) that the
-- rule above did not count as forward movement (kind reset, rollover or step_back), and every
-- recorded swap (kind swap). `previous` and `value` are the step's two points, `size` what
-- the figures counted for it (icone_counter_delta: the consumption of a reset or a
-- rollover, the negative drop netted for a step back); a swap has previous = the old
-- meter's final index, value = the new meter's initial index, size NULL (the series is cut:
-- nothing is counted across it). The points are those of icone_consumption (readings, the
-- technician's records), so a step seen here is the step the figures used.
CREATE FUNCTION icone_counter_observations(
    p_from    timestamptz,
    p_to      timestamptz,
    p_site    text DEFAULT NULL,
    p_dev_eui text DEFAULT NULL
)
RETURNS TABLE (dev_eui text, site_id text, metric text, channel text, "time" timestamptz,
               kind text, previous double precision, value double precision,
               size double precision, unit text)
LANGUAGE plpgsql STABLE
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    devs     text[];
    counters text[];
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'icone_counter_observations: empty or open window [%, %)', p_from, p_to
            USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(d.dev_eui) INTO devs FROM devices d
    WHERE (p_site IS NULL OR d.site_id = p_site) AND (p_dev_eui IS NULL OR d.dev_eui = p_dev_eui);
    SELECT coalesce(array_agg(k.metric), '{}') INTO counters
    FROM metric_kinds k WHERE k.kind = 'counter';
    IF devs IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH series AS MATERIALIZED (
        SELECT s.dev_eui, s.metric, s.channel, (row_number() OVER ())::integer AS reg, r.modulus
        FROM (SELECT DISTINCT m.dev_eui, m.metric, m.channel FROM measurements m
              WHERE m.dev_eui = ANY (devs) AND m.metric = ANY (counters)
                AND m.time >= p_from AND m.time < p_to
              UNION
              SELECT w.dev_eui, w.metric, w.channel FROM meter_swaps w
              WHERE w.dev_eui = ANY (devs) AND w.metric = ANY (counters)
                AND w.swapped_at >= p_from AND w.swapped_at < p_to) s
        LEFT JOIN counter_registers r
          ON r.dev_eui = s.dev_eui AND r.metric = s.metric AND r.channel = s.channel
    ),
    -- technician records, as in icone_consumption: k orders points at one instant, `cut`:
    -- a new meter starts here
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
        -- the readings of the window, the last one before it...
        SELECT s.reg, r.t, r.v, 2 AS k, false AS cut
        FROM series s
        CROSS JOIN LATERAL (
            SELECT m.time AS t, m.value AS v FROM measurements m
            WHERE m.dev_eui = s.dev_eui AND m.metric = s.metric AND m.channel = s.channel
              AND m.time >= p_from AND m.time < p_to
            UNION ALL
            (SELECT m.time, m.value FROM measurements m
             WHERE m.dev_eui = s.dev_eui AND m.metric = s.metric AND m.channel = s.channel
               AND m.time < p_from
             ORDER BY m.time DESC LIMIT 1)
        ) r
        UNION ALL
        -- ...and the technician's records
        SELECT m.reg, m.t, m.v, m.k, m.cut FROM marks m WHERE m.t < p_to
    ),
    steps AS (
        SELECT l.reg, l.t, l.v0, l.v, icone_counter_step_kind(l.v0, l.v, s.modulus) AS kind,
               icone_counter_delta(l.v0, l.v, s.modulus) AS size
        FROM (
            SELECT p.reg, p.t, p.v, p.cut, lag(p.v) OVER w AS v0
            FROM points p
            WINDOW w AS (PARTITION BY p.reg ORDER BY p.t, p.k)
        ) l
        JOIN series s ON s.reg = l.reg
        WHERE l.v0 IS NOT NULL AND NOT l.cut AND l.t >= p_from
    ),
    found AS (
        SELECT s.dev_eui, s.metric, s.channel, x.t, x.kind, x.v0, x.v, x.size
        FROM steps x JOIN series s ON s.reg = x.reg
        WHERE x.kind <> 'forward'
        UNION ALL
        SELECT w.dev_eui, w.metric, w.channel, w.swapped_at, 'swap', w.old_final_index,
               w.new_initial_index, NULL::double precision
        FROM meter_swaps w
        WHERE w.dev_eui = ANY (devs) AND w.metric = ANY (counters)
          AND w.swapped_at >= p_from AND w.swapped_at < p_to
    )
    SELECT f.dev_eui, d.site_id, f.metric, f.channel, f.t, f.kind, f.v0, f.v, f.size, k.unit
    FROM found f
    JOIN devices d ON d.dev_eui = f.dev_eui
    JOIN metric_kinds k ON k.metric = f.metric
    ORDER BY f.dev_eui, f.metric, f.channel, f.t, f.kind;
END $$;
