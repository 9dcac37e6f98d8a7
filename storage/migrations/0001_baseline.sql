-- 0001 baseline: registry, time series, events, dead letters.
-- `{timeseries}` is replaced by the migration runner: "PARTITION BY RANGE (time)" in plain
-- PostgreSQL mode, nothing in TimescaleDB mode (the table becomes a hypertable afterwards).

CREATE TABLE sites (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('building', 'school', 'office', 'datacenter',
                      'server_room', 'pumping_station', 'sports', 'dwelling', 'other')),
    address       text,
    floor_area_m2 double precision CHECK (floor_area_m2 > 0),
    operat_id     text,                       -- décret tertiaire / OPERAT identifier
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    dev_eui        text PRIMARY KEY CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    model          text NOT NULL,
    name           text NOT NULL DEFAULT '',
    site_id        text REFERENCES sites (id),
    location       text NOT NULL DEFAULT '',   -- e.g. "rack B4, cold aisle, 1.1 m"
    role           text,                       -- it_load, facility_total, cooling, rack_inlet, main_water...
    data_class     text NOT NULL DEFAULT 'non_personal' CHECK (data_class IN ('personal', 'non_personal')),
    pulse_weights  jsonb NOT NULL DEFAULT '{}', -- {"A": {"metric": "water_volume_index", "per_pulse": 0.001}}
    installed_at   timestamptz,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('planned', 'active', 'retired')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_site_idx ON devices (site_id);

-- One row per ChirpStack uplink (deduplicated across gateways by ChirpStack).
CREATE TABLE uplinks (
    time             timestamptz NOT NULL,      -- the time we file the uplink under (see time_source)
    deduplication_id uuid NOT NULL,             -- ChirpStack's id: our idempotency key
    dev_eui          text NOT NULL,
    f_cnt            bigint,
    f_port           integer,
    payload          bytea,
    time_source      text NOT NULL,             -- event | ns_time | received
    event_time       timestamptz,               -- ChirpStack's `time`, as sent (may be implausible)
    received_at      timestamptz NOT NULL,      -- when our bridge received it
    rssi             integer,                   -- best over gateways, dBm
    snr              double precision,          -- best over gateways, dB
    gateway_count    integer,
    gateway_ids      text[],
    dr               integer,
    spreading_factor integer,
    frequency        bigint,
    model            text,
    decode_status    text NOT NULL,             -- ok | warnings | errors | unknown_device | no_payload
    UNIQUE (time, deduplication_id)
) {timeseries};
CREATE INDEX uplinks_device_time_idx ON uplinks (dev_eui, time DESC);

-- Narrow measurements table: one value per row, in the vocabulary of decoders.vocabulary.
-- No uplink id per row: a random UUID does not compress (it would cost ~16 bytes of the
-- ~16-byte budget per reading); the uplink is found by (dev_eui, time) when needed.
CREATE TABLE measurements (
    time             timestamptz NOT NULL,
    dev_eui          text NOT NULL,
    metric           text NOT NULL,
    channel          text NOT NULL DEFAULT '',
    value            double precision NOT NULL,
    UNIQUE (dev_eui, metric, channel, time)
) {timeseries};

-- Alarms and states carried in payloads (leak, burst, tamper, low_battery...).
CREATE TABLE device_events (
    time             timestamptz NOT NULL,
    dev_eui          text NOT NULL,
    code             text NOT NULL,
    active           boolean NOT NULL,
    source           text NOT NULL DEFAULT 'payload',   -- payload | chirpstack
    detail           text NOT NULL DEFAULT '',
    deduplication_id uuid,
    UNIQUE (dev_eui, code, time)
) {timeseries};

-- ChirpStack join / status / log / ack / txack / location events, for technicians and operators.
CREATE TABLE network_events (
    time        timestamptz NOT NULL,
    dev_eui     text NOT NULL,
    event_type  text NOT NULL,
    event_key   text NOT NULL,                 -- deduplicationId / downlinkId / content digest
    level       text NOT NULL DEFAULT '',
    code        text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    UNIQUE (event_key, event_type, time)
) {timeseries};
CREATE INDEX network_events_device_time_idx ON network_events (dev_eui, time DESC);

-- Everything that could not be parsed, decoded or stored, with its raw bytes and the reason.
CREATE TABLE dead_letters (
    id               bigserial PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    seen_count       integer NOT NULL DEFAULT 1,   -- redeliveries of the same message
    topic            text NOT NULL,
    payload          bytea NOT NULL,
    payload_sha256   bytea GENERATED ALWAYS AS (sha256(payload)) STORED,
    stage            text NOT NULL CHECK (stage IN ('parse', 'decode', 'store')),
    reason           text NOT NULL,
    dev_eui          text,
    deduplication_id uuid,
    replayed_at      timestamptz,
    UNIQUE (stage, topic, payload_sha256)         -- idempotency key of a dead letter
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);

-- API keys: the secret is stored hashed; `site_ids` NULL means every site.
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{8,32}$'),  -- public part, safe to log
    name          text NOT NULL,
    secret_sha256 bytea NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'energy_manager', 'technician', 'reporting')),
    site_ids      text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz
);
