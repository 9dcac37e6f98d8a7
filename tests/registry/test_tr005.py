"""TR005 QR codes: the specification's example, labels as found in the field, bad strings."""

from __future__ import annotations

import pytest

from registry.tr005 import QrCodeError, crc16_modbus, parse

SPEC = "LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:OAABBCCDDEEFF:SYYWWNNNNNN:PFOOBAR:CAF2C"


def test_crc16_modbus_check_value() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37  # the catalogued check value of CRC-16/MODBUS


def test_specification_example() -> None:
    ident = parse(SPEC)
    assert ident.schema == "LW:D0"
    assert ident.join_eui == "1122334455667788"
    assert ident.dev_eui == "aabbccddeeff0011"
    assert (ident.vendor_id, ident.vendor_profile_id) == ("AABB", "1122")
    assert ident.owner_token == "AABBCCDDEEFF"
    assert ident.serial_number == "YYWWNNNNNN"
    assert ident.proprietary == "FOOBAR"
    assert ident.checksum_ok is True
    assert ident.warnings == ()


def test_checksum_found_by_tag_not_position() -> None:
    moved = (
        "LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:CAF2C:OAABBCCDDEEFF:SYYWWNNNNNN:PFOOBAR"
    )
    assert parse(moved).checksum_ok is True


def test_label_with_owner_token_and_serial() -> None:
    ident = parse(
        "LW:D0:0102030405060708:A1B2C3D4E5F60718:00A10042:O7Q2M9X4K1:SICN2026000417:CA4DE"
    )
    assert ident.dev_eui == "a1b2c3d4e5f60718"
    assert ident.serial_number == "ICN2026000417"
    assert ident.checksum_ok is True


def test_lower_case_zero_joineui_placeholder_vendor_without_checksum() -> None:
    ident = parse("lw:d0:0000000000000000:a1b2c3d4e5f60719:FFFF0000")
    assert ident.dev_eui == "a1b2c3d4e5f60719"
    assert ident.checksum_ok is None
    assert len(ident.warnings) == 2  # zero JoinEUI, placeholder VendorID


def test_drafts_and_bare_deveui() -> None:
    d2 = parse("URN:LW:DP:1122334455667788:AABBCCDDEEFF0011:AABB1122:%V0123%SSER1")
    assert (d2.schema, d2.dev_eui, d2.owner_token, d2.serial_number) == (
        "URN:LW:DP",
        "aabbccddeeff0011",
        "0123",
        "SER1",
    )
    d3 = parse("URN:DEV:LW:1122334455667788_AABBCCDDEEFF0011_AABB1122_V0123_SSER1")
    assert (d3.schema, d3.join_eui, d3.serial_number) == ("URN:DEV:LW", "1122334455667788", "SER1")
    bare = parse(" A84041000181C2D7 ")
    assert (bare.schema, bare.dev_eui, bare.join_eui) == ("DevEUI", "a84041000181c2d7", None)


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("", "code"),
        ("hello", "code"),
        ("LW:D1:1122334455667788:AABBCCDDEEFF0011:AABB1122", "schema"),
        ("LW:D0:1122334455667788:AABBCCDDEEFF0011", "code"),
        ("LW:D0:11223344556677:AABBCCDDEEFF0011:AABB1122", "join_eui"),
        ("LW:D0:1122334455667788:AABBCCDDEEFF00GG:AABB1122", "dev_eui"),
        ("LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB112", "profile_id"),
        # one serial digit changed after printing: the checksum no longer matches
        (SPEC.replace("SYYWWNNNNNN", "SYYWWNNNNNM"), "checksum"),
        (SPEC.replace("CAF2C", "CAF2"), "checksum"),
        ("LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122::SX", "extensions"),
        ("LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:S1:S2", "extensions"),
        ("LW:D0:" + "A" * 600, "code"),
        ("LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:Sé", "code"),
        ("appeui:deveui:appkey", "code"),
    ],
)
def test_malformed_codes_name_the_field(code: str, field: str) -> None:
    with pytest.raises(QrCodeError) as caught:
        parse(code)
    assert caught.value.field == field
