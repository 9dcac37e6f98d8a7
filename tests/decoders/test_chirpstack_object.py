"""decode_object: ChirpStack `object` (vendor TTN codec output, numbers as floats) -> vocabulary.

Objects are the `data` of the upstream codec YAML examples (TheThingsNetwork/lorawan-devices,
path in each case id) as ChirpStack forwards them, or derived from the codec source.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from decoders.chirpstack_object import (
    GENERIC_MAPPING,
    OBJECT_EVENTS,
    OBJECT_MAPPINGS,
    decode_object,
)
from decoders.vocabulary import EVENT_CODES, METRICS

NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)

CASES: list[tuple[str, str, dict[str, Any], set[tuple[str, str, float]]]] = [
    (
        "em300-th-codec.yaml example",
        "milesight-em300-th",
        {"battery": 78.0, "temperature": 24.8, "humidity": 65.0},
        {("battery_level", "", 78), ("temperature", "", 24.8), ("relative_humidity", "", 65)},
    ),
    (
        "em300-di.js output (derived), history not mapped",
        "milesight-em300-di",
        {
            "battery": 90.0,
            "temperature": 21.3,
            "humidity": 40.5,
            "pulse": 1234.0,
            "history": [{"timestamp": 1.7e9, "temperature": 20.0, "humidity": 40.0}],
        },
        {
            ("battery_level", "", 90),
            ("temperature", "", 21.3),
            ("relative_humidity", "", 40.5),
            ("pulse_count", "", 1234),
        },
    ),
    (
        "ct101.js current alarm frame (derived)",
        "milesight-ct101",
        {
            "total_current": 1234.56,
            "current_max": 12.5,
            "current_min": 0.1,
            "current": 3.2,
            "temperature": 25.1,
            "current_alarm": {
                "current_threshold_alarm": "yes",
                "current_threshold_alarm_release": "no",
                "current_over_range_alarm": "no",
                "current_over_range_alarm_release": "no",
            },
        },
        {
            ("charge_index", "", 1234.56),
            ("current", "max", 12.5),
            ("current", "min", 0.1),
            ("current", "", 3.2),
            ("temperature", "", 25.1),
        },
    ),
    (
        "elsys.js ERS Lite (vdd mV -> V)",
        "elsys-ers-lite",
        {"temperature": 22.6, "humidity": 41.0, "vdd": 3649.0},
        {("temperature", "", 22.6), ("relative_humidity", "", 41), ("battery_voltage", "", 3.649)},
    ),
    (
        "lht65.js with DS18B20 probe (derived)",
        "dragino-lht65",
        {
            "BatV": 3.051,
            "Bat_status": 3.0,
            "TempC_SHT": 24.66,
            "Hum_SHT": 54.4,
            "Ext_sensor": "Temperature Sensor",
            "TempC_DS": 23.7,
        },
        {
            ("battery_voltage", "", 3.051),
            ("temperature", "", 24.66),
            ("relative_humidity", "", 54.4),
            ("temperature", "probe", 23.7),
        },
    ),
    (
        "dl-sht35-codec.yaml example 1",
        "decentlab-dl-sht35",
        {
            "air_humidity": {
                "displayName": "Air humidity",
                "unit": "%",
                "value": 47.536430914778364,
            },
            "air_temperature": {
                "displayName": "Air temperature",
                "unit": "°C",
                "value": 23.787670710307466,
            },
            "battery_voltage": {"displayName": "Battery voltage", "unit": "V", "value": 3.168},
            "device_id": 782.0,
            "protocol_version": 2.0,
        },
        {
            ("relative_humidity", "", 47.536430914778364),
            ("temperature", "", 23.787670710307466),
            ("battery_voltage", "", 3.168),
        },
    ),
    (
        "dl-sht35-codec.yaml example 2 (battery only)",
        "decentlab-dl-sht35",
        {
            "battery_voltage": {"displayName": "Battery voltage", "unit": "V", "value": 3.168},
            "device_id": 782.0,
            "protocol_version": 2.0,
        },
        {("battery_voltage", "", 3.168)},
    ),
    (
        "qalcosonic-w1-codec.yaml example",
        "axioma-qalcosonic-w1",
        {
            "timestamp_unix": 1788390574.0,
            "status": 0.0,
            "low_battery": False,
            "leakage": False,
            "log_volume_m3": 5.938,
            "delta_6_m3": 0.014,
            "current_volume_m3": 6.054,
        },
        {("water_volume_index", "", 6.054)},
    ),
    (
        "mbusparser.yaml integration-guide example",
        "kamstrup-flowiq2200",
        {"values": [{"Type": "Volume", "Value": 7842.497, "Unit": "m3"}], "latestVolume": 7842.497},
        {("water_volume_index", "", 7842.497)},
    ),
    (
        "tic-cbe-linky-mono-codec.yaml example (BASE notFound)",
        "adeunis-tic-cbe-linky-mono",
        {
            "bytes": {
                "type": "0x49 TIC data",
                "status": {"frameCounter": 2.0, "lowBattery": False},
                "ADCO": "021728031819",
                "OPTARIF": "HC..",
                "BASEstatus": "notFound",
                "ISOUSC": {"unit": "A", "value": 45.0},
                "IINST": {"unit": "A", "value": 0.0},
                "IMAX": {"unit": "A", "value": 0.0},
                "PAPP": {"unit": "VA", "value": 0.0},
                "HCHC": {"unit": "Wh", "value": 0.0},
                "HCHP": {"unit": "Wh", "value": 0.0},
                "PTEC": "HP..",
            }
        },
        {
            ("current", "", 0),
            ("current", "max", 0),
            ("apparent_power", "", 0),
            ("energy_active_import_index", "HCHC", 0),
            ("energy_active_import_index", "HCHP", 0),
        },
    ),
    (
        "tic-pme-pmi-codec.yaml example",
        "adeunis-tic-pme-pmi",
        {
            "bytes": {
                "DATE": "2020-04-21T13:43:05",
                "EA_s": {"unit": "Wh", "value": 707.0},
                "ER+_s": {"unit": "varh", "value": 152.0},
                "ER-_s": {"unit": "varh", "value": 2.0},
                "EAPP_s": {"unit": "VAh", "value": 747.0},
                "PTCOUR1": "HPE",
                "EAP_s": {"unit": "kWh", "value": 430796.0},
                "ER+P_s": {"unit": "kvarh", "value": 154794.0},
                "ER-P_s": {"unit": "kvarh", "value": 1335.0},
                "EaP-1_s": {"unit": "kWh", "value": 429496.0},
                "ER+P-1_s": {"unit": "kvarh", "value": 154498.0},
                "ER-P-1_s": {"unit": "kvarh", "value": 1320.0},
            }
        },
        {
            ("energy_active_import_index", "EA_s", 0.707),
            ("energy_reactive_import_index", "ER+_s", 0.152),
            ("energy_reactive_export_index", "ER-_s", 0.002),
            ("energy_apparent_index", "EAPP_s", 0.747),
            ("energy_active_import_index", "EAP_s", 430796),
            ("energy_reactive_import_index", "ER+P_s", 154794),
            ("energy_reactive_export_index", "ER-P_s", 1335),
            ("energy_active_import_index", "EaP-1_s", 429496),
            ("energy_reactive_import_index", "ER+P-1_s", 154498),
            ("energy_reactive_export_index", "ER-P-1_s", 1320),
        },
    ),
    (
        "tx-pulse-led-600-038-codec.yaml example",
        "enless-tx-pulse-led-600-038",
        {
            "id": 170.0,
            "type": 10.0,
            "values": {
                "pulse_ch1": {"unit": "", "value": 0.0},
                "pulse_ch2": {"unit": "", "value": 0.0},
                "pulse_oc": {"unit": "", "value": 10.0},
            },
        },
        {("pulse_count", "1", 0), ("pulse_count", "2", 0), ("pulse_count", "oc", 10)},
    ),
    (
        "model without a table: generic keys",
        "some-other-model",
        {"temperature": 19.5, "humidity": 50.0, "battery": 90.0, "co2": 800.0},
        {("temperature", "", 19.5), ("relative_humidity", "", 50), ("co2", "", 800)},
    ),
]


@pytest.mark.parametrize(
    ("model", "obj", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_object_examples(
    model: str, obj: dict[str, Any], want: set[tuple[str, str, float]]
) -> None:
    result = decode_object(model, obj, NOW)
    assert result.errors == []
    got = {(m.metric, m.channel): m.value for m in result.measurements}
    assert set(got) == {(metric, channel) for metric, channel, _ in want}
    for metric, channel, value in want:
        assert math.isclose(got[metric, channel], value, rel_tol=1e-12, abs_tol=1e-12)
    assert all(m.time == NOW for m in result.measurements)


def test_tables_use_the_vocabulary() -> None:
    for mapping in [*OBJECT_MAPPINGS.values(), GENERIC_MAPPING]:
        for metric, _channel, scale in mapping.values():
            assert metric in METRICS
            assert scale > 0
    for events in OBJECT_EVENTS.values():
        assert {code for code, _ in events.values()} <= EVENT_CODES


def test_events_only_for_set_flags() -> None:
    result = decode_object(
        "axioma-qalcosonic-w1",
        {"current_volume_m3": 1.0, "leakage": True, "burst": False, "pipe_empty": True},
        NOW,
    )
    assert sorted((e.code, e.active) for e in result.events) == [("dry", True), ("leak", True)]
    ct = decode_object(
        "milesight-ct101",
        {
            "current_alarm": {
                "current_threshold_alarm_release": "yes",
                "current_threshold_alarm": "no",
            }
        },
        NOW,
    )
    assert [(e.code, e.active) for e in ct.events] == [("current_threshold", False)]
    adeunis = decode_object("adeunis-pulse-4", {"bytes": {"status": {"lowBattery": True}}}, NOW)
    assert [(e.code, e.active) for e in adeunis.events] == [("low_battery", True)]


@pytest.mark.parametrize(
    "obj",
    [
        {"temperature": None},  # ChirpStack renders NaN as null
        {"temperature": "21.5"},
        {"temperature": True},
        {"temperature": {"value": None}},
        {"temperature": [1.0]},
        {"temperature": 10**400},
        {"temperature": math.inf},
    ],
)
def test_bad_values_are_dropped_with_a_warning(obj: dict[str, Any]) -> None:
    result = decode_object("milesight-em300-th", obj, NOW)
    assert result.measurements == []
    assert result.warnings
    assert result.errors == []


@pytest.mark.parametrize("obj", [None, [], "x", 1.0, {"bytes": "not an object"}, {"bytes": [1]}])
def test_never_raises(obj: Any) -> None:
    for model in [*OBJECT_MAPPINGS, "unknown"]:
        decode_object(model, obj, NOW)
