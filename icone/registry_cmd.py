"""`icone apikey create|list|revoke` and `icone devices import|provision|genkey|rekey`: the
registry from the command line, through the same storage repositories and registry service as the API.

`icone apikey --name N --role R [--site ID]` (no action) still creates a key."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import AsyncConnection

from icone.argtypes import iso_datetime
from icone.exit_codes import EXIT_FAILED, EXIT_USAGE
from icone.settings import Settings
from storage import apikeys
from storage.errors import AlreadyExists, NotFoundError, StorageError

if TYPE_CHECKING:  # the registry and gRPC stack load only when a devices command runs
    from registry.service import Registry


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(settings: Settings, work: Callable[[AsyncConnection[Any]], Awaitable[int]]) -> int:
    from icone.runtime import services

    async def main(url: str) -> int:
        async with await AsyncConnection.connect(url) as conn:
            return await work(conn)

    with services(settings, need_broker=False) as urls:
        try:
            return asyncio.run(main(urls.database_url))
        except psycopg.Error as exc:
            raise StorageError(f"registry command failed: {exc}") from exc


@asynccontextmanager
async def _registry(settings: Settings) -> AsyncIterator[Registry]:
    from hardware.catalogue import load_catalogue
    from registry.chirpstack import Provisioner
    from registry.service import Registry

    catalogue = load_catalogue(settings.catalogue_dir)
    if not settings.chirpstack.enabled:
        yield Registry(catalogue, settings.chirpstack, cipher=settings.registry.cipher())
        return
    async with Provisioner.connect(settings.chirpstack) as provisioner:
        yield Registry(catalogue, settings.chirpstack, provisioner, settings.registry.cipher())


# --- apikey -------------------------------------------------------------------------------


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    if not args.name or not args.role:
        sys.stderr.write("icone apikey create needs --name and --role\n")
        return EXIT_USAGE
    if args.expires is not None and args.expires <= datetime.now(UTC):
        sys.stderr.write("--expires must be in the future\n")
        return EXIT_USAGE

    async def work(conn: AsyncConnection[Any]) -> int:
        try:
            token, _ = await apikeys.create(
                conn,
                name=args.name,
                role=args.role,
                site_ids=args.site or None,
                expires_at=args.expires,
                actor=_actor(),
            )
        except (AlreadyExists, NotFoundError) as exc:
            sys.stderr.write(f"{exc}\n")
            return EXIT_USAGE
        await conn.commit()
        sys.stdout.write(token + "\n")  # shown once; only its hash is stored
        return 0

    return _run(settings, work)


def cmd_apikey_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: AsyncConnection[Any]) -> int:
        keys = await apikeys.list_keys(conn, include_revoked=args.all)
        out = sys.stdout
        if args.json:
            for key in keys:
                out.write(json.dumps(key.public(), ensure_ascii=False) + "\n")
            return 0
        out.write(f"{'id':16}  {'role':14}  {'sites':20}  {'expires':10}  name\n")
        for k in keys:
            scope = ",".join(k.site_ids) if k.site_ids is not None else "*"
            expires = k.expires_at.date().isoformat() if k.expires_at else "-"
            revoked = " [revoked]" if k.revoked_at else ""
            out.write(f"{k.id:16}  {k.role:14}  {scope:20}  {expires:10}  {k.name}{revoked}\n")
        return 0

    return _run(settings, work)


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: AsyncConnection[Any]) -> int:
        try:
            key = await apikeys.revoke(conn, args.key_id, actor=_actor())
        except NotFoundError as exc:
            sys.stderr.write(f"{exc}\n")
            return EXIT_USAGE
        await conn.commit()
        sys.stdout.write(f"revoked {key.id} ({key.name})\n")
        return 0

    return _run(settings, work)


# --- devices ------------------------------------------------------------------------------


def cmd_devices_import(settings: Settings, args: argparse.Namespace) -> int:
    from registry import csv_import

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"cannot read {args.file}: {exc}\n")
        return EXIT_USAGE

    async def work(conn: AsyncConnection[Any]) -> int:
        async with _registry(settings) as reg:
            try:
                results = await csv_import.import_devices(conn, reg, text, actor=_actor())
            except csv_import.CsvFileError as exc:
                sys.stderr.write(f"{args.file}: {exc}\n")
                return EXIT_USAGE
        for r in results:
            if r.outcome == "created":
                continue
            for e in r.errors:
                field = ".".join(map(str, e["loc"])) or "-"
                sys.stdout.write(
                    f"line {r.line}: {r.outcome} {r.dev_eui or '-'}: {field}: {e['msg']}\n"
                )
        counts = {
            o: sum(r.outcome == o for r in results) for o in ("created", "pending", "rejected")
        }
        sys.stdout.write(
            f"{counts['created']} created, {counts['pending']} pending in ChirpStack, "
            f"{counts['rejected']} rejected\n"
        )
        return EXIT_FAILED if counts["rejected"] or counts["pending"] else 0

    return _run(settings, work)


def cmd_devices_provision(settings: Settings, args: argparse.Namespace) -> int:
    from registry import service
    from registry.errors import RegistryError

    if not settings.chirpstack.enabled:
        sys.stderr.write("ChirpStack provisioning is off: set ICONE_CHIRPSTACK__URL\n")
        return EXIT_USAGE

    async def work(conn: AsyncConnection[Any]) -> int:
        async with _registry(settings) as reg:
            try:
                done, failed = await service.retry_pending(conn, reg, actor=_actor())
            except RegistryError as exc:
                sys.stderr.write(f"{exc}\n")
                return EXIT_FAILED
        for dev_eui, why in failed:
            sys.stdout.write(f"{dev_eui}: still pending: {why}\n")
        sys.stdout.write(f"{len(done)} provisioned, {len(failed)} still pending\n")
        return EXIT_FAILED if failed else 0

    return _run(settings, work)


def cmd_devices_genkey(settings: Settings, args: argparse.Namespace) -> int:
    from storage.appkey_cipher import generate_key

    sys.stdout.write(generate_key() + "\n")
    return 0


def cmd_devices_rekey(settings: Settings, args: argparse.Namespace) -> int:
    from storage.appkey_cipher import AppKeyCipherError
    from storage.devices import rekey_app_keys

    cipher = settings.registry.cipher()
    if cipher is None:
        sys.stderr.write("no AppKey cipher: set ICONE_REGISTRY__SECRET_KEY\n")
        return EXIT_USAGE

    async def work(conn: AsyncConnection[Any]) -> int:
        try:
            count = await rekey_app_keys(conn, cipher, actor=_actor())
        except AppKeyCipherError as exc:
            await conn.rollback()
            sys.stderr.write(f"nothing re-encrypted: {exc}\n")
            return EXIT_FAILED
        await conn.commit()
        sys.stdout.write(f"{count} AppKey(s) re-encrypted with key id {cipher.current_id}\n")
        return 0

    return _run(settings, work)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def key_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", help="unique among live keys")
        p.add_argument("--role", choices=apikeys.ROLES)
        p.add_argument("--site", action="append", help="limit to this site id (repeatable)")
        p.add_argument("--expires", type=iso_datetime, default=None, help="ISO 8601, with zone")

    help_text = "Create, list and revoke API keys (a key is printed once, stored hashed)."
    parser = subparsers.add_parser("apikey", help=help_text, description=help_text)
    key_options(parser)  # `icone apikey --name N --role R`: create, as before
    parser.set_defaults(func=cmd_apikey_create)
    sub = parser.add_subparsers(dest="apikey", metavar="ACTION")
    p = sub.add_parser("create", help="create a key and print its token once")
    key_options(p)
    p.set_defaults(func=cmd_apikey_create)
    p = sub.add_parser("list", help="live keys (never their secrets)")
    p.add_argument("--all", action="store_true", help="also revoked keys")
    p.add_argument("--json", action="store_true", help="JSON lines")
    p.set_defaults(func=cmd_apikey_list)
    p = sub.add_parser("revoke", help="revoke a key by its id (the part after icone_)")
    p.add_argument("key_id")
    p.set_defaults(func=cmd_apikey_revoke)

    help_text = "Register devices in bulk and complete pending ChirpStack provisioning."
    parser = subparsers.add_parser("devices", help=help_text, description=help_text)
    sub = parser.add_subparsers(dest="devices", required=True, metavar="ACTION")
    p = sub.add_parser(
        "import",
        help="register one device per CSV line; report the rejected lines",
        description="Register one device per CSV line (columns: docs/registry.md). Each line "
        "is created whole or rejected whole. Exits 1 if a line was rejected or left pending.",
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_devices_import)
    p = sub.add_parser(
        "provision",
        help="create in ChirpStack the devices left pending",
        description="Complete the ChirpStack provisioning of every pending device.",
    )
    p.add_argument("--retry", action="store_true", required=True, help="retry pending devices")
    p.set_defaults(func=cmd_devices_provision)
    p = sub.add_parser(
        "genkey",
        help="print a new ICONE_REGISTRY__SECRET_KEY",
        description="Print a random 32-byte key (URL-safe base64) for ICONE_REGISTRY__SECRET_KEY.",
    )
    p.set_defaults(func=cmd_devices_genkey)
    p = sub.add_parser(
        "rekey",
        help="re-encrypt kept AppKeys with the current ICONE_REGISTRY__SECRET_KEY",
        description="Re-encrypt every kept AppKey sealed by a key listed in "
        "ICONE_REGISTRY__OLD_SECRET_KEYS with ICONE_REGISTRY__SECRET_KEY, in one transaction "
        "(all or nothing). Exits 1 if one cannot be decrypted.",
    )
    p.set_defaults(func=cmd_devices_rekey)
