-- 0003 storage queries: minimum night flow (domain.md §4.2, leak rule 2), both storage modes.
--
-- The night of local date D is [D 01:00, D 05:00) Europe/Paris: 4 hours, 3 on the spring DST
-- night (02:00 does not exist), 5 on the autumn one (02:00-03:00 happens twice). Hour
-- buckets are absolute hours and Paris offsets are whole hours, so the window is always a
-- whole number of hour buckets.
--
-- The figures come from icone_consumption (THE consumption: swaps, rollovers, resets and gaps
-- are handled there, never here), asked for each night window only: 4 hours of raw readings
-- per meter and night instead of whole days.

-- Per register (device, metric, channel) and night, among the `p_nights` nights ending with
-- the night of `p_nights_until`: the lowest hourly consumption in the window (`min_flow`, in
-- the metric's unit per hour), how many hours had a figure (`hours`) and how many the window
-- has (`window_hours`: 3, 4 or 5). A night the meter did not fully cover (it stopped
-- reporting, or the night is not over) has hours < window_hours: its minimum is over the
-- hours known so far. A register appears for a night only when it has a figure in it.
CREATE FUNCTION icone_night_flow(
    p_nights_until date,
    p_nights       integer DEFAULT 2,
    p_site         text DEFAULT NULL,
    p_metric       text DEFAULT 'water_volume_index'
)
RETURNS TABLE (night date, dev_eui text, site_id text, metric text, channel text,
               min_flow double precision, hours integer, window_hours integer, unit text)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    d date;
    w_from timestamptz;
    w_to timestamptz;
BEGIN
    IF p_nights_until IS NULL OR p_nights IS NULL OR p_nights < 1 THEN
        RAISE EXCEPTION 'icone_night_flow: need a last night and at least one night'
            USING ERRCODE = '22023';
    END IF;
    FOR i IN REVERSE p_nights - 1 .. 0 LOOP
        d := p_nights_until - i;
        -- timestamp (local wall clock) -> timestamptz: 01:00 and 05:00 exist on every date
        w_from := (d + time '01:00') AT TIME ZONE 'Europe/Paris';
        w_to := (d + time '05:00') AT TIME ZONE 'Europe/Paris';
        -- one call per night: a multi-night window would read the daytime readings too
        RETURN QUERY
        SELECT d, c.dev_eui, c.site_id, c.metric, c.channel, min(c.consumption),
               count(*)::integer,
               (icone_epoch(w_to) - icone_epoch(w_from))::integer / 3600,
               min(c.unit) || '/h'
        FROM icone_consumption(w_from, w_to, 'hour', p_site, p_metric) c
        WHERE c.bucket >= w_from AND c.bucket < w_to
        GROUP BY c.dev_eui, c.site_id, c.metric, c.channel
        ORDER BY c.dev_eui, c.metric, c.channel;
    END LOOP;
END $$;

-- Leak rule 2 itself: the registers whose night minimum exceeded `p_threshold` (metric unit
-- per hour) on each of the `p_nights` consecutive nights ending with `p_nights_until`, every
-- one of them fully covered (an incomplete night cannot establish a minimum: its missing
-- hours might have been zero). `lowest_min_flow` is the smallest of those minimums.
CREATE FUNCTION icone_night_flow_high(
    p_nights_until date,
    p_threshold    double precision,
    p_nights       integer DEFAULT 2,
    p_site         text DEFAULT NULL,
    p_metric       text DEFAULT 'water_volume_index'
)
RETURNS TABLE (dev_eui text, site_id text, metric text, channel text,
               lowest_min_flow double precision, unit text)
LANGUAGE sql STABLE
AS $$
    SELECT f.dev_eui, f.site_id, f.metric, f.channel, min(f.min_flow), min(f.unit)
    FROM icone_night_flow(p_nights_until, p_nights, p_site, p_metric) f
    GROUP BY f.dev_eui, f.site_id, f.metric, f.channel
    HAVING count(*) FILTER (WHERE f.min_flow > p_threshold AND f.hours = f.window_hours)
           = p_nights
    ORDER BY f.dev_eui, f.metric, f.channel
$$;
