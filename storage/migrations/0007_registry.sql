-- 0007 registry: what registering sites and devices through the API needs.
--
-- * `version` on sites and devices: the optimistic-concurrency counter behind the API's ETag
--   (bumped by every update; an If-Match naming an older version is refused).
-- * devices: JoinEUI, coordinates, ChirpStack provisioning state. `off` = ChirpStack not
--   configured when the device was registered; `pending` = registered here, not (fully) in
--   ChirpStack yet (a retry completes it); `done` = ChirpStack has the device and its keys;
--   `disabled` = retired here and disabled there.
-- * device_keys: the OTAA AppKey, kept only until ChirpStack holds it (a pending retry needs
--   it); no API answer or audit row ever contains it.
-- * audit_log: every registry change, append-only (a trigger refuses UPDATE, DELETE and
--   TRUNCATE); `old_value` / `new_value` are the public rows, which have no AppKey, and a
--   CHECK refuses one anyway.
-- * api_keys: names unique among live keys. Duplicate names of existing keys are renamed
--   "<name> (<id>)", oldest kept, and each rename is audited.

ALTER TABLE sites
    ADD COLUMN latitude   double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude  double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN version    integer NOT NULL DEFAULT 1;

ALTER TABLE devices
    ADD COLUMN join_eui           text CHECK (join_eui ~ '^[0-9a-f]{16}$'),
    ADD COLUMN latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN provisioning       text NOT NULL DEFAULT 'off'
        CHECK (provisioning IN ('off', 'pending', 'done', 'disabled')),
    ADD COLUMN provisioning_error text,
    ADD COLUMN provisioned_at     timestamptz,
    ADD COLUMN retired_at         timestamptz,
    ADD COLUMN version            integer NOT NULL DEFAULT 1;

CREATE TABLE device_keys (
    dev_eui text PRIMARY KEY REFERENCES devices (dev_eui) ON DELETE CASCADE,
    app_key text NOT NULL CHECK (app_key ~ '^[0-9a-f]{32}$')
);

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,          -- "key:<id> <name>" for the API, "cli:<user>" for the CLI
    entity    text NOT NULL CHECK (entity IN
                  ('site', 'device', 'api_key', 'meter_swap', 'counter_register')),
    entity_id text NOT NULL,
    action    text NOT NULL,          -- create, update, retire, provision, revoke, rename...
    old_value jsonb,
    new_value jsonb,
    CHECK (NOT (coalesce(old_value, '{}') ? 'app_key' OR coalesce(new_value, '{}') ? 'app_key'))
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, at DESC);

CREATE FUNCTION icone_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = '42501';
END;
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION icone_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION icone_audit_log_append_only();

WITH renamed AS (
    UPDATE api_keys k SET name = k.name || ' (' || k.id || ')'
    FROM (SELECT id, row_number() OVER (PARTITION BY name ORDER BY created_at, id) AS n
          FROM api_keys WHERE revoked_at IS NULL) d
    WHERE d.id = k.id AND d.n > 1
    RETURNING k.id, k.name
)
INSERT INTO audit_log (actor, entity, entity_id, action, new_value)
SELECT 'migration:0007', 'api_key', id, 'rename', jsonb_build_object('name', name) FROM renamed;

CREATE UNIQUE INDEX api_keys_live_name_idx ON api_keys (name) WHERE revoked_at IS NULL;

-- Link quality, for technicians (docs/registry.md). The SNR below which LoRa cannot
-- demodulate a packet of spreading factor SF (Semtech SX1276/77/78/79 datasheet, "LoRa modem
-- demodulator SNR"): -7.5 dB at SF7, 2.5 dB lower per SF step, -20 dB at SF12.
CREATE FUNCTION icone_lora_snr_floor(p_sf integer) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_sf BETWEEN 7 AND 12 THEN -7.5 - 2.5 * (p_sf - 7) END
$$;

-- good: SNR at least 10 dB above the floor (ChirpStack ADR's default installation margin)
-- and RSSI >= -110 dBm; poor: margin under 5 dB or RSSI under -120 dBm; marginal between;
-- unknown without SF, RSSI or SNR.
CREATE FUNCTION icone_link_verdict(p_sf integer, p_rssi double precision, p_snr double precision)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN icone_lora_snr_floor(p_sf) IS NULL OR p_rssi IS NULL OR p_snr IS NULL THEN 'unknown'
        WHEN p_snr - icone_lora_snr_floor(p_sf) < 5 OR p_rssi < -120 THEN 'poor'
        WHEN p_snr - icone_lora_snr_floor(p_sf) < 10 OR p_rssi < -110 THEN 'marginal'
        ELSE 'good'
    END
$$;

-- A device's link over its last `p_uplinks` uplinks: medians of the best-gateway RSSI and
-- SNR, the SF of the last uplink, the SNR margin above that SF's floor, and the verdict.
CREATE FUNCTION icone_link_quality(p_dev_eui text, p_uplinks integer DEFAULT 10)
RETURNS TABLE (uplinks integer, rssi double precision, snr double precision,
               spreading_factor integer, snr_margin double precision, verdict text)
LANGUAGE sql STABLE AS $$
    WITH recent AS (
        SELECT u.time, u.rssi, u.snr, u.spreading_factor FROM uplinks u
        WHERE u.dev_eui = p_dev_eui ORDER BY u.time DESC LIMIT p_uplinks
    ),
    agg AS (
        SELECT count(*)::integer AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.rssi) AS rssi,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.snr) AS snr,
               (SELECT r2.spreading_factor FROM recent r2 ORDER BY r2.time DESC LIMIT 1) AS sf
        FROM recent r
    )
    SELECT n, rssi, snr, sf, snr - icone_lora_snr_floor(sf), icone_link_verdict(sf, rssi, snr)
    FROM agg
$$;
