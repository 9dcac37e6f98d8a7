-- 0001 baseline, TimescaleDB mode: the time-series tables become hypertables.
-- Chunk intervals: measurements get ~20 rows/device/hour at most; 2,000 devices x 7 days
-- ≈ 6-7 M rows ≈ 1 GB with indexes, within 25 % of a modest server's memory: 7 days.
-- Uplinks are one row per frame (fewer, wider rows): 7 days as well, to align retention.
SELECT create_hypertable('uplinks', by_range('time', INTERVAL '7 days'));
SELECT create_hypertable('measurements', by_range('time', INTERVAL '7 days'));
SELECT create_hypertable('device_events', by_range('time', INTERVAL '30 days'));
SELECT create_hypertable('network_events', by_range('time', INTERVAL '30 days'));
