-- 0019: retention reaches the figures derived from the daily rows. The figure cache (0012:
-- per register and day or month), the thermal cache (per sensor and day) and the site cache
-- (0018: per site and day or month) kept their rows forever, while the daily rows they come
-- from follow the data class's daily horizon (3 years for personal points by default: the
-- CNIL's accepted retention for daily consumption data, docs/domain.md). icone_apply_retention
-- (0002) now removes, per class, the derived rows the daily horizon no longer allows:
--   * a device's day rows (figure and thermal caches) with its daily rows, its month rows once
--     the whole month is before the cutoff;
--   * a site's rows with the strictest class among its devices (the personal cutoff when it
--     has a personal device: a site row of a single personal meter is that meter's data),
--     its held days then starting after the cutoff (site_day_horizon.first_day).
-- Answers over the removed days have no figure from then on, cached or computed alike (their
-- daily rows are gone too). The function is 0002's otherwise.

CREATE OR REPLACE FUNCTION icone_apply_retention(p_now timestamptz, p_policy jsonb)
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
    cls text;            -- the derived figures' pass: a data class and its daily cutoff
    cut timestamptz;
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
    -- the figures derived from the daily rows (0012, 0018) are daily data of their devices'
    -- class: a device's day rows go with its daily rows (a day starting before the cutoff),
    -- its month rows once the whole month is before it; a site's rows once any device of
    -- the site could no longer have them (the personal cutoff if it has a personal device)
    FOR cls, cut IN
        SELECT c, p_now - (p_policy -> 'daily' ->> c)::interval
        FROM unnest(ARRAY['personal', 'non_personal']) AS c
    LOOP
        CONTINUE WHEN cut IS NULL;    -- kept without limit
        DELETE FROM figure_cache x
        WHERE CASE x.span WHEN 'day' THEN x.bucket < cut
                          ELSE icone_bucket_next('month', x.bucket) <= cut END
          AND (EXISTS (SELECT 1 FROM devices d WHERE d.dev_eui = x.dev_eui
                       AND d.data_class = 'non_personal')) = (cls = 'non_personal');
        GET DIAGNOSTICS n = ROW_COUNT;
        DELETE FROM thermal_cache x
        WHERE x.day < cut
          AND (EXISTS (SELECT 1 FROM devices d WHERE d.dev_eui = x.dev_eui
                       AND d.data_class = 'non_personal')) = (cls = 'non_personal');
        GET DIAGNOSTICS rows_removed = ROW_COUNT;
        -- one row for the device caches: the figure cache's rows and the thermal cache's
        target := 'figure_cache'; data_class := cls; cutoff := cut;
        rows_removed := rows_removed + n;
        RETURN NEXT;
        -- sites: the personal cutoff for a site with a personal device, the other for all
        WITH gone AS (
            DELETE FROM site_day_cache x
            WHERE CASE x.span WHEN 'day' THEN x.bucket < cut
                              ELSE icone_bucket_next('month', x.bucket) <= cut END
              AND (cls = 'non_personal' OR EXISTS (
                       SELECT 1 FROM devices d WHERE d.site_id = x.site_id
                       AND d.data_class <> 'non_personal'))
            RETURNING x.metric, x.site_id
        ),
        moved AS (
            UPDATE site_day_horizon h
            SET first_day = greatest(h.first_day, icone_bucket_ceil('day', cut))
            WHERE (h.metric, h.site_id) IN (SELECT g.metric, g.site_id FROM gone g)
        )
        SELECT count(*) INTO n FROM gone;
        target := 'site_day_cache'; data_class := cls; cutoff := cut; rows_removed := n;
        RETURN NEXT;
    END LOOP;
END $$;
