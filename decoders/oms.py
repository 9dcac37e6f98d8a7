"""OMS / wireless M-Bus application layer (EN 13757-3): transport header and data records.

`parse(payload)` turns a plain (unencrypted) OMS application frame into a `Telegram`: a list
of `Record`s in neutral physical terms (quantity, canonical unit, function, storage number,
tariff, subunit, time). Mapping records to the ICONE vocabulary is the vendor module's job
(decoders/kamstrup.py), because which records matter, and what manufacturer-specific VIFs
mean, depends on the meter. Like every decoder here, `parse` never raises on bad bytes.

Frame = CI field, then (depending on CI) a transport header, then data records:

    CI 0x78   no header
    CI 0x7A   short header: ACC (1), STS (1), configuration word (2, LE)
    CI 0x72   long header: ident no. (4, BCD LE), manufacturer (2), version (1),
              device type (1), ACC (1), STS (1), configuration word (2, LE)

Configuration word bits 8-12 = security mode; anything but 0 means an encrypted
application layer, which is rejected (as the Kamstrup reference codec mbusparser.js does).

Record = DIF, DIFE*, VIF, VIFE*, data:

    DIF   bit 7 extension, bit 6 storage number LSB, bits 5-4 function
          (0 instantaneous, 1 maximum, 2 minimum, 3 value during error state),
          bits 3-0 data field coding (see _SIZES)
    DIFE  bit 7 extension, bit 6 subunit bit, bits 5-4 tariff bits, bits 3-0 storage bits
    VIF   bit 7 extension, bits 6-0 quantity and decimal exponent (primary table), or
          0x7B / 0x7D: the first VIFE is a code of the first / second extension table,
          0x7C: plain-text unit, 0x7E: any VIF, 0x7F: manufacturer-specific
    VIFE  bit 7 extension, bits 6-0 combinable (orthogonal) code
    data  little-endian; binary integers are signed (type B), the most negative value of each
          size (0x80, 0x8000, ...) means "invalid"

Date/time records (VIF 0x6C type G, 0x6D type F/I) give their time to all the records
with the same storage number. A variable-length record with combinable VIFE 0x13 is an
"inverse compact profile" (EN 13757-3 annex F): a spacing control byte (bits 0-3 element
size in bytes, bits 4-5 spacing unit s/min/h/day, bits 6-7 increment mode), a spacing
value, then elements stepping back in time from the register with the same VIF and storage
number; `Record.history` gets the resulting (time, value) pairs.

Reference: TTN lorawan-devices vendor/kamstrup/mbusparser.js (the arbiter for the flowIQ
frames); where it stops short of EN 13757-3 (64-bit integers, 32-bit reals, LVAR strings,
the 0xFB / 0xFD extension tables, unknown VIFs, manufacturer data) this module follows the
standard, and it keeps the records decoded before a fault instead of dropping them all.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

CI_NO_HEADER = 0x78
CI_SHORT_HEADER = 0x7A
CI_LONG_HEADER = 0x72

# Function field (DIF bits 5-4).
INSTANTANEOUS, MAXIMUM, MINIMUM, ERROR_STATE = 0, 1, 2, 3
FUNCTION_NAMES = ("instantaneous", "maximum", "minimum", "error state")

# Quantities (Record.quantity). Values are in the canonical unit given in the tables below.
ENERGY = "energy"
REACTIVE_ENERGY = "reactive_energy"
VOLUME = "volume"
MASS = "mass"
ON_TIME = "on_time"
OPERATING_TIME = "operating_time"
POWER = "power"
VOLUME_FLOW = "volume_flow"
MASS_FLOW = "mass_flow"
FLOW_TEMPERATURE = "flow_temperature"
RETURN_TEMPERATURE = "return_temperature"
TEMPERATURE_DIFFERENCE = "temperature_difference"
EXTERNAL_TEMPERATURE = "external_temperature"
PRESSURE = "pressure"
DATE = "date"
DATE_TIME = "date_time"
HCA_UNITS = "hca_units"
RELATIVE_HUMIDITY = "relative_humidity"
VOLTAGE = "voltage"
CURRENT = "current"
MANUFACTURER_SPECIFIC = "manufacturer_specific"
PLAIN_TEXT_UNIT = "plain_text_unit"
ANY = "any"

# EN 13757-3 allows at most 10 DIFEs and 10 VIFEs per record; the limit also bounds the
# decimal exponent that correction VIFEs can build up.
MAX_EXTENSIONS = 10

# Value kinds: how the data field of a record with this VIF is read.
NUMBER = 0  # signed binary (type B), BCD (type A) or real (type H), scaled to the unit
UNSIGNED = 1  # unsigned binary (types C/D: identifiers, counters, bit fields), BCD
TIMESTAMP = 2  # type G (2 bytes), F (4 bytes) or I (6 bytes)

# Combinable VIFE codes (extension bit cleared) that callers look at.
VIFE_INVERSE_COMPACT_PROFILE = 0x13
VIFE_REVERSE = 0x3C
VIFE_MANUFACTURER = 0x7F  # the following VIFEs (and the data) are manufacturer-specific


class VifSpec(NamedTuple):
    quantity: str
    unit: str
    exponent: int  # value = raw * 10**exponent * factor
    factor: float
    kind: int


def _range(
    table: dict[int, VifSpec],
    first: int,
    count: int,
    quantity: str,
    unit: str,
    exponent0: int,
    factor: float = 1.0,
    kind: int = NUMBER,
) -> None:
    """VIF codes first..first+count-1 whose low bits step the decimal exponent by one."""
    for n in range(count):
        table[first + n] = VifSpec(quantity, unit, exponent0 + n, factor, kind)


def _durations(table: dict[int, VifSpec], first: int, quantity: str) -> None:
    """Four codes whose low 2 bits give the time unit: seconds, minutes, hours, days."""
    for n, seconds in enumerate((1.0, 60.0, 3600.0, 86400.0)):
        table[first + n] = VifSpec(quantity, "s", 0, seconds, NUMBER)


def _single(table: dict[int, VifSpec], code: int, quantity: str, unit: str = "1") -> None:
    table[code] = VifSpec(quantity, unit, 0, 1.0, UNSIGNED)


_KWH_PER_J = 1 / 3.6e6
_KWH_PER_GJ = 1e9 / 3.6e6
_W_PER_J_H = 1 / 3600
_W_PER_GJ_H = 1e9 / 3600

# Primary VIF table (EN 13757-3:2018 table 10), canonical units: kWh, m³, kg, s, W, m³/h,
# kg/h, °C, K, bar.
PRIMARY: dict[int, VifSpec] = {}
_range(PRIMARY, 0x00, 8, ENERGY, "kWh", -6)  # E000 0nnn: 10^(nnn-3) Wh
_range(PRIMARY, 0x08, 8, ENERGY, "kWh", 0, _KWH_PER_J)  # E000 1nnn: 10^nnn J
_range(PRIMARY, 0x10, 8, VOLUME, "m³", -6)  # E001 0nnn: 10^(nnn-6) m³
_range(PRIMARY, 0x18, 8, MASS, "kg", -3)  # E001 1nnn: 10^(nnn-3) kg
_durations(PRIMARY, 0x20, ON_TIME)  # E010 00nn
_durations(PRIMARY, 0x24, OPERATING_TIME)  # E010 01nn
_range(PRIMARY, 0x28, 8, POWER, "W", -3)  # E010 1nnn: 10^(nnn-3) W
_range(PRIMARY, 0x30, 8, POWER, "W", 0, _W_PER_J_H)  # E011 0nnn: 10^nnn J/h
_range(PRIMARY, 0x38, 8, VOLUME_FLOW, "m³/h", -6)  # E011 1nnn: 10^(nnn-6) m³/h
_range(PRIMARY, 0x40, 8, VOLUME_FLOW, "m³/h", -7, 60.0)  # E100 0nnn: 10^(nnn-7) m³/min
_range(PRIMARY, 0x48, 8, VOLUME_FLOW, "m³/h", -9, 3600.0)  # E100 1nnn: 10^(nnn-9) m³/s
_range(PRIMARY, 0x50, 8, MASS_FLOW, "kg/h", -3)  # E101 0nnn: 10^(nnn-3) kg/h
_range(PRIMARY, 0x58, 4, FLOW_TEMPERATURE, "°C", -3)  # E101 10nn: 10^(nn-3) °C
_range(PRIMARY, 0x5C, 4, RETURN_TEMPERATURE, "°C", -3)  # E101 11nn
_range(PRIMARY, 0x60, 4, TEMPERATURE_DIFFERENCE, "K", -3)  # E110 00nn: 10^(nn-3) K
_range(PRIMARY, 0x64, 4, EXTERNAL_TEMPERATURE, "°C", -3)  # E110 01nn
_range(PRIMARY, 0x68, 4, PRESSURE, "bar", -3)  # E110 10nn: 10^(nn-3) bar
PRIMARY[0x6C] = VifSpec(DATE, "", 0, 1.0, TIMESTAMP)  # type G
PRIMARY[0x6D] = VifSpec(DATE_TIME, "", 0, 1.0, TIMESTAMP)  # type F (4 bytes) / I (6 bytes)
PRIMARY[0x6E] = VifSpec(HCA_UNITS, "1", 0, 1.0, NUMBER)  # heat cost allocator units
_durations(PRIMARY, 0x70, "averaging_duration")  # E111 00nn
_durations(PRIMARY, 0x74, "actuality_duration")  # E111 01nn
_single(PRIMARY, 0x78, "fabrication_number")
_single(PRIMARY, 0x79, "enhanced_identification")
_single(PRIMARY, 0x7A, "bus_address")

# First extension table, VIF 0xFB (EN 13757-3:2018 table 14), the codes meters use.
EXTENSION_FB: dict[int, VifSpec] = {}
_range(EXTENSION_FB, 0x00, 2, ENERGY, "kWh", 2)  # E000 000n: 10^(n-1) MWh
_range(EXTENSION_FB, 0x02, 2, REACTIVE_ENERGY, "kvarh", 2)  # E000 001n: 10^(n-1) Mvarh
_range(EXTENSION_FB, 0x08, 2, ENERGY, "kWh", -1, _KWH_PER_GJ)  # E000 100n: 10^(n-1) GJ
_range(EXTENSION_FB, 0x10, 2, VOLUME, "m³", 2)  # E001 000n: 10^(n+2) m³
_range(EXTENSION_FB, 0x18, 2, MASS, "kg", 5)  # E001 100n: 10^(n+2) t
_range(EXTENSION_FB, 0x1A, 2, RELATIVE_HUMIDITY, "%", -1)  # E001 101n: 10^(n-1) %
_range(EXTENSION_FB, 0x28, 2, POWER, "W", 5)  # E010 100n: 10^(n-1) MW
_range(EXTENSION_FB, 0x30, 2, POWER, "W", -1, _W_PER_GJ_H)  # E011 000n: 10^(n-1) GJ/h
_range(EXTENSION_FB, 0x74, 4, "temperature_limit", "°C", -3)  # E111 01nn: 10^(nn-3) °C

# Second extension table, VIF 0xFD (EN 13757-3:2018 table 13 and OMS additions).
EXTENSION_FD: dict[int, VifSpec] = {}
_range(EXTENSION_FD, 0x00, 4, "credit", "currency", -3)  # E000 00nn: 10^(nn-3)
_range(EXTENSION_FD, 0x04, 4, "debit", "currency", -3)  # E000 01nn
for _code, _name in enumerate(
    (
        "access_number",
        "medium",
        "manufacturer",
        "parameter_set",
        "model_version",
        "hardware_version",
        "firmware_version",
        "software_version",
        "customer_location",
        "customer",
        "user_access_code",
        "operator_access_code",
        "system_operator_access_code",
        "developer_access_code",
        "password",
        "error_flags",
        "error_mask",
    ),
    start=0x08,
):
    _single(EXTENSION_FD, _code, _name)
for _code, _name in (
    (0x1A, "digital_output"),
    (0x1B, "digital_input"),
    (0x1C, "baud_rate"),
    (0x1D, "response_delay"),
    (0x1E, "retry"),
    (0x1F, "remote_control"),
    (0x20, "first_storage_number"),
    (0x21, "last_storage_number"),
    (0x22, "storage_block_size"),
    (0x60, "reset_counter"),
    (0x61, "cumulation_counter"),
    (0x62, "control_signal"),
    (0x63, "day_of_week"),
    (0x64, "week_number"),
    (0x65, "day_change_time"),
    (0x66, "parameter_activation_state"),
    (0x67, "special_supplier_information"),
    (0x75, "meter_stop_count"),
):
    _single(EXTENSION_FD, _code, _name)
_durations(EXTENSION_FD, 0x24, "storage_interval")  # E010 01nn
_durations(EXTENSION_FD, 0x2C, "duration_since_readout")  # E010 11nn
EXTENSION_FD[0x30] = VifSpec("tariff_start", "", 0, 1.0, TIMESTAMP)
_durations(EXTENSION_FD, 0x34, "tariff_period")  # E011 01nn
EXTENSION_FD[0x3A] = VifSpec("dimensionless", "1", 0, 1.0, NUMBER)
_range(EXTENSION_FD, 0x40, 16, VOLTAGE, "V", -9)  # E100 nnnn: 10^(nnnn-9) V
_range(EXTENSION_FD, 0x50, 16, CURRENT, "A", -12)  # E101 nnnn: 10^(nnnn-12) A
EXTENSION_FD[0x68] = VifSpec("duration_since_cumulation", "s", 0, 3600.0, NUMBER)  # hours
EXTENSION_FD[0x69] = VifSpec("duration_since_cumulation", "s", 0, 86400.0, NUMBER)  # days
EXTENSION_FD[0x6C] = VifSpec("battery_operating_time", "s", 0, 3600.0, NUMBER)  # hours
EXTENSION_FD[0x6D] = VifSpec("battery_operating_time", "s", 0, 86400.0, NUMBER)  # days
EXTENSION_FD[0x70] = VifSpec("battery_change_date", "", 0, 1.0, TIMESTAMP)
EXTENSION_FD[0x71] = VifSpec("rssi", "dBm", 0, 1.0, NUMBER)
EXTENSION_FD[0x74] = VifSpec("remaining_battery_life", "s", 0, 86400.0, NUMBER)  # days

_MANUFACTURER_SPEC = VifSpec(MANUFACTURER_SPECIFIC, "", 0, 1.0, UNSIGNED)
_PLAIN_TEXT_SPEC = VifSpec(PLAIN_TEXT_UNIT, "", 0, 1.0, NUMBER)
_ANY_SPEC = VifSpec(ANY, "", 0, 1.0, UNSIGNED)

# Record.vif for the extension tables: 0xFB00 | code, 0xFD00 | code; 0x7F for a
# manufacturer-specific VIF (0x7F or 0xFF), whose VIFEs are then in Record.vifes.
VIF_FB, VIF_FD = 0xFB00, 0xFD00
VIF_MANUFACTURER = 0x7F

# Data field coding (DIF bits 3-0) -> data size in bytes; BCD codes and the real marked.
# 0 no data, 1-4 / 6 / 7 integer of 1-4 / 6 / 8 bytes, 5 32-bit real, 8 selection for readout
# (no data), 9-C / E BCD of 2-8 / 12 digits, D variable length (LVAR), F special function.
_SIZES = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -2)
_BCD = frozenset((0x9, 0xA, 0xB, 0xC, 0xE))
_REAL = 0x5
_LVAR = 0xD

_SIGNED = {
    1: struct.Struct("<b"),
    2: struct.Struct("<h"),
    4: struct.Struct("<i"),
    8: struct.Struct("<q"),
}
_UNSIGNED = {
    1: struct.Struct("<B"),
    2: struct.Struct("<H"),
    4: struct.Struct("<I"),
    8: struct.Struct("<Q"),
}
_F32 = struct.Struct("<f")  # type H: 4 bytes, IEEE 754 single, little-endian
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_EMPTY: tuple[int, ...] = ()


def _read_int(payload: bytes, offset: int, size: int, signed: bool) -> int:
    unpacker = (_SIGNED if signed else _UNSIGNED).get(size)
    if unpacker is not None:
        value: int = unpacker.unpack_from(payload, offset)[0]
        return value
    return int.from_bytes(payload[offset : offset + size], "little", signed=signed)


def _read_bcd(payload: bytes, offset: int, size: int) -> int | None:
    """Type A: packed BCD, least significant byte first; a top nibble 0xF means negative."""
    value = 0
    negative = False
    for index in range(offset + size - 1, offset - 1, -1):
        byte = payload[index]
        high, low = byte >> 4, byte & 0x0F
        if index == offset + size - 1 and high == 0xF:
            negative, high = True, 0
        if high > 9 or low > 9:
            return None
        value = value * 100 + high * 10 + low
    return -value if negative else value


def _scale(raw: float, exponent: int) -> float:
    # Dividing by an exact power of ten gives the nearest float to the decimal value
    # (7842497 / 1000 == 7842.497), which multiplying by 1e-3 does not always do.
    power: int = 10 ** abs(exponent)
    return raw / power if exponent < 0 else raw * power


def _year(hundred: int, year: int) -> int:
    # EN 13757-3 annex A: 1900 + 100 * hundred-year + year, except that a meter that leaves
    # the hundred-year bits at 0 means 2000-2080 for years 0-80 (backward compatibility).
    if hundred == 0 and year <= 80:
        return 2000 + year
    return 1900 + 100 * hundred + year


def _date_g(payload: bytes, offset: int) -> datetime | None:
    """Type G, 2 bytes: day (bits 0-4), month (8-11), year (5-7 low, 12-15 high)."""
    raw = _U16.unpack_from(payload, offset)[0]
    year = ((raw >> 5) & 0x07) | ((raw >> 9) & 0x78)
    try:
        return datetime(_year(0, year), (raw >> 8) & 0x0F, raw & 0x1F, tzinfo=UTC)
    except ValueError:
        return None


def _date_f(payload: bytes, offset: int) -> datetime | None:
    """Type F, 4 bytes: minute (0-5), IV invalid (7), hour (8-12), hundred-year (13-14),
    day (16-20), year (21-23 low, 28-31 high), month (24-27)."""
    raw = _U32.unpack_from(payload, offset)[0]
    if raw & 0x80:
        return None
    year = ((raw >> 21) & 0x07) | ((raw >> 25) & 0x78)
    try:
        return datetime(
            _year((raw >> 13) & 0x03, year),
            (raw >> 24) & 0x0F,
            (raw >> 16) & 0x1F,
            (raw >> 8) & 0x1F,
            raw & 0x3F,
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _date_i(payload: bytes, offset: int) -> datetime | None:
    """Type I, 6 bytes: second, minute (IV in bit 7), hour, day + year low bits,
    month + year high bits, week. Years 2000-2127, as mbusparser.js reads them."""
    b = payload[offset : offset + 5]
    if b[1] & 0x80:
        return None
    year = 2000 + ((b[3] >> 5) & 0x07) + ((b[4] >> 4) << 3)
    try:
        return datetime(
            year, b[4] & 0x0F, b[3] & 0x1F, b[2] & 0x1F, b[1] & 0x3F, b[0] & 0x3F, tzinfo=UTC
        )
    except ValueError:
        return None


_DATE_READERS = {2: _date_g, 4: _date_f, 6: _date_i}


@dataclass(slots=True)
class Profile:
    """An inverse compact profile, before its base register and base time are known."""

    spacing_unit: int  # 0 seconds, 1 minutes, 2 hours, 3 days (or months, see _step_back)
    spacing_value: int
    increment_mode: int  # 1 decrements, 2 increments, 3 signed differences
    deltas: list[int | None]  # None = invalid element (all bits set / most negative)


@dataclass(slots=True)
class Record:
    """One data record. `value` is None when the record carries no valid number."""

    storage: int
    tariff: int
    subunit: int
    function: int
    vif: int  # primary code 0x00-0x7F, VIF_FB | code, VIF_FD | code, 0x7F manufacturer
    vifes: tuple[int, ...]  # combinable VIFEs, extension bit cleared, corrections applied
    quantity: str
    unit: str
    data: bytes
    exponent: int  # value = integer * 10**exponent * factor
    factor: float
    integer: int | None = None  # the unscaled number read from the data field
    value: float | None = None  # integer (or real) scaled to `unit`
    date: datetime | None = None  # date/time records
    time: datetime | None = None  # from the date/time record with the same storage number
    profile: Profile | None = None
    history: list[tuple[datetime, float]] | None = None  # expanded profile, newest first

    @property
    def plain(self) -> bool:
        """True for a record that is the quantity itself (no combinable VIFE changes it)."""
        return not self.vifes


@dataclass(slots=True)
class Telegram:
    ci: int = 0
    access_number: int | None = None
    status: int | None = None
    configuration: int = 0
    identification: int | None = None  # long header only
    manufacturer: str | None = None
    version: int | None = None
    device_type: int | None = None
    records: list[Record] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _manufacturer_code(raw: int) -> str:
    """EN 13757-3 manufacturer id: three letters of 5 bits each, 'A' = 1."""
    return "".join(chr(((raw >> shift) & 0x1F) + 64) for shift in (10, 5, 0))


def _header(payload: bytes, telegram: Telegram) -> int:
    """Read the CI field and transport header; return the offset of the first record, or -1."""
    if not payload:
        telegram.errors.append("empty payload: no CI field")
        return -1
    ci = telegram.ci = payload[0]
    if ci == CI_NO_HEADER:
        return 1
    if ci == CI_SHORT_HEADER:
        if len(payload) < 5:
            telegram.errors.append("short transport header truncated")
            return -1
        telegram.access_number, telegram.status = payload[1], payload[2]
        telegram.configuration = _U16.unpack_from(payload, 3)[0]
        offset = 5
    elif ci == CI_LONG_HEADER:
        if len(payload) < 13:
            telegram.errors.append("long transport header truncated")
            return -1
        telegram.identification = _read_bcd(payload, 1, 4)
        telegram.manufacturer = _manufacturer_code(_U16.unpack_from(payload, 5)[0])
        telegram.version, telegram.device_type = payload[7], payload[8]
        telegram.access_number, telegram.status = payload[9], payload[10]
        telegram.configuration = _U16.unpack_from(payload, 11)[0]
        offset = 13
    else:
        telegram.errors.append(f"unsupported CI field {ci:#04x} (expected 0x72, 0x78 or 0x7a)")
        return -1
    mode = (telegram.configuration >> 8) & 0x1F
    if mode:
        telegram.errors.append(f"encrypted frame (security mode {mode}) is not supported")
        return -1
    return offset


def _label(record: Record) -> str:
    name = record.quantity
    if record.function:
        name += "/" + FUNCTION_NAMES[record.function]
    return f"{name} (storage {record.storage})"


def parse(payload: bytes) -> Telegram:
    """Parse a plain OMS application frame. Never raises; problems go to errors/warnings."""
    telegram = Telegram()
    offset = _header(payload, telegram)
    if offset < 0:
        return telegram
    _records(payload, offset, telegram)
    if telegram.records:
        _resolve(telegram)
    return telegram


def _records(payload: bytes, offset: int, telegram: Telegram) -> None:
    records, warnings, errors = telegram.records, telegram.warnings, telegram.errors
    end = len(payload)
    while offset < end:
        start = offset
        dif = payload[offset]
        offset += 1
        coding = dif & 0x0F
        if coding == 0x0F:
            if dif == 0x2F:  # idle filler
                continue
            if dif in (0x0F, 0x1F):
                warnings.append(f"manufacturer-specific data at offset {start} ignored")
            else:
                errors.append(f"unsupported special DIF {dif:#04x} at offset {start}")
            return
        storage = (dif >> 6) & 0x01
        tariff = subunit = 0
        extension = dif & 0x80
        shift = 0
        while extension:
            if offset >= end:
                errors.append(f"record at offset {start} truncated in its DIFEs")
                return
            if shift == MAX_EXTENSIONS:
                errors.append(f"record at offset {start}: more than {MAX_EXTENSIONS} DIFEs")
                return
            dife = payload[offset]
            offset += 1
            storage |= (dife & 0x0F) << (1 + 4 * shift)
            tariff |= ((dife >> 4) & 0x03) << (2 * shift)
            subunit |= ((dife >> 6) & 0x01) << shift
            shift += 1
            extension = dife & 0x80
        # VIB
        if offset >= end:
            errors.append(f"record at offset {start} truncated: no VIF")
            return
        vif = payload[offset]
        offset += 1
        extension = vif & 0x80
        code = vif & 0x7F
        manufacturer_tail = False
        if code in (0x7B, 0x7D):
            if not extension or offset >= end:
                errors.append(f"record at offset {start}: extension VIF {vif:#04x} without code")
                return
            table_code = payload[offset]
            offset += 1
            extension = table_code & 0x80
            table_code &= 0x7F
            if code == 0x7B:
                spec = EXTENSION_FB.get(table_code)
                vif_id = VIF_FB | table_code
            else:
                spec = EXTENSION_FD.get(table_code)
                vif_id = VIF_FD | table_code
        elif code == 0x7F:
            spec, vif_id, manufacturer_tail = _MANUFACTURER_SPEC, VIF_MANUFACTURER, True
        elif code == 0x7C:
            spec, vif_id = _PLAIN_TEXT_SPEC, 0x7C
        elif code == 0x7E:
            spec, vif_id = _ANY_SPEC, 0x7E
        else:
            spec, vif_id = PRIMARY.get(code), code
        vifes = _EMPTY
        exponent_shift = 0
        if extension:
            collected: list[int] = []
            corrections = 0
            while extension:
                if offset >= end:
                    errors.append(f"record at offset {start} truncated in its VIFEs")
                    return
                if len(collected) + corrections == MAX_EXTENSIONS:
                    errors.append(f"record at offset {start}: more than {MAX_EXTENSIONS} VIFEs")
                    return
                vife = payload[offset]
                offset += 1
                extension = vife & 0x80
                vife &= 0x7F
                if manufacturer_tail:
                    collected.append(vife)
                elif 0x70 <= vife <= 0x77:  # multiplicative correction 10^(nnn-6)
                    exponent_shift += (vife & 0x07) - 6
                    corrections += 1
                elif vife == 0x7D:  # multiplicative correction 10^3
                    exponent_shift += 3
                    corrections += 1
                elif vife == 0x7C:  # next VIFE is from the combinable-extension table
                    if offset >= end:
                        errors.append(f"record at offset {start} truncated in its VIFEs")
                        return
                    nxt = payload[offset]
                    offset += 1
                    extension = nxt & 0x80
                    collected.append(0x7C00 | (nxt & 0x7F))
                else:
                    if vife == VIFE_MANUFACTURER:
                        manufacturer_tail = True
                    collected.append(vife)
            vifes = tuple(collected)
        unit_text = ""
        if vif_id == 0x7C:  # plain-text unit: length byte, then ASCII, last character first
            if offset >= end or offset + 1 + payload[offset] > end:
                errors.append(f"record at offset {start}: plain-text unit truncated")
                return
            length = payload[offset]
            unit_text = payload[offset + 1 : offset + 1 + length][::-1].decode("latin-1")
            offset += 1 + length
        # Data
        size = _SIZES[coding]
        profile_vife = VIFE_INVERSE_COMPACT_PROFILE in vifes and not manufacturer_tail
        if size == -1:
            if offset >= end:
                errors.append(f"record at offset {start}: LVAR length missing")
                return
            lvar = payload[offset]
            offset += 1
            if profile_vife:
                size = lvar  # mbusparser.js: the LVAR byte is the profile's byte count
            elif lvar <= 0xBF:
                size = lvar  # ASCII string
            elif lvar <= 0xDF:
                size = lvar & 0x0F  # BCD number (0xCn positive, 0xDn negative) of n bytes
            elif lvar <= 0xEF:
                size = lvar - 0xE0  # binary number
            elif lvar <= 0xF4:
                size = 4 * (lvar - 0xEC)
            elif lvar == 0xF5:
                size = 48
            elif lvar == 0xF6:
                size = 64
            else:
                errors.append(f"record at offset {start}: reserved LVAR {lvar:#04x}")
                return
        if offset + size > end:
            errors.append(
                f"record at offset {start} truncated: needs {size} data bytes, {end - offset} left"
            )
            return
        data = payload[offset : offset + size]
        data_offset = offset
        offset += size
        if spec is None:
            warnings.append(
                f"unknown VIF {vif:#04x}"
                + (f" {vif_id & 0xFF:#04x}" if vif_id > 0xFF else "")
                + f" at offset {start}: record skipped"
            )
            continue
        record = Record(
            storage,
            tariff,
            subunit,
            (dif >> 4) & 0x03,
            vif_id,
            vifes,
            spec.quantity,
            unit_text or spec.unit,
            data,
            spec.exponent + exponent_shift,
            spec.factor,
        )
        if coding == _LVAR:
            if profile_vife:
                record.profile = _profile(payload, data_offset, size, record, errors)
                if record.profile is None:
                    continue
        elif profile_vife:
            warnings.append(f"{_label(record)}: compact profile without LVAR data ignored")
            continue
        elif size:
            _value(payload, data_offset, size, coding, spec.kind, record, warnings)
        records.append(record)


def _value(
    payload: bytes,
    offset: int,
    size: int,
    coding: int,
    kind: int,
    record: Record,
    warnings: list[str],
) -> None:
    """Read the data field of a fixed-size record into integer/value/date."""
    if kind == TIMESTAMP:
        reader = _DATE_READERS.get(size)
        record.date = reader(payload, offset) if reader is not None and coding not in _BCD else None
        if record.date is None:
            warnings.append(f"{_label(record)}: invalid date/time")
        return
    if coding in _BCD:
        number = _read_bcd(payload, offset, size)
        if number is None:
            warnings.append(f"{_label(record)}: invalid value (bad BCD digit)")
            return
        record.integer = number
        record.value = _scale(number, record.exponent) * record.factor
        return
    if coding == _REAL:
        real = _F32.unpack_from(payload, offset)[0]
        if real != real or real in (float("inf"), float("-inf")):
            warnings.append(f"{_label(record)}: invalid value (non-finite real)")
            return
        record.value = _scale(real, record.exponent) * record.factor
        return
    if kind == UNSIGNED:
        record.integer = _read_int(payload, offset, size, signed=False)
        record.value = float(record.integer)
        return
    number = _read_int(payload, offset, size, signed=True)
    if number == -(1 << (8 * size - 1)):
        warnings.append(f"{_label(record)}: invalid value")
        return
    record.integer = number
    record.value = _scale(number, record.exponent) * record.factor


_ELEMENT_CODES = {(1, False): "B", (2, False): "H", (4, False): "I"}
_ELEMENT_CODES |= {(size, True): code.lower() for (size, _), code in _ELEMENT_CODES.items()}
_ELEMENT_STRUCTS: dict[tuple[int, int, bool], struct.Struct] = {}


def _elements(count: int, element: int, signed: bool) -> struct.Struct:
    """A struct reading `count` profile elements at once, compiled once per shape."""
    key = (count, element, signed)
    unpacker = _ELEMENT_STRUCTS.get(key)
    if unpacker is None:
        unpacker = _ELEMENT_STRUCTS[key] = struct.Struct(
            f"<{count}{_ELEMENT_CODES[element, signed]}"
        )
    return unpacker


def _profile(
    payload: bytes, offset: int, size: int, record: Record, errors: list[str]
) -> Profile | None:
    """Inverse compact profile (annex F): spacing control, spacing value, elements."""
    if size < 3:
        errors.append(f"{_label(record)}: inverse compact profile too short")
        return None
    control = payload[offset]
    element = control & 0x0F  # element size in bytes (binary codes 1-4)
    mode = control >> 6
    if not 1 <= element <= 4 or mode == 0:
        errors.append(f"{_label(record)}: could not parse inverse compact profile")
        return None
    signed = mode == 3
    invalid = -(1 << (8 * element - 1)) if signed else (1 << (8 * element)) - 1
    count = (size - 2) // element
    raw: list[int | None]
    if element == 3:
        raw = [
            int.from_bytes(payload[p : p + 3], "little", signed=signed)
            for p in range(offset + 2, offset + 2 + 3 * count, 3)
        ]
    else:
        raw = list(_elements(count, element, signed).unpack_from(payload, offset + 2))
    deltas = [None if d == invalid else d for d in raw] if invalid in raw else raw
    return Profile((control >> 4) & 0x03, payload[offset + 1], mode, deltas)


def _step_back(time: datetime, unit: int, spacing: int) -> datetime | None:
    """One profile step back in time (annex F), or None for a spacing the standard reserves."""
    if 0 < spacing < 251:
        return time - timedelta(seconds=spacing * _SPACING_SECONDS[unit])
    months = _SPACING_MONTHS.get(unit) if spacing == 254 else None
    if months is None:
        return None
    # Like JavaScript's setUTCMonth in mbusparser.js: a day past the month's end rolls over.
    years, month = divmod(time.month - 1 - months, 12)
    first = time.replace(year=time.year + years, month=month + 1, day=1)
    return first + timedelta(days=time.day - 1)


_SPACING_SECONDS = (1, 60, 3600, 86400)
_SPACING_MONTHS = {3: 1, 2: 3, 1: 6}  # spacing value 254: one month, a quarter, half a year


def _resolve(telegram: Telegram) -> None:
    """Give records the time of their storage number, and expand compact profiles."""
    times: dict[int, datetime | None] = {}
    records = telegram.records
    for record in records:
        if record.vif in (0x6C, 0x6D) and not record.function and not record.vifes:
            times[record.storage] = record.date
    if not times:
        for record in records:
            if record.profile is not None:
                telegram.errors.append(
                    f"{_label(record)}: could not find base time for profile data"
                )
                record.profile = None
        return
    for record in records:
        record.time = times.get(record.storage)
        if record.profile is not None:
            _expand(record, records, telegram)


def _expand(profile_record: Record, records: list[Record], telegram: Telegram) -> None:
    profile = profile_record.profile
    assert profile is not None
    others = tuple(v for v in profile_record.vifes if v != VIFE_INVERSE_COMPACT_PROFILE)
    base = next(
        (
            r
            for r in records
            if r.profile is None
            and r.vif == profile_record.vif
            and r.vifes == others
            and r.storage == profile_record.storage
            and r.function == profile_record.function
            and r.tariff == profile_record.tariff
            and r.subunit == profile_record.subunit
            and r.exponent == profile_record.exponent
        ),
        None,
    )
    if base is None or base.integer is None:
        telegram.errors.append(
            f"{_label(profile_record)}: could not find base value for profile data"
        )
        return
    when = base.time
    if when is None:
        telegram.errors.append(
            f"{_label(profile_record)}: could not find base time for profile data"
        )
        return
    history: list[tuple[datetime, float]] = []
    profile_record.history = history
    total = base.integer
    sign = 1 if profile.increment_mode == 2 else -1
    exponent, factor = base.exponent, base.factor
    power: int = 10 ** abs(exponent)
    spacing, unit = profile.spacing_value, profile.spacing_unit
    # A fixed spacing (the usual case) is one timedelta; months go through _step_back.
    step = timedelta(seconds=spacing * _SPACING_SECONDS[unit]) if 0 < spacing < 251 else None
    for delta in profile.deltas:
        try:
            previous = when - step if step is not None else _step_back(when, unit, spacing)
        except (OverflowError, ValueError):
            previous = None
        if delta is None or previous is None:
            telegram.warnings.append(
                f"{_label(profile_record)}: invalid profile value or spacing, rest ignored"
            )
            break
        when = previous
        total += sign * delta
        history.append((when, (total / power if exponent < 0 else total * power) * factor))
