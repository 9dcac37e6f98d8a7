"""The decoders issue's acceptance items that no per-model test file checks on its own.

- the 12 field model ids and the generic formats are registered, with vectors and encoders;
- every metric and unit that any decoder emits (vendor vectors, encoder frames, damaged
  frames) is in the vocabulary, with finite values, aware times and known event codes;
- what an encoder-built frame decodes to is declared in that model's catalogue sheet;
- `python -m decoders MODEL_ID HEX [--fport N]` prints the DecodeResult as JSON;
- `icone bench decoders` runs over every model and writes its JSON (no timing asserted here);
- DecodeResult.measure() / event() keep their contract (they are tuned for speed).
"""

from __future__ import annotations

import io
import json
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

import decoders
from decoders import DecodeResult, DeviceEvent, Measurement
from decoders.__main__ import main as decoders_main
from decoders.chirpstack_object import (
    GENERIC_MAPPING,
    OBJECT_EVENTS,
    OBJECT_MAPPINGS,
    decode_object,
)
from decoders.vocabulary import EVENT_CODES, METRICS
from hardware.catalogue import load_catalogue
from hardware.encoders import ENCODERS
from icone.bench import decoders as bench_decoders

VECTORS = Path(__file__).parent / "vectors"
RECEIVED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)

# The model ids the platform must support, exactly.
FIELD_MODELS = frozenset(
    {
        "kamstrup-flowiq2200",
        "axioma-qalcosonic-w1",
        "adeunis-pulse-4",
        "milesight-em300-di",
        "adeunis-tic-cbe-linky-mono",
        "adeunis-tic-pme-pmi",
        "enless-tx-pulse-led-600-038",
        "milesight-ct101",
        "elsys-ers-lite",
        "milesight-em300-th",
        "dragino-lht65",
        "decentlab-dl-sht35",
    }
)


