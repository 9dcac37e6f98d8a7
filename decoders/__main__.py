"""`python -m decoders MODEL_ID HEX [--fport N] [--received-at ISO]`: print the DecodeResult as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from decoders import UnknownDeviceModel, decode, models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m decoders",
        description="Decode one uplink payload and print the result as JSON.",
    )
    parser.add_argument("model", help=f"model id, one of: {', '.join(models())}")
    parser.add_argument("hex", help="payload as hexadecimal (spaces allowed)")
    parser.add_argument("--fport", type=int, default=1, help="LoRaWAN fPort (default 1)")
    parser.add_argument(
        "--received-at",
        type=datetime.fromisoformat,
        default=None,
        help="uplink time, ISO 8601 with offset (default: now)",
    )
    args = parser.parse_args(argv)
    try:
        payload = bytes.fromhex(args.hex.replace(" ", ""))
    except ValueError:
        parser.error(f"not hexadecimal: {args.hex!r}")
    received_at = args.received_at or datetime.now(UTC)
    if received_at.tzinfo is None:
        parser.error("--received-at needs a UTC offset")
    try:
        result = decode(args.model, payload, args.fport, received_at.astimezone(UTC))
    except UnknownDeviceModel as exc:
        parser.error(str(exc))
    json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
