-- AppKeys encrypted at rest (AES-256-GCM, see storage/appkey_cipher.py): `device_keys` keeps
-- the key id and the ciphertext; the clear column goes. Clear AppKeys of a deployed database
-- were sealed by `icone migrate` just before this file runs, in the same transaction, into
-- pg_temp.appkey_sealed; a clear AppKey left unsealed (no ICONE_REGISTRY__SECRET_KEY) stops
-- the migration with the reason, and nothing changes.

ALTER TABLE device_keys
    ADD COLUMN key_id     text CHECK (key_id ~ '^[0-9a-f]{16}$'),
    ADD COLUMN ciphertext bytea CHECK (octet_length(ciphertext) = 12 + 32 + 16);

DO $$
DECLARE
    left_clear bigint;
BEGIN
    IF to_regclass('pg_temp.appkey_sealed') IS NOT NULL THEN
        UPDATE device_keys k
           SET key_id = s.key_id, ciphertext = s.ciphertext
          FROM pg_temp.appkey_sealed s
         WHERE s.dev_eui = k.dev_eui;
    END IF;
    SELECT count(*) INTO left_clear FROM device_keys WHERE ciphertext IS NULL;
    IF left_clear > 0 THEN
        RAISE EXCEPTION 'device_keys holds % AppKey(s) in clear: set ICONE_REGISTRY__SECRET_KEY '
            '(icone devices genkey) and run icone migrate again to encrypt them', left_clear;
    END IF;
END $$;

ALTER TABLE device_keys
    DROP COLUMN app_key,
    ALTER COLUMN key_id SET NOT NULL,
    ALTER COLUMN ciphertext SET NOT NULL;

CREATE INDEX device_keys_key_id ON device_keys (key_id);

COMMENT ON TABLE device_keys IS
    'OTAA AppKeys kept until ChirpStack holds them, AES-256-GCM (nonce + ciphertext + tag, '
    'DevEUI as associated data); key_id names the ICONE_REGISTRY key that sealed the row';