def _vector_frames() -> Iterator[tuple[str, int, bytes]]:
    for path in sorted(VECTORS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for example in doc["examples"]:
            yield doc["model"], example["f_port"], bytes.fromhex(example["hex"].replace(" ", ""))


def _encoder_frames(model: str, count: int = 40) -> list[tuple[int, bytes]]:
    return bench_decoders.build_frames(model, count=count, seed=7)


def _assert_in_vocabulary(model: str, result: DecodeResult) -> None:
    for m in result.measurements:
        assert type(m) is Measurement, (model, m)
        assert m.metric in METRICS, (model, m)
        assert m.unit == METRICS[m.metric].unit, (model, m)
        assert type(m.value) is float, (model, m)
        assert math.isfinite(m.value), (model, m)
        assert m.time.tzinfo is not None, (model, m)
        assert isinstance(m.channel, str), (model, m)
    for e in result.events:
        assert type(e) is DeviceEvent, (model, e)
        assert e.code in EVENT_CODES, (model, e)
        assert type(e.active) is bool, (model, e)
        assert e.time.tzinfo is not None, (model, e)


def test_registered_models_are_the_issue_models_and_generic_formats() -> None:
    assert set(decoders.models()) == FIELD_MODELS | decoders.GENERIC_FORMATS
    assert decoders.models() == sorted(decoders.models())
    assert set(ENCODERS) == set(decoders.models())
    covered = {model for model, _, _ in _vector_frames()}
    assert covered == set(decoders.models())


def test_unknown_model_is_the_only_exception() -> None:
    with pytest.raises(decoders.UnknownDeviceModel):
        decoders.decode("no-such-model", b"\x00", 1, RECEIVED_AT)
    assert not decoders.is_supported("no-such-model")


def test_every_vector_emits_only_the_vocabulary() -> None:
    seen: set[str] = set()
    for model, f_port, payload in _vector_frames():
        result = decoders.decode(model, payload, f_port, RECEIVED_AT)
        _assert_in_vocabulary(model, result)
        seen.update(m.metric for m in result.measurements)
    assert len(seen) >= 20  # the vectors exercise most of the vocabulary, not a corner of it


@pytest.mark.parametrize("model", sorted(ENCODERS))
def test_encoder_frames_match_the_catalogue_sheet(model: str) -> None:
    """Storage and dashboards plan from the catalogue: a decoded metric, channel or event
    that the model's sheet does not declare is a catalogue (or decoder) bug."""
    sheet = load_catalogue()[model]
    declared = {(m.metric, channel) for m in sheet.metrics for channel in m.channels}
    for f_port, payload in _encoder_frames(model):
        assert f_port in sheet.f_ports, (model, f_port)
        result = decoders.decode(model, payload, f_port, RECEIVED_AT)
        assert result.errors == [], (model, payload.hex(), result.errors)
        _assert_in_vocabulary(model, result)
        undeclared = {(m.metric, m.channel) for m in result.measurements} - declared
        assert not undeclared, f"{model}: not in hardware/catalogue/{model}.yaml: {undeclared}"
        unknown_events = {e.code for e in result.events} - set(sheet.events)
        assert not unknown_events, f"{model}: events not in its sheet: {unknown_events}"


@pytest.mark.parametrize("model", sorted(ENCODERS))
def test_damaged_real_frames_never_raise(model: str) -> None:
    """Random bytes rarely get past a frame header; damaged real frames reach the deep paths:
    every truncation, every single-byte flip to 0x00 / 0xFF / sentinel, and random mutations."""
    rng = random.Random(f"damage:{model}")  # reproducible test data
    for f_port, payload in _encoder_frames(model, count=5):
        variants = [payload[:n] for n in range(len(payload))]
        for i in range(len(payload)):
            for byte in (0x00, 0x7F, 0x80, 0xFF):
                variants.append(payload[:i] + bytes([byte]) + payload[i + 1 :])
        for _ in range(50):
            mutated = bytearray(payload)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            variants.append(bytes(mutated))
        variants.append(payload + bytes(rng.randrange(256) for _ in range(8)))
        for variant in variants:
            for port in (f_port, 0, 224):
                result = decoders.decode(model, variant, port, RECEIVED_AT)
                _assert_in_vocabulary(model, result)


def _nested(paths: dict[str, object]) -> dict[str, object]:
    """{"a.b": 1} -> {"a": {"b": 1}}: the shape of a codec's decoded object."""
    root: dict[str, object] = {}
    for dotted, value in paths.items():
        node = root
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = value
    return root


@pytest.mark.parametrize("model", [*sorted(OBJECT_MAPPINGS), "cayenne-lpp"])
def test_chirpstack_object_mapping_emits_only_the_vocabulary(model: str) -> None:
    """The third generic format: every key of a model's object table (or of the generic
    table) maps to a vocabulary metric, and every flag to an event code."""
    mapping = OBJECT_MAPPINGS.get(model, GENERIC_MAPPING)
    flags = OBJECT_EVENTS.get(model, {})
    obj = _nested({**dict.fromkeys(mapping, 12.0), **dict.fromkeys(flags, True)})
    result = decode_object(model, obj, RECEIVED_AT)
    assert result.errors == []
    assert result.warnings == []
    _assert_in_vocabulary(model, result)
    assert len(result.measurements) == len(mapping)
    assert len(result.events) == len(flags)


def test_history_records_keep_their_own_times() -> None:
    """Axioma's hourly deltas are placed at their own hours, not all at received_at."""
    model = "axioma-qalcosonic-w1"
    f_port, payload = _encoder_frames(model, count=1)[0]
    result = decoders.decode(model, payload, f_port, RECEIVED_AT)
    times = {m.time for m in result.measurements if m.metric == "water_volume"}
    assert len(times) > 1
    assert max(times) - min(times) >= timedelta(hours=1)


# --- python -m decoders ----------------------------------------------------------------


def test_cli_prints_the_decode_result_as_json() -> None:
    hex_payload = "0175640367f8000468a1"  # Milesight EM300-TH: battery 100 %, 24.8 °C, 80.5 %
    completed = subprocess.run(  # our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "decoders",
            "milesight-em300-th",
            hex_payload,
            "--fport",
            "85",
            "--received-at",
            "2026-03-14T10:00:00+01:00",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout)
    expected = decoders.decode(
        "milesight-em300-th", bytes.fromhex(hex_payload), 85, datetime(2026, 3, 14, 9, tzinfo=UTC)
    ).to_dict()
    assert output == expected
    assert {m["metric"] for m in output["measurements"]} == {
        "battery_level",
        "temperature",
        "relative_humidity",
    }
    assert output["measurements"][0]["time"] == "2026-03-14T09:00:00+00:00"


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    # a frame with errors still prints its JSON, and exits 1
    assert decoders_main(["milesight-em300-th", "01", "--fport", "85"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"]
    for argv in (["no-such-model", "00"], ["milesight-em300-th", "zz"]):
        with pytest.raises(SystemExit) as info:
            decoders_main(argv)
        assert info.value.code == 2
        assert capsys.readouterr().err


# --- icone bench decoders (structure only: timing targets live in the benchmark) ---------


def test_bench_runs_every_model_and_writes_json(tmp_path: Path) -> None:
    out = io.StringIO()
    path = tmp_path / "bench.json"
    rates = bench_decoders.run(seconds_per_model=0.001, json_path=path, out=out)
    assert set(rates) == set(decoders.models()) | {bench_decoders.BASELINE}
    assert all(rate > 0 for rate in rates.values())
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = {row["model"]: row for row in report["results"]}
    assert set(rows) == set(rates)
    assert all(row["frames_with_errors"] == 0 for row in rows.values()), rows
    assert rows["kamstrup-flowiq2200"]["target"] == 20_000
    assert rows["milesight-em300-th"]["target"] == 100_000
    table = out.getvalue()
    assert "uplinks/s" in table
    assert "decode errors" not in table


# --- DecodeResult contract (measure / event are tuned for speed; behaviour is fixed) -------


def test_measure_contract() -> None:
    result = DecodeResult(received_at=RECEIVED_AT)
    result.measure("temperature", 21.5)
    result.measure("pulse_count", 12, "A", RECEIVED_AT - timedelta(hours=1))
    result.measure("battery_level", True)  # bool and int become float
    assert result.measurements == [
        Measurement(RECEIVED_AT, "temperature", 21.5, "°C", ""),
        Measurement(RECEIVED_AT - timedelta(hours=1), "pulse_count", 12.0, "1", "A"),
        Measurement(RECEIVED_AT, "battery_level", 1.0, "%", ""),
    ]
    assert all(type(m.value) is float for m in result.measurements)
    assert result.measurements[1].channel == "A"
    assert result.warnings == []
    assert result.ok


def test_measure_drops_non_finite_values_with_a_warning() -> None:
    result = DecodeResult(received_at=RECEIVED_AT)
    result.measure("temperature", math.nan, "probe")
    result.measure("current", math.inf)
    result.measure("voltage", -math.inf)
    assert result.measurements == []
    assert result.warnings == [
        "temperature/probe: non-finite value dropped",
        "current: non-finite value dropped",
        "voltage: non-finite value dropped",
    ]
    assert result.ok  # a warning is not an error


def test_unknown_metric_or_event_is_a_programming_error() -> None:
    result = DecodeResult(received_at=RECEIVED_AT)
    with pytest.raises(KeyError):
        result.measure("not_a_metric", 1.0)
    with pytest.raises(KeyError):
        result.measure("not_a_metric", math.nan)  # checked before the value
    with pytest.raises(KeyError):
        result.event("not_an_event", True)
    assert result.measurements == []
    assert result.events == []


def test_event_contract() -> None:
    result = DecodeResult(received_at=RECEIVED_AT)
    earlier = RECEIVED_AT - timedelta(minutes=5)
    result.event("leak", True)
    result.event("low_battery", False, earlier)
    assert result.events == [
        DeviceEvent(RECEIVED_AT, "leak", True),
        DeviceEvent(earlier, "low_battery", False),
    ]
    assert result.events[1].time == earlier
    assert result.events[1].code == "low_battery"
    assert result.events[1].active is False


def test_decode_result_value_semantics() -> None:
    a = DecodeResult(received_at=RECEIVED_AT)
    b = DecodeResult(RECEIVED_AT)
    assert a == b
    assert a.measurements is not b.measurements  # no shared default lists
    a.measure("co2", 420)
    assert a != b
    assert b.measurements == []
    assert a.error("bad frame") is a
    assert not a.ok
    given = [Measurement(RECEIVED_AT, "co2", 1.0, "ppm")]
    assert DecodeResult(RECEIVED_AT, measurements=given).measurements is given
    assert "DecodeResult(received_at=" in repr(a)
    assert a.to_dict()["measurements"] == [
        {
            "time": RECEIVED_AT.isoformat(),
            "metric": "co2",
            "value": 420.0,
            "unit": "ppm",
            "channel": "",
        }
    ]
