"""Adeunis frames: Pulse 4 (pulse interface) and TIC readers (CBE/Linky mono, PME-PMI).

Every Adeunis uplink starts with the same two bytes, decoded once here (`_decode_frame`):

    byte 0   frame code (selects the body parser; unknown code -> error)
    byte 1   status: bits 7-5 frame counter, bit 4 TIC read error, bit 3 TIC configuration
             inconsistency, bit 2 Pulse "timestamp appended", bit 1 low battery,
             bit 0 configuration done

The low-battery bit is a state the device restates in every frame, so every decoded frame
gives a `low_battery` event (active or cleared). Multi-byte fields are big-endian (MSB first).
The vendor codecs (TTN lorawan-devices vendor/adeunis/pulse_lib.js, tic_cbe_linky_mono_lib.js,
tic_pme_pmi_lib.js) do not check the fPort (the devices send on port 1), so neither do we.
Configuration, network-configuration and register-reply frames carry no measurement: they
decode to the status event only.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from decoders.model import Decoder, DecodeResult

# Status byte (byte 1) bits.
_STATUS_LOW_BATTERY = 0x02
_STATUS_TIMESTAMP = 0x04  # Pulse 4: a 4-byte timestamp ends the frame
_STATUS_TIC_INCONSISTENT = 0x08  # TIC: configuration inconsistency
_STATUS_TIC_READ_ERROR = 0x10  # TIC: the reader could not read the meter's TIC link

# Appended timestamp: 4 bytes, seconds since 2013-01-01T00:00:00Z, unsigned, big-endian.
_ADEUNIS_EPOCH_UNIX = 1_356_998_400
_U16 = struct.Struct(">H")  # 2 bytes, unsigned, big-endian
_U32 = struct.Struct(">I")  # 4 bytes, unsigned, big-endian
_TWO_U16 = struct.Struct(">HH")
_TWO_U32 = struct.Struct(">II")
_FOUR_U16 = struct.Struct(">HHHH")

# A body parser: (result, payload, frame time) -> None. Headers are checked before it runs.
BodyParser = Callable[[DecodeResult, bytes, datetime], None]
# Frame table entry: (body length: exact, or minimum when `variable`, parser, variable).
Frame = tuple[int, BodyParser, bool]


def _no_measurement(result: DecodeResult, payload: bytes, time: datetime) -> None:
    """Configuration (0x10-0x12), network (0x20), keep-alive of TIC (0x30), register replies."""


def _decode_frame(
    payload: bytes,
    received_at: datetime,
    frames: dict[int, Frame],
    tic: bool,
) -> DecodeResult:
    """Shared framing: check header and body length, emit status events, dispatch.

    For the Pulse 4 a set timestamp bit appends 4 bytes (after a fixed body, or at the very
    end of a variable one) that give the frame time; a fixed-length frame's extra bytes are
    ignored with a warning, as the vendor codec reads fixed offsets.
    """
    result = DecodeResult(received_at=received_at)
    size = len(payload)
    if size < 2:
        return result.error(f"frame too short: {size} bytes, needs code and status")
    code, status = payload[0], payload[1]
    entry = frames.get(code)
    if entry is None:
        return result.error(f"unsupported frame code {code:#04x}")
    length, parser, variable = entry
    time = received_at
    stamped = not tic and status & _STATUS_TIMESTAMP and parser is not _no_measurement
    needed = length + 4 if stamped else length
    if size < needed:
        return result.error(f"frame {code:#04x} truncated: {size} bytes, needs {needed}")
    if stamped:
        seconds = _U32.unpack_from(payload, size - 4 if variable else length)[0]
        time = datetime.fromtimestamp(_ADEUNIS_EPOCH_UNIX + seconds, UTC)
    if size > needed and not variable and parser is not _no_measurement:
        result.warnings.append(f"{size - needed} trailing bytes ignored")
    result.event("low_battery", bool(status & _STATUS_LOW_BATTERY), time)
    if tic:
        result.event("sensor_error", bool(status & _STATUS_TIC_READ_ERROR), time)
        if status & _STATUS_TIC_INCONSISTENT:
            result.warnings.append("device reports a configuration inconsistency")
    parser(result, payload, time)
    return result


# --------------------------------------------------------------------------- Pulse 4
#
# 0x46 periodic data:  bytes 2-5 counter A, 6-9 counter B (u32 BE, absolute pulse counts)
# 0x47 flow alarm:     bytes 2-3 flow A, 4-5 flow B (u16 BE, pulses per hour)
# 0x30 keep-alive:     byte 2 alarm bits (0x01/0x02 flow alarm A/B, 0x04/0x08 tamper A/B,
#                      0x10/0x20 leak A/B); 3-4 max flow A, 5-6 max flow B, 7-8 min flow A,
#                      9-10 min flow B over the last 24 h (u16 BE, pulses per hour)
# 0x5a/0x5b history A/B: bytes 2-5 counter at t0 (u32 BE), then u16 BE decrements, each
#                      giving the counter one history period earlier ([t0, t-1, t-2, ...])
# If the status timestamp bit is set, the last 4 bytes of each of these are the frame time.

PULSE_CHANNELS = ("A", "B")
_KEEPALIVE_ALARMS = ((0x01 | 0x02, "flow_high"), (0x04 | 0x08, "tamper"), (0x10 | 0x20, "leak"))

# The history period is the device's register S321 (x 2 s), not carried by 0x5a/0x5b frames
# (only by the 0x10 configuration frame, bytes 6-7). Factory default: 43200 x 2 s = 24 h.
DEFAULT_PULSE4_HISTORY_PERIOD = timedelta(hours=24)


def _pulse_counters(result: DecodeResult, payload: bytes, time: datetime) -> None:
    counter_a, counter_b = _TWO_U32.unpack_from(payload, 2)
    result.measure("pulse_count", counter_a, "A", time)
    result.measure("pulse_count", counter_b, "B", time)


def _pulse_flow_alarm(result: DecodeResult, payload: bytes, time: datetime) -> None:
    # 0x47 is sent when a channel's flow exceeds its threshold; it does not say which one.
    flow_a, flow_b = _TWO_U16.unpack_from(payload, 2)
    result.measure("pulse_rate", flow_a, "A", time)
    result.measure("pulse_rate", flow_b, "B", time)
    result.event("flow_high", True, time)


def _pulse_keepalive(result: DecodeResult, payload: bytes, time: datetime) -> None:
    alarms = payload[2]
    # Events carry no channel: a condition on either input makes the event active.
    for mask, code in _KEEPALIVE_ALARMS:
        result.event(code, bool(alarms & mask), time)
    max_a, max_b, min_a, min_b = _FOUR_U16.unpack_from(payload, 3)
    result.measure("pulse_rate", max_a, "A/max", time)
    result.measure("pulse_rate", max_b, "B/max", time)
    result.measure("pulse_rate", min_a, "A/min", time)
    result.measure("pulse_rate", min_b, "B/min", time)


def _pulse_history(channel: str, period: timedelta) -> BodyParser:
    """0x5a / 0x5b parser for one input, placing record k at t0 - k x period."""

    def parse(result: DecodeResult, payload: bytes, time: datetime) -> None:
        end = len(payload) - 4 if payload[1] & _STATUS_TIMESTAMP else len(payload)
        if (end - 6) % 2:
            result.warnings.append("history: odd trailing byte ignored")
            end -= 1
        counter = _U32.unpack_from(payload, 2)[0]
        result.measure("pulse_count", counter, channel, time)
        for k, offset in enumerate(range(6, end, 2), start=1):
            # The device counter is a u32 that wraps; the vendor codec would go negative.
            counter = (counter - _U16.unpack_from(payload, offset)[0]) & 0xFFFFFFFF
            result.measure("pulse_count", counter, channel, time - k * period)

    return parse


def make_pulse4_decoder(history_period: timedelta = DEFAULT_PULSE4_HISTORY_PERIOD) -> Decoder:
    """A Pulse 4 decoder for devices whose history period (register S321) is `history_period`.

    The registry uses the factory default (24 h); a deployment that configured another period
    builds its own decoder with this function.
    """
    frames: dict[int, Frame] = {
        0x10: (2, _no_measurement, True),  # product configuration
        0x11: (2, _no_measurement, True),  # leak configuration
        0x12: (2, _no_measurement, True),  # leak / tamper configuration
        0x20: (2, _no_measurement, True),  # network configuration
        0x33: (2, _no_measurement, True),  # reply to a set-register downlink
        0x30: (11, _pulse_keepalive, False),
        0x46: (10, _pulse_counters, False),
        0x47: (6, _pulse_flow_alarm, False),
        0x5A: (6, _pulse_history("A", history_period), True),
        0x5B: (6, _pulse_history("B", history_period), True),
    }

    def decode_pulse4(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
        """Adeunis Pulse 4: pulse counters A/B, history, flows (pulses/h), alarms."""
        return _decode_frame(payload, received_at, frames, tic=False)

    return decode_pulse4


# --------------------------------------------------------------------------- TIC readers
#
# 0x49 TIC data: a fixed label set per model (layouts below). Numeric labels are 4 bytes,
# unsigned, big-endian, in the unit the TIC label has; 0x80000000 means "label not found"
# on the meter (warning, value omitted). Text labels (ADCO, OPTARIF, PTEC, PTCOUR1) give no
# measurement. 0x4a TIC alarm: bytes 2-11 label (ASCII, NUL padded), byte 12 alarm type,
# bytes 13.. the label's value (ASCII).

_TIC_ABSENT = 0x80000000

# label -> (metric, divisor to the canonical unit, channel). Labels missing here (ISOUSC, the
# subscribed current: a contract setting, not a measurement) are read but not emitted.
_TIC_LABELS: dict[str, tuple[str, int, str]] = {
    # CBE / Linky "historique", single-phase
    "BASE": ("energy_active_import_index", 1000, "BASE"),  # Wh
    "HCHC": ("energy_active_import_index", 1000, "HCHC"),  # Wh
    "HCHP": ("energy_active_import_index", 1000, "HCHP"),  # Wh
    "IINST": ("current", 1, ""),  # A, instantaneous current
    "IMAX": ("current", 1, "max"),  # A, maximum current drawn
    "PAPP": ("apparent_power", 1, ""),  # VA
    # PME-PMI: current tariff period (_s) in Wh / varh / VAh ...
    "EA_s": ("energy_active_import_index", 1000, "EA_s"),
    "ER+_s": ("energy_reactive_import_index", 1000, "ER+_s"),
    "ER-_s": ("energy_reactive_export_index", 1000, "ER-_s"),
    "EAPP_s": ("energy_apparent_index", 1000, "EAPP_s"),
    # ... current (P) and previous (P-1) billing period in kWh / kvarh
    "EAP_s": ("energy_active_import_index", 1, "EAP_s"),
    "ER+P_s": ("energy_reactive_import_index", 1, "ER+P_s"),
    "ER-P_s": ("energy_reactive_export_index", 1, "ER-P_s"),
    "EaP-1_s": ("energy_active_import_index", 1, "EaP-1_s"),
    "ER+P-1_s": ("energy_reactive_import_index", 1, "ER+P-1_s"),
    "ER-P-1_s": ("energy_reactive_export_index", 1, "ER-P-1_s"),
}

# 0x49 CBE/Linky mono: 2-13 ADCO (12 ASCII), 14-17 OPTARIF (4 ASCII), then u32 BE numeric
# labels at the offsets below, 46-49 PTEC (4 ASCII). 50 bytes.
_MONO_VALUES = (
    (18, "BASE"),
    (22, "ISOUSC"),
    (26, "IINST"),
    (30, "IMAX"),
    (34, "PAPP"),
    (38, "HCHC"),
    (42, "HCHP"),
)
_MONO_LENGTH = 50

# 0x49 PME-PMI: 2-7 DATE (DD MM YY hh mm ss, binary, meter legal time), u32 BE numeric labels
# at the offsets below, 24-26 PTCOUR1 (3 ASCII). 51 bytes.
_PME_VALUES = (
    (8, "EA_s"),
    (12, "ER+_s"),
    (16, "ER-_s"),
    (20, "EAPP_s"),
    (27, "EAP_s"),
    (31, "ER+P_s"),
    (35, "ER-P_s"),
    (39, "EaP-1_s"),
    (43, "ER+P-1_s"),
    (47, "ER-P-1_s"),
)
_PME_LENGTH = 51

# The PME-PMI meter clock keeps French legal time (CET/CEST). In the repeated hour of the
# autumn change the first occurrence (summer time, fold=0) is taken: the frame cannot tell.
_METER_ZONE = ZoneInfo("Europe/Paris")
_DATE_NOT_FOUND = (1, 1, 0, 0, 0, 0)  # what the reader sends when DATE is absent


# A compiled 0x49 layout: one Struct reading every numeric label from byte 0 (pad bytes
# skip the text labels), and per value its (label, metric or None, divisor, channel).
TicLayout = tuple[struct.Struct, tuple[tuple[str, str | None, int, str], ...]]


def _compile_layout(values: tuple[tuple[int, str], ...]) -> TicLayout:
    fmt, position, specs = ">", 0, []
    for offset, label in values:
        fmt += f"{offset - position}xI" if offset > position else "I"
        position = offset + 4
        metric, divisor, channel = _TIC_LABELS.get(label, (None, 1, ""))
        specs.append((label, metric, divisor, channel))
    return struct.Struct(fmt), tuple(specs)


def _tic_values(result: DecodeResult, payload: bytes, layout: TicLayout, time: datetime) -> None:
    frame, specs = layout
    for raw, (label, metric, divisor, channel) in zip(
        frame.unpack_from(payload), specs, strict=True
    ):
        if raw == _TIC_ABSENT:
            result.warnings.append(f"{label}: not found on the meter (0x80000000)")
        elif metric is not None:
            result.measure(metric, raw / divisor, channel, time)


_MONO_LAYOUT = _compile_layout(_MONO_VALUES)
_PME_LAYOUT = _compile_layout(_PME_VALUES)


def _tic_mono_data(result: DecodeResult, payload: bytes, time: datetime) -> None:
    _tic_values(result, payload, _MONO_LAYOUT, time)


def _meter_date(result: DecodeResult, payload: bytes) -> datetime:
    """PME-PMI DATE (bytes 2-7) in UTC; the uplink time with a warning if absent/invalid."""
    day, month, year, hour, minute, second = payload[2:8]
    if (day, month, year, hour, minute, second) == _DATE_NOT_FOUND:
        result.warnings.append("DATE: not found on the meter, uplink time used")
        return result.received_at
    try:
        local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=_METER_ZONE)
    except ValueError:
        result.warnings.append(
            f"DATE: invalid {day:02d}/{month:02d}/{year:02d} {hour:02d}:{minute:02d}:"
            f"{second:02d}, uplink time used"
        )
        return result.received_at
    return local.astimezone(UTC)


def _tic_pme_data(result: DecodeResult, payload: bytes, time: datetime) -> None:
    _tic_values(result, payload, _PME_LAYOUT, _meter_date(result, payload))


_TIC_ALARM_TYPES = (
    "manual trigger",
    "label appearance",
    "label disappearance",
    "high threshold",
    "low threshold",
    "end of threshold alarm",
    "positive delta",
    "negative delta",
)
_ALARM_HIGH, _ALARM_LOW, _ALARM_END = 3, 4, 5
_CURRENT_LABELS = ("IINST", "IRMS")  # prefixes: IINST, IINST1-3, IRMS1-3


def _ascii(raw: bytes) -> str:
    """TIC text field: NUL bytes dropped (as the vendor codec does), other bytes as Latin-1."""
    return raw.replace(b"\x00", b"").decode("latin-1")


def _tic_alarm(result: DecodeResult, payload: bytes, time: datetime) -> None:
    label = _ascii(payload[2:12])
    kind = payload[12]
    value = _ascii(payload[13:])
    kind_text = _TIC_ALARM_TYPES[kind] if kind < len(_TIC_ALARM_TYPES) else f"type {kind}"
    if label.startswith(_CURRENT_LABELS) and kind in (_ALARM_HIGH, _ALARM_LOW, _ALARM_END):
        result.event("current_threshold", kind != _ALARM_END, time)
    else:
        result.warnings.append(f"TIC alarm on {label or '?'}: {kind_text}, value {value!r}")
    # The alarm carries the label's value as text: keep it when the label is a measurement.
    spec = _TIC_LABELS.get(label)
    if spec is not None and value.isdigit():
        metric, divisor, channel = spec
        result.measure(metric, int(value) / divisor, channel, time)


def _tic_frames(data: BodyParser, data_length: int) -> dict[int, Frame]:
    return {
        0x10: (2, _no_measurement, True),  # configuration
        0x20: (2, _no_measurement, True),  # network configuration
        0x30: (2, _no_measurement, True),  # keep-alive (the vendor codec parses it as a 0x20)
        0x49: (data_length, data, False),
        0x4A: (13, _tic_alarm, True),
    }


_MONO_FRAMES = _tic_frames(_tic_mono_data, _MONO_LENGTH)
_PME_FRAMES = _tic_frames(_tic_pme_data, _PME_LENGTH)


def decode_tic_cbe_linky_mono(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Adeunis TIC CBE/Linky mono: BASE/HCHC/HCHP kWh, IINST/IMAX A, PAPP VA, TIC alarms."""
    return _decode_frame(payload, received_at, _MONO_FRAMES, tic=True)


def decode_tic_pme_pmi(payload: bytes, f_port: int, received_at: datetime) -> DecodeResult:
    """Adeunis TIC PME-PMI: active/reactive/apparent energy registers at the meter's DATE."""
    return _decode_frame(payload, received_at, _PME_FRAMES, tic=True)


DECODERS: dict[str, Decoder] = {
    "adeunis-pulse-4": make_pulse4_decoder(),
    "adeunis-tic-cbe-linky-mono": decode_tic_cbe_linky_mono,
    "adeunis-tic-pme-pmi": decode_tic_pme_pmi,
}
