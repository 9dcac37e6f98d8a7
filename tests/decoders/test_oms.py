"""The generic OMS / EN 13757-3 record parser (decoders/oms.py), below the Kamstrup mapping."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders import oms
from hardware.encoders import oms as build

# Kamstrup integration-guide frame (vendor/kamstrup/mbusparser.yaml): short header,
# date, volume register, 2-byte hourly inverse compact profile, trailing idle filler.
GUIDE = bytes.fromhex(
    "7A08000000446D002CFD284413C1AA77004D9313186201270122012201260122012201210127012201220127012F"
)


def test_short_header_and_records() -> None:
    telegram = oms.parse(GUIDE)
    assert telegram.errors == []
    assert telegram.warnings == []
    assert (telegram.ci, telegram.access_number, telegram.status) == (0x7A, 0x08, 0x00)
    date, volume, profile = telegram.records
    assert date.date == datetime(2023, 8, 29, 12, tzinfo=UTC)
    assert (volume.quantity, volume.unit, volume.integer, volume.value) == (
        oms.VOLUME,
        "m³",
        7842497,
        7842.497,
    )
    assert volume.storage == 1
    assert volume.time == date.date
    assert profile.vifes == (oms.VIFE_INVERSE_COMPACT_PROFILE,)
    assert profile.history is not None
    assert len(profile.history) == 11
    assert profile.history[0] == (datetime(2023, 8, 29, 11, tzinfo=UTC), 7842.202)
    assert profile.history[-1] == (datetime(2023, 8, 29, 1, tzinfo=UTC), 7839.289)


def test_long_header_identification_and_manufacturer() -> None:
    telegram = oms.parse(bytes.fromhex("72785634122D2C1B16050000000C1378563412"))
    assert telegram.errors == []
    assert telegram.identification == 12345678
    assert telegram.manufacturer == "KAM"
    assert (telegram.version, telegram.device_type) == (0x1B, 0x16)
    assert telegram.records[0].value == 12345.678


@pytest.mark.parametrize("mode", [5, 7, 13])
def test_encrypted_frames_are_rejected(mode: int) -> None:
    telegram = oms.parse(bytes((0x7A, 0x01, 0x00, 0x00, mode)) + bytes(16))
    assert telegram.records == []
    assert telegram.errors == [f"encrypted frame (security mode {mode}) is not supported"]


def test_dife_storage_tariff_subunit() -> None:
    # DIF 0x84 (ext, 32-bit), DIFE 0x53: subunit 1, tariff 1, storage bits 3 -> storage 6
    (record,) = oms.parse(bytes.fromhex("788453130A000000")).records
    assert (record.storage, record.tariff, record.subunit) == (6, 1, 1)
    # DIF 0xC4 (ext, storage LSB 1), DIFE 0x81 (ext, storage bits 1), DIFE 0x02
    (record,) = oms.parse(bytes.fromhex("78C48102130A000000")).records
    assert record.storage == 1 | (1 << 1) | (2 << 5)


@pytest.mark.parametrize(
    ("function_dif", "function"),
    [(0x04, oms.INSTANTANEOUS), (0x14, oms.MAXIMUM), (0x24, oms.MINIMUM), (0x34, oms.ERROR_STATE)],
)
def test_function_field(function_dif: int, function: int) -> None:
    (record,) = oms.parse(bytes((0x78, function_dif, 0x3B, 1, 0, 0, 0))).records
    assert record.function == function
    assert record.value == 0.001


def test_type_f_hundred_year_and_compatibility_rule() -> None:
    # Hundred-year bits 1: 1900 + 100 + 24 = 2024 (as mbusparser.js)
    assert oms._date_f(bytes.fromhex("00331837"), 0) == datetime(2024, 7, 24, 19, tzinfo=UTC)
    # Hundred-year bits 0 and year 24: EN 13757-3 reads 2024 (mbusparser.js would say 1924)
    assert oms._date_f(bytes.fromhex("00131837"), 0) == datetime(2024, 7, 24, 19, tzinfo=UTC)
    assert oms._date_f(bytes.fromhex("80331837"), 0) is None  # IV bit
    assert oms._date_f(bytes.fromhex("00330037"), 0) is None  # day 0


def test_type_i_date_time() -> None:
    # 2024-07-24 19:05:30: seconds, minutes, hours, day + year bits 0-2, month + year bits 3-6
    raw = bytes((30, 5, 19, 24 | ((24 & 7) << 5), 7 | ((24 >> 3) << 4), 0))
    (record,) = oms.parse(bytes((0x78, 0x06, 0x6D)) + raw).records
    assert record.date == datetime(2024, 7, 24, 19, 5, 30, tzinfo=UTC)


def test_date_f_builder_round_trips() -> None:
    when = datetime(2031, 2, 28, 23, 59, tzinfo=UTC)
    assert oms._date_f(build.date_f(when), 0) == when


def test_bcd_negative_and_invalid() -> None:
    (record,) = oms.parse(bytes.fromhex("780A5B25F0")).records  # BCD 4 digits, top nibble F
    assert record.value == -25
    telegram = oms.parse(bytes.fromhex("780A5B2AA0"))
    assert telegram.records[0].value is None
    assert "bad BCD digit" in telegram.warnings[0]


def test_type_b_sentinels_per_size() -> None:
    for size_code, data in ((1, "80"), (2, "0080"), (3, "000080"), (4, "00000080")):
        telegram = oms.parse(bytes.fromhex(f"780{size_code}13{data}"))
        assert telegram.records[0].value is None
        assert "invalid value" in telegram.warnings[0]


def test_extension_tables_and_corrections() -> None:
    # 0xFD 0x48: voltage 10^(8-9) V -> 2300 * 0.1 = 230 V
    (voltage,) = oms.parse(bytes.fromhex("7802FD48FC08")).records
    assert (voltage.quantity, voltage.unit, voltage.value) == (oms.VOLTAGE, "V", 230.0)
    # 0xFB 0x01: energy 1 MWh units -> kWh
    (energy,) = oms.parse(bytes.fromhex("7801FB0102")).records
    assert (energy.unit, energy.value) == ("kWh", 2000.0)
    # VIF 0x93 + VIFE 0x7D (x 10^3): 5 * 10^-3 * 10^3 = 5 m³, and the record stays plain
    (volume,) = oms.parse(bytes.fromhex("7801937D05")).records
    assert volume.value == 5.0
    assert volume.plain
    # VIF 0xBB + VIFE 0x3C: reverse flow, not plain
    (reverse,) = oms.parse(bytes.fromhex("7801BB3C05")).records
    assert reverse.vifes == (oms.VIFE_REVERSE,)
    assert not reverse.plain


def test_lvar_text_and_plain_text_unit() -> None:
    # VIF 0xFD 0x0E firmware version as an LVAR ASCII string "1.2"
    (text,) = oms.parse(bytes.fromhex("780DFD0E03322E31")).records
    assert text.data == b"2.1"  # transmitted last character first; kept as raw data
    # Plain-text VIF 0x7C: unit "ppm" (sent reversed), 1-byte value 7
    (record,) = oms.parse(bytes.fromhex("78017C036D707007")).records
    assert (record.quantity, record.unit, record.value) == (oms.PLAIN_TEXT_UNIT, "ppm", 7.0)


def test_short_profile_is_an_error() -> None:
    telegram = oms.parse(bytes.fromhex("78446D0033183744130A0000004D9313026101"))
    assert "inverse compact profile too short" in telegram.errors[0]


def test_manufacturer_vif_keeps_its_codes() -> None:
    (record,) = oms.parse(bytes.fromhex("7852FF251000")).records
    assert (record.vif, record.vifes, record.integer, record.function) == (0x7F, (0x25,), 16, 1)


def test_every_truncation_of_a_real_frame_is_handled() -> None:
    for end in range(len(GUIDE)):
        telegram = oms.parse(GUIDE[:end])
        assert telegram.errors or end in (5, 11, 17, 45), end  # record boundaries parse cleanly


@settings(max_examples=2000, deadline=None)
@given(body=st.binary(max_size=120), ci=st.sampled_from([0x78, 0x7A, 0x72]))
def test_random_records_never_raise(body: bytes, ci: int) -> None:
    # Behind a valid CI (and a plain header), random bytes exercise the record walker.
    header = {0x78: b"", 0x7A: bytes(4), 0x72: bytes(12)}[ci]
    telegram = oms.parse(bytes((ci,)) + header + body)
    for record in telegram.records:
        assert record.value is None or math.isfinite(record.value)
        for _, value in record.history or ():
            assert math.isfinite(value)


def test_many_correction_vifes_are_bounded() -> None:
    telegram = oms.parse(bytes.fromhex("780193" + "FD" * 20 + "7D05"))
    assert telegram.records == []
    assert "more than 10 VIFEs" in telegram.errors[0]
