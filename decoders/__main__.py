"""`python -m decoders MODEL_ID PAYLOAD [--fport N] [--received-at ISO]`: print the
DecodeResult as JSON.

PAYLOAD is hexadecimal (with or without `0x`, spaces allowed) or base64 (the `data` field
of ChirpStack's JSON events). Exit codes: 0 decoded, 1 decoded with errors, 2 usage.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import sys
from datetime import UTC, datetime

from decoders import UnknownDeviceModel, decode, models

_HEX = re.compile(r"(0[xX])?[0-9A-Fa-f]*")


def payload_bytes(text: str) -> bytes:
    """Hexadecimal when the text is only hex digits (after an optional `0x`), else base64.
    Raises ValueError saying why neither reads it."""
    compact = "".join(text.split())
    hexadecimal = _HEX.fullmatch(compact) is not None
    digits = compact[2:] if compact[:2] in ("0x", "0X") else compact
    if hexadecimal and len(digits) % 2 == 0:
        return bytes.fromhex(digits)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error:
        if hexadecimal:
            raise ValueError(f"odd number of hexadecimal digits ({len(digits)})") from None
        raise ValueError(
            f"neither hexadecimal (an even number of digits, optional 0x) nor base64: {text!r}"
        ) from None


def _fport(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"fPort is 0-255, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m decoders",
        description="Decode one uplink payload and print the result as JSON.",
    )
    parser.add_argument("model", help=f"model id, one of: {', '.join(models())}")
    parser.add_argument(
        "payload", help="hexadecimal (optional 0x, spaces allowed) or base64 (ChirpStack `data`)"
    )
    parser.add_argument("--fport", type=_fport, default=1, help="LoRaWAN fPort, 1-255 (default 1)")
    parser.add_argument(
        "--received-at",
        type=datetime.fromisoformat,
        default=None,
        help="uplink time, ISO 8601 with offset (default: now)",
    )
    args = parser.parse_args(argv)
    try:
        payload = payload_bytes(args.payload)
    except ValueError as exc:
        parser.error(str(exc))
    if args.fport == 0 and payload:
        parser.error("fPort 0 carries MAC commands only, never an application payload")
    received_at = args.received_at or datetime.now(UTC)
    if received_at.tzinfo is None:
        parser.error("--received-at needs a UTC offset")
    try:
        result = decode(args.model, payload, args.fport, received_at.astimezone(UTC))
    except UnknownDeviceModel as exc:
        parser.error(str(exc))
    try:
        json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # `| head`: the reader is gone. Stdout to /dev/null, or the final flush raises again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
