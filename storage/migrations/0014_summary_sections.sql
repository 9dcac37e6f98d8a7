-- 0014: the yearly summary by section. icone_summary (0012) takes the sections to compute
-- (energy, datacenter, water, fleet; NULL: all, in that order), so that a caller can compute
-- them on two connections at once: the API runs energy on one and the three others on
-- another (two CPU cores, the summary in about half the time). Each section's rows are
-- 0012's, unchanged (a section's NULL columns typed where no other row of its statement
-- gives their type); an unknown section is SQLSTATE 22023.
DROP FUNCTION icone_summary(integer, text[]);

CREATE FUNCTION icone_summary(p_year integer, p_sites text[] DEFAULT NULL,
                              p_sections text[] DEFAULT NULL)
RETURNS TABLE (section text, indicator text, scope text, period_start timestamptz,
               period_end timestamptz, figure double precision, unit text,
               coverage double precision, devices text, gap_days integer, factor text,
               method text)
LANGUAGE plpgsql STABLE SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    y0 timestamptz := make_date(p_year, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris';
    y1 timestamptz := make_date(p_year + 1, 1, 1)::timestamp AT TIME ZONE 'Europe/Paris';
    fleet_at timestamptz := least(now(), make_date(p_year + 1, 1, 1)::timestamp
                                         AT TIME ZONE 'Europe/Paris');
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_sections) s
               WHERE s IS NULL OR s NOT IN ('energy', 'datacenter', 'water', 'fleet')) THEN
        RAISE EXCEPTION 'icone_summary: sections are energy, datacenter, water and fleet, not %',
            p_sections USING ERRCODE = '22023';
    END IF;
    IF p_sections IS NULL OR 'energy' = ANY (p_sections) THEN
        RETURN QUERY
        WITH metropolis AS MATERIALIZED (    -- computed once, read by two rows
            SELECT * FROM icone_energy(y0, y1, 'year', 'metropolis', p_sites) e
            WHERE e.register_name = 'total'
        )
        SELECT 'energy', 'energy', e.scope, e.bucket, e.bucket_end, e.figure, e.unit, e.coverage,
               e.devices_contributing || '/' || e.devices_expected, e.gap_days, NULL, e.method
        FROM metropolis e
        UNION ALL
        SELECT 'energy', 'energy_per_m2', e.scope, e.bucket, e.bucket_end, e.figure_per_m2,
               e.unit || '/m²', e.coverage, e.devices_contributing || '/' || e.devices_expected,
               e.gap_days, NULL,
               'energy of the sites with a known floor area / their area ('
               || coalesce(e.floor_area_m2::text, 'no site with a floor area') || ' m²)'
        FROM metropolis e
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
        FROM icone_emissions(y0, y1, 'metropolis', p_sites) x;
    END IF;
    IF p_sections IS NULL OR 'datacenter' = ANY (p_sections) THEN
        RETURN QUERY
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
                                   ('ashrae_a1_share', a.a1_share)) AS i (indicator, figure);
    END IF;
    IF p_sections IS NULL OR 'water' = ANY (p_sections) THEN
        RETURN QUERY
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
        FROM icone_water_alerts(fleet_at, p_sites);
    END IF;
    IF p_sections IS NULL OR 'fleet' = ANY (p_sections) THEN
        RETURN QUERY
        SELECT 'fleet', i.indicator, 'metropolis', fleet_at, fleet_at, i.figure, 'devices',
               f.coverage, NULL, NULL::integer, NULL, f.method
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
    END IF;
END $$;
