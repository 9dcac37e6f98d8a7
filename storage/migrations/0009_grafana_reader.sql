-- 0009 Grafana reader: the read-only role Grafana connects as, and the fleet views its
-- boards and alert rules read (both storage modes).
--
-- Roles belong to the cluster, not to a database: several databases of one cluster (the
-- tests create many) each run this migration, possibly at the same time. The role is created
-- once (a concurrent creation from another database is caught); the grants below are per
-- database and repeatable.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'icone_grafana') THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user
                       AND (rolsuper OR rolcreaterole)) THEN
            RAISE EXCEPTION 'the role icone_grafana does not exist and % may not create it',
                current_user
                USING HINT = 'as an administrator: CREATE ROLE icone_grafana LOGIN; '
                             'then run icone migrate again';
        END IF;
        BEGIN
            -- LOGIN without a password: it cannot log in with a password until the operator
            -- sets one (ALTER ROLE icone_grafana PASSWORD ..., docs/grafana.md).
            CREATE ROLE icone_grafana LOGIN NOINHERIT;
            ALTER ROLE icone_grafana SET default_transaction_read_only = on;
            ALTER ROLE icone_grafana SET statement_timeout = '30s';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by the same migration in another database
        END;
    END IF;
END $$;

-- Per device: the last uplink and its radio figures, the typical interval between its uplinks
-- (median gap over its last 20, so a device configured for 15 min and one for 6 h are each
-- judged by their own rhythm), how long it has been silent, and its last battery level.
-- `reporting`: heard within 3 of its intervals (24 h while fewer than 2 uplinks are known).
-- Lookups are bounded in time (400 days of uplinks, 30 days of battery) so a device that
-- never reported does not scan every chunk; such a device has last_seen NULL.
CREATE VIEW icone_device_activity AS
SELECT d.dev_eui, d.name, d.model, d.site_id, s.kind AS site_kind, d.role, d.status,
       last_up.time AS last_seen,
       last_up.rssi, last_up.snr, last_up.spreading_factor, last_up.gateway_count,
       gaps.median_interval_s,
       icone_epoch(now()) - icone_epoch(last_up.time) AS silent_s,
       coalesce(icone_epoch(now()) - icone_epoch(last_up.time)
                    <= 3 * coalesce(gaps.median_interval_s, 8 * 3600), false) AS reporting,
       bat.value AS battery_level, bat.time AS battery_at
FROM devices d
LEFT JOIN sites s ON s.id = d.site_id
LEFT JOIN LATERAL (
    SELECT u.time, u.rssi, u.snr, u.spreading_factor, u.gateway_count
    FROM uplinks u
    WHERE u.dev_eui = d.dev_eui AND u.time > now() - interval '400 days'
    ORDER BY u.time DESC LIMIT 1
) last_up ON true
LEFT JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap) AS median_interval_s
    FROM (
        SELECT icone_epoch(r.time) - icone_epoch(lead(r.time) OVER (ORDER BY r.time DESC)) AS gap
        FROM (SELECT u.time FROM uplinks u
              WHERE u.dev_eui = d.dev_eui AND u.time > now() - interval '400 days'
              ORDER BY u.time DESC LIMIT 21) r
    ) g
    WHERE g.gap IS NOT NULL
) gaps ON true
LEFT JOIN LATERAL (
    SELECT m.value, m.time
    FROM measurements m
    WHERE m.dev_eui = d.dev_eui AND m.metric = 'battery_level'
      AND m.time > now() - interval '30 days'
    ORDER BY m.time DESC LIMIT 1
) bat ON true;

-- The alarms carried by devices (leak, burst, backflow, dry, tamper, low battery...) whose
-- latest state is active: one row per device and code, since when it is active.
CREATE VIEW icone_active_alarms AS
SELECT e.dev_eui, d.site_id, e.code, e.time AS since, e.source, e.detail
FROM (
    SELECT DISTINCT ON (ev.dev_eui, ev.code) ev.dev_eui, ev.code, ev.time, ev.active,
           ev.source, ev.detail
    FROM device_events ev
    ORDER BY ev.dev_eui, ev.code, ev.time DESC
) e
JOIN devices d ON d.dev_eui = e.dev_eui
WHERE e.active;

-- The uplinks without their payload bytes, for radio and decoding panels. A view, not a
-- column-level grant: TimescaleDB copies grants to a hypertable's compressed twin, whose
-- columns differ, and a column grant fails there.
CREATE VIEW icone_uplink_radio AS
SELECT u.time, u.dev_eui, u.f_cnt, u.f_port, u.time_source, u.received_at, u.rssi, u.snr,
       u.gateway_count, u.gateway_ids, u.dr, u.spreading_factor, u.frequency, u.model,
       u.decode_status
FROM uplinks u;

-- What Grafana's role reads. The read functions (icone_consumption, icone_night_flow...) run
-- with their caller's rights, so the role reads the tables behind them; it never reads API
-- keys, the schema ledger, network events or payload bytes (uplinks through the view above,
-- dead letters by listed columns).
GRANT USAGE ON SCHEMA public TO icone_grafana;
GRANT SELECT ON sites, devices, metric_kinds, counter_registers, meter_swaps, emission_factors,
                icone_storage_state, measurements, measurements_hourly, measurements_daily,
                device_events, icone_device_activity, icone_active_alarms, icone_uplink_radio
    TO icone_grafana;
GRANT SELECT (id, received_at, last_seen_at, seen_count, topic, stage, reason, dev_eui,
              replayed_at)
    ON dead_letters TO icone_grafana;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO icone_grafana', current_database());
END $$;
