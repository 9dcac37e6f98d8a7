"""`icone deadletters list|replay`: inspect what could not be parsed, decoded or stored,
and re-run it after a fix (a replay is idempotent: replaying twice stores nothing twice)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any

import psycopg

from icone.argtypes import iso_datetime, positive_int
from icone.exit_codes import EXIT_FAILED, EXIT_USAGE
from icone.settings import Settings
from ingest_service.deadletters import STAGES, DeadLetterView, list_dead_letters
from storage.errors import StorageError

EXIT_FAILED_AGAIN = EXIT_FAILED  # some dead letters failed again on replay


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "Inspect and replay dead letters (messages not parsed, decoded or stored)."
    parser = subparsers.add_parser("deadletters", help=help_text, description=help_text)
    sub = parser.add_subparsers(dest="deadletters", required=True, metavar="ACTION")

    p = sub.add_parser(
        "list", help="most recent first", description="List dead letters, most recent first."
    )
    p.set_defaults(func=cmd_list)
    p.add_argument("--stage", choices=STAGES, default=None)
    p.add_argument("--since", type=iso_datetime, default=None, help="ISO 8601, with zone")
    p.add_argument("--limit", type=positive_int, default=50)
    p.add_argument("--include-replayed", action="store_true", help="also those replayed")
    p.add_argument("--json", action="store_true", help="JSON lines, raw payload in base64")

    p = sub.add_parser(
        "replay",
        help="re-run dead letters through the current decoders and registry",
        description="Re-run dead letters (oldest first) through the same path as live "
        "traffic. Idempotent. Exits 1 if some fail again (their reason is updated).",
    )
    p.set_defaults(func=cmd_replay)
    p.add_argument("--id", type=positive_int, action="append", dest="ids", help="repeatable")
    p.add_argument("--stage", choices=STAGES, default=None)
    p.add_argument("--all", action="store_true", help="every dead letter not yet replayed")


def _as_json(letter: DeadLetterView) -> dict[str, Any]:
    return {
        "id": letter.id,
        "received_at": letter.received_at.isoformat(),
        "last_seen_at": letter.last_seen_at.isoformat(),
        "seen_count": letter.seen_count,
        "topic": letter.topic,
        "stage": letter.stage,
        "reason": letter.reason,
        "dev_eui": letter.dev_eui,
        "deduplication_id": str(letter.deduplication_id) if letter.deduplication_id else None,
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
        "payload_base64": base64.b64encode(letter.payload).decode("ascii"),
    }


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    from icone.runtime import services

    with services(settings, need_broker=False) as urls:
        try:
            with psycopg.connect(urls.database_url) as conn:
                letters = list_dead_letters(
                    conn,
                    stage=args.stage,
                    since=args.since,
                    limit=args.limit,
                    include_replayed=args.include_replayed,
                )
        except psycopg.Error as exc:
            raise StorageError(f"cannot read dead letters: {exc}") from exc
    out = sys.stdout
    if args.json:
        for letter in letters:
            out.write(json.dumps(_as_json(letter), ensure_ascii=False) + "\n")
        return 0
    out.write(
        f"{'id':>8}  {'received (UTC)':19}  {'stage':6}  {'seen':>4}  {'dev_eui':16}  reason\n"
    )
    for d in letters:
        received = d.received_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        replayed = " [replayed]" if d.replayed_at else ""
        out.write(
            f"{d.id:>8}  {received:19}  {d.stage:6}  {d.seen_count:>4}  "
            f"{d.dev_eui or '-':16}  {d.reason[:100]}{replayed}\n"
        )
    out.write(f"{len(letters)} dead letter(s)\n")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from icone.runtime import bridge_config, services
    from registry.replay import replay_with_registry

    if not (args.ids or args.stage or args.all):
        sys.stderr.write("say which dead letters to replay: --id ID ..., --stage STAGE or --all\n")
        return EXIT_USAGE
    with services(settings, need_broker=False) as urls:
        # Replaying needs the event format and model mapping, not a broker connection.
        config = bridge_config(settings, urls.mqtt_url or "mqtt://replay.invalid")
        try:
            report = replay_with_registry(urls.database_url, config, ids=args.ids, stage=args.stage)
        except psycopg.Error as exc:
            raise StorageError(f"replay failed: {exc}") from exc
    sys.stdout.write(
        f"replayed {report.replayed} of {report.selected} dead letter(s); "
        f"{report.failed} failed again; new rows: {report.rows.uplinks} uplinks, "
        f"{report.rows.measurements} measurements, {report.rows.device_events} events\n"
    )
    return EXIT_FAILED_AGAIN if report.failed else 0
