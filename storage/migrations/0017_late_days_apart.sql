-- 0017: the late-data branch of measurements_daily_current read through a function.
--
-- measurements_daily_current (0006) is the daily aggregate with each invalidated device-day
-- (late readings, rollup_invalidations) recomputed from the raw readings. That second branch
-- was a lateral subquery on `measurements`, so every plan reading the view held a scan of
-- each raw chunk (in TimescaleDB mode at scale 1: 53 compressed chunks, each a decompression
-- node over an index scan), and the indicator functions run generic plans
-- (force_generic_plan since 0002): such a plan initialises and shuts down every one of those
-- nodes at each execution, whether an invalidation exists or not (nearly always not: the
-- refresh clears them within the hour). Measured at scale 1 (TimescaleDB 2.22.1):
-- icone_consumption of one device over the day in progress, daily rows given, 8.5 ms -> 2.1;
-- the day in progress of 300 water meters 42.6 -> 32.2; icone_water, 30 days by day and site,
-- 104.6 -> 87.3 (medians of 10, docs/benchmarks.md).
--
-- Now the branch calls icone_day_from_readings(dev_eui, day), a PL/pgSQL function: a plan
-- holds one function call node, and the function plans its query on its first call only (a
-- late day reads one device's chunk through its (dev_eui, metric, channel, time) index). The
-- rows are the same: the same aggregate over the same readings.

-- The registers of one device over one Europe/Paris day, from its raw readings, as a row of
-- the daily aggregate.
CREATE FUNCTION icone_day_from_readings(p_dev_eui text, p_day timestamptz)
RETURNS TABLE (metric text, channel text, n bigint, min_v double precision,
               max_v double precision, avg_v double precision, sum_v double precision,
               first_v double precision, first_t timestamptz, last_v double precision,
               last_t timestamptz)
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT m.metric, m.channel, count(*), min(m.value), max(m.value), avg(m.value),
           sum(m.value), (min(ARRAY[icone_epoch(m.time), m.value]))[2], min(m.time),
           (max(ARRAY[icone_epoch(m.time), m.value]))[2], max(m.time)
    FROM measurements m
    WHERE m.dev_eui = p_dev_eui
      AND m.time >= p_day AND m.time < icone_bucket_next('day', p_day)
    GROUP BY m.metric, m.channel;
END $$;

-- 0006's view, its second branch through the function (same columns, same rows).
CREATE OR REPLACE VIEW measurements_daily_current AS
SELECT a.bucket, a.dev_eui, a.metric, a.channel, a.n, a.min_v, a.max_v, a.avg_v, a.sum_v,
       a.first_v, a.first_t, a.last_v, a.last_t
FROM measurements_daily a
WHERE NOT EXISTS (SELECT 1 FROM rollup_invalidations i
                  WHERE i.dev_eui = a.dev_eui AND i.day = a.bucket)
UNION ALL
SELECT i.day, i.dev_eui, r.metric, r.channel, r.n, r.min_v, r.max_v, r.avg_v, r.sum_v,
       r.first_v, r.first_t, r.last_v, r.last_t
FROM rollup_invalidations i
CROSS JOIN LATERAL icone_day_from_readings(i.dev_eui, i.day) r;
