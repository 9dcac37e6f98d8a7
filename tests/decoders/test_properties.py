"""Properties every decoder must have, checked for every registered model.

- arbitrary bytes on any fPort never raise, and give only finite values in the vocabulary;
- encode(state) -> decode gives back the readings the encoder promises (round trip).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import decoders
from decoders.vocabulary import EVENT_CODES, METRICS
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState

RECEIVED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


@pytest.mark.parametrize("model", decoders.models())
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=80), f_port=st.integers(min_value=0, max_value=255))
def test_arbitrary_bytes_never_raise(model: str, payload: bytes, f_port: int) -> None:
    result = decoders.decode(model, payload, f_port, RECEIVED_AT)
    for m in result.measurements:
        assert m.metric in METRICS
        assert m.unit == METRICS[m.metric].unit
        assert math.isfinite(m.value)
        assert m.time.tzinfo is not None
    for e in result.events:
        assert e.code in EVENT_CODES


def test_every_model_has_an_encoder() -> None:
    assert set(ENCODERS) == set(decoders.models())


@st.composite
def physical_states(draw: st.DrawFn) -> PhysicalState:
    """Physically plausible device states (the ranges a real deployment sees)."""
    f = st.floats
    index = f(min_value=0, max_value=99_999, allow_nan=False)
    hourly = st.lists(f(min_value=0, max_value=9.0, allow_nan=False), min_size=24, max_size=24)
    return PhysicalState(
        time=draw(
            st.datetimes(
                min_value=datetime(2020, 1, 1),
                max_value=datetime(2035, 1, 1),
                timezones=st.just(UTC),
            )
        ),
        temperature=draw(f(min_value=-30, max_value=60)),
        probe_temperature=draw(f(min_value=-30, max_value=60)),
        relative_humidity=draw(f(min_value=0, max_value=100)),
        co2=draw(f(min_value=300, max_value=5000)),
        illuminance=draw(f(min_value=0, max_value=10_000)),
        motion_count=draw(st.integers(min_value=0, max_value=65_535)),
        battery_level=draw(f(min_value=0, max_value=100)),
        battery_voltage=draw(f(min_value=2.0, max_value=3.7)),
        water_volume_index=draw(index),
        water_hourly=draw(hourly),
        water_flow_min=draw(f(min_value=0, max_value=2)),
        water_flow_max=draw(f(min_value=2, max_value=20)),
        leak=draw(st.booleans()),
        burst=draw(st.booleans()),
        backflow=draw(st.booleans()),
        energy_active_index=draw(index),
        energy_hc_index=draw(index),
        energy_hp_index=draw(index),
        energy_reactive_import_index=draw(index),
        energy_reactive_export_index=draw(index),
        energy_apparent_index=draw(index),
        apparent_power=draw(f(min_value=0, max_value=36_000)),
        active_power=draw(f(min_value=0, max_value=36_000)),
        current=draw(f(min_value=0, max_value=100)),
        current_min=draw(f(min_value=0, max_value=10)),
        current_max=draw(f(min_value=10, max_value=100)),
        charge_index=draw(f(min_value=0, max_value=10_000_000)),
        voltage=draw(f(min_value=200, max_value=250)),
        pulses={
            name: draw(st.integers(min_value=0, max_value=2**31 - 1))
            for name in ("A", "B", "1", "2", "oc")
        },
        low_battery=draw(st.booleans()),
    )


@pytest.mark.parametrize("model", sorted(ENCODERS))
@settings(max_examples=200, deadline=None)
@given(state=physical_states())
def test_encode_decode_round_trip(model: str, state: PhysicalState) -> None:
    encoder = ENCODERS[model]
    f_port, payload = encoder.encode(state)
    result = decoders.decode(model, payload, f_port, state.time)
    assert result.errors == [], result.errors
    for want in encoder.expected(state):
        got = [
            m.value
            for m in result.measurements
            if (m.metric, m.channel) == (want.metric, want.channel)
        ]
        assert got, f"{want.metric}/{want.channel} missing from {result.to_dict()}"
        assert any(math.isclose(v, want.value, abs_tol=want.tolerance) for v in got), (want, got)
