"""The link verdict and link quality SQL functions against hand-computed values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

CASES = [
    (7, -85, 2.5, -7.5, "good"),  # margin 10.0: the threshold itself is good
    (7, -85, 2.4, -7.5, "marginal"),  # margin 9.9
    (7, -85, -2.5, -7.5, "marginal"),  # margin 5.0
    (7, -85, -2.6, -7.5, "poor"),  # margin 4.9
    (12, -118, -10.0, -20.0, "marginal"),  # margin 10, but RSSI under -110
    (12, -121, -5.0, -20.0, "poor"),  # RSSI under -120
    (10, -110, -5.0, -15.0, "good"),  # margin 10, RSSI -110: both at their bound
    (9, -100, None, -12.5, "unknown"),
    (6, -100, 0.0, None, "unknown"),  # SF6 is not used by LoRaWAN EU868
]


def test_verdict_thresholds(database: str) -> None:
    with psycopg.connect(database) as conn:
        for sf, rssi, snr, floor, verdict in CASES:
            row = conn.execute(
                "SELECT icone_lora_snr_floor(%s), icone_link_verdict(%s, %s, %s)",
                (sf, sf, rssi, snr),
            ).fetchone()
            assert row == (floor, verdict), (sf, rssi, snr)


def test_link_quality_medians_over_the_last_uplinks(database: str) -> None:
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    # 12 uplinks; only the last 10 count: RSSI -90..-99 -> median -94.5; SNR 0..9 -> 4.5;
    # the last one at SF8 (floor -10): margin 14.5, RSSI >= -110: good
    rows = [
        (
            start + timedelta(minutes=i),
            uuid.uuid4(),
            "00000000000000aa",
            -88 - i,
            i - 2.0,
            7 if i < 11 else 8,
        )
        for i in range(12)
    ]
    with psycopg.connect(database) as conn:
        conn.cursor().executemany(
            "INSERT INTO uplinks (time, deduplication_id, dev_eui, rssi, snr, spreading_factor, "
            "time_source, received_at, decode_status) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'event', now(), 'ok')",
            rows,
        )
        result = conn.execute("SELECT * FROM icone_link_quality('00000000000000aa', 10)").fetchone()
    assert result == (10, -94.5, 4.5, 8, 14.5, "good")
