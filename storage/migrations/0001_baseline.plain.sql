-- 0001 baseline, plain PostgreSQL mode: monthly range partitions + a default partition,
-- BRIN indexes on time (tiny, and our rows arrive nearly in time order).

-- Create the monthly partitions of `parent` covering [from_month, from_month + months).
CREATE FUNCTION icone_ensure_partitions(parent regclass, from_month timestamptz, months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    start_at timestamptz := date_trunc('month', from_month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    part_name text;
    created integer := 0;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        part_name := format('%s_%s', parent::text, to_char(start_at AT TIME ZONE 'UTC', 'YYYYMM'));
        IF to_regclass(part_name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           part_name, parent, start_at, start_at + interval '1 month');
            created := created + 1;
        END IF;
        start_at := start_at + interval '1 month';
    END LOOP;
    RETURN created;
END $$;

CREATE TABLE uplinks_default PARTITION OF uplinks DEFAULT;
CREATE TABLE measurements_default PARTITION OF measurements DEFAULT;
CREATE TABLE device_events_default PARTITION OF device_events DEFAULT;
CREATE TABLE network_events_default PARTITION OF network_events DEFAULT;

SELECT icone_ensure_partitions('uplinks', now() - interval '2 months', 6);
SELECT icone_ensure_partitions('measurements', now() - interval '2 months', 6);
SELECT icone_ensure_partitions('device_events', now() - interval '2 months', 6);
SELECT icone_ensure_partitions('network_events', now() - interval '2 months', 6);

CREATE INDEX uplinks_time_brin ON uplinks USING brin (time);
CREATE INDEX measurements_time_brin ON measurements USING brin (time);
CREATE INDEX device_events_time_brin ON device_events USING brin (time);
CREATE INDEX network_events_time_brin ON network_events USING brin (time);
