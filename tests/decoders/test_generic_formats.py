"""Cayenne LPP and SenML/CBOR: table consistency and paths the vectors do not pin down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cbor2
import pytest

from decoders import senml
from decoders.cayenne import LPP_TYPES, decode_cayenne_lpp
from decoders.senml import NAME_METRICS, UNIT_DEFAULT_METRIC, UNITS, decode_senml_cbor
from decoders.vocabulary import METRICS

NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


# --- Cayenne LPP ---


def test_lpp_tables_use_the_vocabulary_and_consistent_sizes() -> None:
    for type_byte, spec in LPP_TYPES.items():
        assert spec.metric is None or spec.metric in METRICS, type_byte
        if spec.reader is not None:
            assert spec.reader.size == spec.size, spec.name


@pytest.mark.parametrize("type_byte", sorted(LPP_TYPES))
def test_lpp_every_type_is_walked_over(type_byte: int) -> None:
    """Each type consumes exactly its size: a temperature item after it still decodes."""
    spec = LPP_TYPES[type_byte]
    payload = bytes((9, type_byte)) + bytes(spec.size) + bytes.fromhex("016700c8")
    result = decode_cayenne_lpp(payload, 1, NOW)
    assert result.errors == []
    assert ("temperature", "1", 20.0) in [
        (m.metric, m.channel, m.value) for m in result.measurements
    ]


def test_lpp_signed_and_unsigned_extremes() -> None:
    result = decode_cayenne_lpp(bytes.fromhex("0167800002657fff0373ffff"), 1, NOW)
    got = {(m.metric, m.channel): m.value for m in result.measurements}
    assert got == {
        ("temperature", "1"): -3276.8,
        ("illuminance", "2"): 32767.0,
        ("air_pressure", "3"): 6553.5,
    }


def test_lpp_channel_is_the_decimal_channel_number() -> None:
    result = decode_cayenne_lpp(bytes.fromhex("ff6700c8"), 1, NOW)
    assert [m.channel for m in result.measurements] == ["255"]


# --- SenML / CBOR ---


def test_senml_tables_use_the_vocabulary() -> None:
    for candidates, _channel in NAME_METRICS.values():
        assert set(candidates) <= set(METRICS)
    canonical_units = {conversion.canonical for conversion in UNITS.values()}
    for unit, metric in UNIT_DEFAULT_METRIC.items():
        assert metric in METRICS
        assert unit in canonical_units
        assert unit in (METRICS[metric].unit, "%RH")


def _decode(pack: object) -> tuple[list[tuple[str, str, float, datetime]], list[str], list[str]]:
    result = decode_senml_cbor(cbor2.dumps(pack), 10, NOW)
    measurements = [(m.metric, m.channel, m.value, m.time) for m in result.measurements]
    return measurements, result.warnings, result.errors


def test_senml_base_fields_carry_over_until_changed() -> None:
    got, warnings, errors = _decode(
        [
            {-2: "dev:", -4: "Cel", -5: 20.0, -3: 1_700_000_000, 0: "temp", 2: 1.5},
            {0: "probe", 2: -1.0, 6: 60},
            {-5: 0.0, -4: "%RH", 0: "hum", 2: 55},
        ]
    )
    at = datetime.fromtimestamp(1_700_000_000, UTC)
    assert got == [
        ("temperature", "", 21.5, at),
        ("temperature", "probe", 19.0, at + timedelta(seconds=60)),
        ("relative_humidity", "", 55.0, at),
    ]
    assert warnings == errors == []


def test_senml_relative_times_are_relative_to_received_at() -> None:
    got, _, _ = _decode(
        [{-3: -3600, 0: "temp", 1: "Cel", 2: 1.0}, {0: "temp", 1: "Cel", 2: 2.0, 6: 1800}]
    )
    assert [m[3] for m in got] == [NOW - timedelta(hours=1), NOW - timedelta(minutes=30)]


def test_senml_time_at_two_power_28_is_absolute() -> None:
    got, _, _ = _decode([{0: "temp", 1: "Cel", 2: 1.0, 6: 2**28}])
    assert got[0][3] == datetime.fromtimestamp(2**28, UTC)


def test_senml_sum_only_for_counters() -> None:
    got, warnings, _ = _decode([{0: "energy", 1: "kWh", 5: 12.5}, {0: "power", 1: "W", 5: 3.0}])
    assert got == [("energy_active_import_index", "", 12.5, NOW)]
    assert any("sum of a active_power" in w for w in warnings)


def test_senml_duplicate_metric_at_same_time_is_dropped() -> None:
    got, warnings, _ = _decode(
        [{0: "temp", 1: "Cel", 2: 1.0}, {0: "temperature", 1: "Cel", 2: 2.0}]
    )
    assert got == [("temperature", "", 1.0, NOW)]
    assert any("duplicate" in w for w in warnings)


@pytest.mark.parametrize(
    "pack",
    [
        [{0: "temp", 1: "Cel", 2: float("nan")}],
        [{0: "temp", 1: "Cel", 2: 10**400}],
        [{0: "temp", 1: "Cel", 2: True}],
        [{0: "temp", 1: "Cel", 2: "21"}],
        [{0: "temp", 1: "Cel", 2: 1.0, 6: 1e300}],
        [{0: "temp", 1: "Cel", 2: 1.0, 6: -1e300}],
        [{0: 5, 1: "Cel", 2: 1.0}],
        [{-2: 5, 0: "temp", 1: "Cel", 2: 1.0}],
        [{0: "temp", 1: 7, 2: 1.0}],
        [{(1, 2): 3, 0: "temp", 1: "Cel", 2: 1.0}],
        [[1, 2], "x", None],
        {0: "temp", 1: "Cel", 2: 1.0},
        [cbor2.CBORTag(1, 1e300)],
    ],
)
def test_senml_hostile_values_never_raise(pack: object) -> None:
    result = decode_senml_cbor(cbor2.dumps(pack), 10, NOW)
    assert all(m.metric in METRICS for m in result.measurements)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x81" * 20_000 + b"\x80",  # nesting deeper than the recursion limit
        bytes.fromhex("c11bffffffffffffffff"),  # datetime tag out of range
        bytes.fromhex("9fff"),  # indefinite empty array
        bytes.fromhex("c5821b7fffffffffffffff01"),  # bigfloat with a huge exponent
    ],
)
def test_senml_bad_cbor_never_raises(payload: bytes) -> None:
    result = decode_senml_cbor(payload, 10, NOW)
    assert result.measurements == []


def test_senml_mapping_cache_is_bounded() -> None:
    for i in range(senml._CACHE_MAX + 10):
        senml._target(f"dev{i}:temp", "Cel")
    assert len(senml._CACHE) <= senml._CACHE_MAX
