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

-- Per device: the last uplink and its radio figures, how long it has been silent, in seconds
-- and in uplink intervals of its model (device_models, from the catalogue), and its last
-- battery level. Whether a device counts as reporting is icone_fleet's definition (0008);
-- this view only describes each device. Lookups are bounded in time (400 days of uplinks,
-- 30 days of battery) so a device that never reported does not scan every chunk; such a
-- device has last_seen NULL.
CREATE VIEW icone_device_activity AS
SELECT d.dev_eui, d.name, d.model, d.site_id, s.kind AS site_kind, d.role, d.status,
       d.location, m.category, m.uplink_interval_s,
       last_up.time AS last_seen,
       last_up.rssi, last_up.snr, last_up.spreading_factor, last_up.gateway_count,
       icone_epoch(now()) - icone_epoch(last_up.time) AS silent_s,
       (icone_epoch(now()) - icone_epoch(last_up.time)) / m.uplink_interval_s
           AS silent_intervals,
       bat.value AS battery_level, bat.time AS battery_at
FROM devices d
LEFT JOIN sites s ON s.id = d.site_id
LEFT JOIN device_models m ON m.model = d.model
LEFT JOIN LATERAL (
    SELECT u.time, u.rssi, u.snr, u.spreading_factor, u.gateway_count
    FROM uplinks u
    WHERE u.dev_eui = d.dev_eui AND u.time > now() - interval '400 days'
    ORDER BY u.time DESC LIMIT 1
) last_up ON true
LEFT JOIN LATERAL (
    SELECT b.value, b.time
    FROM measurements b
    WHERE b.dev_eui = d.dev_eui AND b.metric = 'battery_level'
      AND b.time > now() - interval '30 days'
    ORDER BY b.time DESC LIMIT 1
) bat ON true;

-- The alarms carried by devices (leak, burst, backflow, dry, tamper, low battery...) whose
-- latest state is active: one row per device and code, since when it is active. Per device
-- through its (dev_eui, code, time) index, over the last 400 days of events.
CREATE VIEW icone_active_alarms AS
SELECT d.dev_eui, d.site_id, e.code, e.time AS since, e.source, e.detail
FROM devices d
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (x.code) x.code, x.time, x.active, x.source, x.detail
    FROM device_events x
    WHERE x.dev_eui = d.dev_eui AND x.time > now() - interval '400 days'
    ORDER BY x.code, x.time DESC
) e
WHERE e.active;

-- What Grafana's role reads. The read functions (icone_consumption, icone_fleet...) run with
-- their caller's rights, so the role reads the tables behind them, uplinks included (their
-- payload bytes say no more than the measurements decoded from them). It never reads API
-- keys, the schema ledger, network events, or dead letters' bytes (listed columns: a
-- column-level grant, which TimescaleDB would refuse on a compressed hypertable, is fine on
-- this plain table).
GRANT USAGE ON SCHEMA public TO icone_grafana;
GRANT SELECT ON sites, devices, metric_kinds, counter_registers, meter_swaps, emission_factors,
                icone_storage_state, measurements, measurements_hourly, measurements_daily,
                measurements_daily_current, device_events, device_models, datacenter_metering,
                ashrae_envelopes, uplinks, icone_device_activity, icone_active_alarms
    TO icone_grafana;
GRANT SELECT (id, received_at, last_seen_at, seen_count, topic, stage, reason, dev_eui,
              replayed_at)
    ON dead_letters TO icone_grafana;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO icone_grafana', current_database());
END $$;
