"""LoRa Alliance TR005 device-identification QR codes, parsed into the fields we register.

TR005 v1 (https://resources.lora-alliance.org/document/tr005-lorawan-device-identification-qr-codes):
`LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>[:<ext>]...`, EUIs as 16 hex digits, ProfileID as 8 hex
(VendorID then VendorProfileID), extensions as one tag letter plus a value without `:`:
`O` owner token, `S` serial number, `P` proprietary data, `C` checksum (4 hex). Extensions are
read by tag letter, never by position (encoders disagree on where `C` goes).

The checksum is the CRC-16/MODBUS of the whole string with the `:C....` segment removed,
computed on the string as scanned. Also accepted, as The Things Stack does: the draft forms
`URN:LW:DP:<JoinEUI>:<DevEUI>:<ProfileID>:%V...` and `URN:DEV:LW:<JoinEUI>_<DevEUI>_<ProfileID>_...`,
and a bare 16-hex DevEUI. Anything else is refused with the reason. AppKeys are never read
from a QR code (printing a root key on a label is refused by the LoRa Alliance's scheme).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
_HEX8 = re.compile(r"[0-9A-Fa-f]{8}")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_MAX_LENGTH = 512  # a QR label is far shorter; bounds the work on hostile input


class QrCodeError(ValueError):
    """The string is not a device-identification code we accept; `field` names the part."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceIdentity:
    schema: str  # "LW:D0", "URN:LW:DP", "URN:DEV:LW" or "DevEUI"
    dev_eui: str  # lower case
    join_eui: str | None  # lower case; None when the code has none
    vendor_id: str | None  # 4 hex, upper case
    vendor_profile_id: str | None
    owner_token: str | None
    serial_number: str | None
    proprietary: str | None
    checksum_ok: bool | None  # None: no checksum printed
    warnings: tuple[str, ...]


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: reflected polynomial 0x8005, init 0xFFFF, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _eui(value: str, field: str) -> str:
    if not _HEX16.fullmatch(value):
        raise QrCodeError(field, f"must be 16 hexadecimal digits, got {value!r}")
    return value.lower()


def _profile(value: str) -> tuple[str, str]:
    if not _HEX8.fullmatch(value):
        raise QrCodeError("profile_id", f"must be 8 hexadecimal digits, got {value!r}")
    return value[:4].upper(), value[4:].upper()


def _extensions(parts: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in parts:
        if not part:
            raise QrCodeError("extensions", "empty extension (two colons in a row)")
        tag, value = part[0].upper(), part[1:]
        if tag in found:
            raise QrCodeError("extensions", f"extension {tag!r} appears twice")
        found[tag] = value
    return found


def _warnings(join_eui: str | None, vendor_id: str | None) -> tuple[str, ...]:
    notes = []
    if join_eui == "0" * 16:
        notes.append("JoinEUI is zero: the network's own join server is assumed")
    if vendor_id in ("0000", "FFFF"):
        notes.append("placeholder VendorID: choose the device model by hand")
    return tuple(notes)


def _tr005(raw: str) -> DeviceIdentity:
    parts = raw.split(":")
    if len(parts) < 5:
        raise QrCodeError("code", "LW:D0 needs JoinEUI, DevEUI and ProfileID")
    join_eui = _eui(parts[2], "join_eui")
    dev_eui = _eui(parts[3], "dev_eui")
    vendor_id, vendor_profile_id = _profile(parts[4])
    ext = _extensions(parts[5:])
    checksum_ok: bool | None = None
    if "C" in ext:
        printed = ext["C"]
        if not _HEX4.fullmatch(printed):
            raise QrCodeError("checksum", f"must be 4 hexadecimal digits, got {printed!r}")
        body = ":".join(p for i, p in enumerate(parts) if i < 5 or p[:1].upper() != "C")
        checksum_ok = f"{crc16_modbus(body.encode('ascii')):04X}" == printed.upper()
        if not checksum_ok:
            raise QrCodeError("checksum", "does not match the code (misread or altered label)")
    return DeviceIdentity(
        schema="LW:D0",
        dev_eui=dev_eui,
        join_eui=join_eui,
        vendor_id=vendor_id,
        vendor_profile_id=vendor_profile_id,
        owner_token=ext.get("O"),
        serial_number=ext.get("S"),
        proprietary=ext.get("P"),
        checksum_ok=checksum_ok,
        warnings=_warnings(join_eui, vendor_id),
    )


def _draft(raw: str, schema: str, fields: list[str], rest: list[str]) -> DeviceIdentity:
    if len(fields) < 3:
        raise QrCodeError("code", f"{schema} needs JoinEUI, DevEUI and ProfileID")
    join_eui = _eui(fields[0], "join_eui")
    dev_eui = _eui(fields[1], "dev_eui")
    vendor_id, vendor_profile_id = _profile(fields[2])
    ext = {part[0].upper(): part[1:] for part in rest if part}
    return DeviceIdentity(
        schema=schema,
        dev_eui=dev_eui,
        join_eui=join_eui,
        vendor_id=vendor_id,
        vendor_profile_id=vendor_profile_id,
        owner_token=ext.get("V"),  # the drafts' device validation code plays the same part
        serial_number=ext.get("S"),
        proprietary=ext.get("P"),
        checksum_ok=None,
        warnings=_warnings(join_eui, vendor_id),
    )


def parse(code: str) -> DeviceIdentity:
    """Parse a scanned label; raises QrCodeError naming the field at fault."""
    raw = code.strip()
    if not raw:
        raise QrCodeError("code", "empty")
    if len(raw) > _MAX_LENGTH or not raw.isascii() or not raw.isprintable():
        raise QrCodeError("code", f"not a printable ASCII code of at most {_MAX_LENGTH} characters")
    upper = raw.upper()
    if upper.startswith("LW:"):
        if not upper.startswith("LW:D0:"):
            raise QrCodeError("schema", f"unknown TR005 schema {raw.split(':')[1]!r} (only D0)")
        return _tr005(raw)
    if upper.startswith("URN:LW:DP:"):
        parts = raw.split(":")[3:]
        rest = [p for p in parts[3:] for p in p.split("%") if p]
        return _draft(raw, "URN:LW:DP", parts[:3], rest)
    if upper.startswith("URN:DEV:LW:"):
        parts = raw[len("URN:DEV:LW:") :].split("_")
        return _draft(raw, "URN:DEV:LW", parts[:3], parts[3:])
    if _HEX16.fullmatch(raw):
        return DeviceIdentity(
            schema="DevEUI",
            dev_eui=raw.lower(),
            join_eui=None,
            vendor_id=None,
            vendor_profile_id=None,
            owner_token=None,
            serial_number=None,
            proprietary=None,
            checksum_ok=None,
            warnings=("a bare DevEUI: enter the JoinEUI and model by hand",),
        )
    raise QrCodeError(
        "code", "not a LoRaWAN device code (LW:D0:..., URN:LW:DP:..., URN:DEV:LW:... or a DevEUI)"
    )
