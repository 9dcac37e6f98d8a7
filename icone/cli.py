"""The `icone` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from gateway_bridge.config import BrokerAddress, EventFormat
from gateway_bridge.errors import BridgeError
from hardware.catalogue import CatalogueError, load_catalogue
from hardware.simulator import PublishError
from icone import (
    deadletters_cmd,
    factors_cmd,
    grafana_cmd,
    logs,
    opendata_cmd,
    registry_cmd,
    simulate_cmd,
)
from icone.bench import indicators as bench_indicators
from icone.embedded import EmbeddedError
from icone.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, EXIT_USAGE
from icone.settings import Settings
from ingest_service.errors import IngestError
from storage.errors import StorageError

logger = logging.getLogger("icone")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> threading.Event:
    """Ctrl-C / SIGTERM set an event that the long-running commands watch."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _settings_error(exc: ValidationError) -> str:
    lines = ["configuration error:"]
    for err in exc.errors():
        field = "__".join(str(p) for p in err["loc"]).upper()  # env_nested_delimiter
        lines.append(f"  ICONE_{field}: {err['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


# --- commands ---------------------------------------------------------------------------


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from icone.demo import run_demo

    return run_demo(
        settings, _stop_on_signals(), args.duration, devices=args.devices, rate=args.rate
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from icone.reference import sync_reference_data
    from icone.runtime import services
    from storage.migrate import migrate

    with services(settings, need_broker=False) as urls:
        report = migrate(urls.database_url, args.mode, settings.registry.cipher())
        sync_reference_data(urls.database_url, settings.catalogue_dir)
    print(
        f"schema at version {report.current} ({report.mode} mode); applied: "
        f"{', '.join(map(str, report.applied)) or 'nothing'}"
    )
    return 0


def cmd_bridge(settings: Settings, args: argparse.Namespace) -> int:
    from icone.reference import sync_reference_data
    from icone.runtime import bridge_config, configured_bridge, running_maintenance, services
    from storage.migrate import migrate

    if args.protobuf:
        settings.bridge.event_format = EventFormat.PROTOBUF
    stop = _stop_on_signals()
    with services(settings) as urls:
        migrate(urls.database_url, appkey_cipher=settings.registry.cipher())
        sync_reference_data(urls.database_url, settings.catalogue_dir)
        config = bridge_config(settings, urls.mqtt_url, share_group=args.share_group)
        with contextlib.ExitStack() as stack:
            if not args.no_maintenance:
                policy = settings.retention.policy()
                interval = settings.retention.maintenance_interval_s
                stack.enter_context(running_maintenance(urls.database_url, policy, interval))
            if args.processes > 1:
                return _run_bridge_processes(settings, args, urls.database_url, urls.mqtt_url, stop)
            bridge = stack.enter_context(configured_bridge(settings, config, urls.database_url))
            bridge.run_until(stop)
    return 0


def _run_bridge_processes(
    settings: Settings,
    args: argparse.Namespace,
    database_url: str,
    mqtt_url: str,
    stop: threading.Event,
) -> int:
    """N bridge processes in one share group, each with its own client id and spool; this
    process supervises them (restarts one that dies) and runs the storage maintenance."""
    from icone import bridge_processes

    extra = ["--no-maintenance"] + (["--protobuf"] if args.protobuf else [])
    plan = bridge_processes.ProcessPlan(
        database_url=database_url,
        mqtt_url=mqtt_url,
        client_id=settings.bridge.client_id,
        processes=args.processes,
        share_group=args.share_group or bridge_processes.DEFAULT_SHARE_GROUP,
        extra_args=extra,
        env={"ICONE_STATE_DIR": str(settings.state_dir.resolve())},
    )
    return bridge_processes.run(plan, stop)


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from icone.runtime import bridge_config, services

    with services(settings, need_broker=False) as urls:
        app = create_app(
            urls.database_url,
            chirpstack=settings.chirpstack,
            catalogue=load_catalogue(settings.catalogue_dir),
            bridge=bridge_config(settings, urls.mqtt_url or "mqtt://replay.invalid"),
            appkey_cipher=settings.registry.cipher(),
        )
        uvicorn.run(
            app,
            host=args.host or settings.api.host,
            port=args.port or settings.api.port,
            log_level="info",
            access_log=False,  # api.middleware logs each request, without identifiers or keys
        )
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from hardware import simulator
    from hardware.catalogue import load_catalogue
    from hardware.fleet import build_fleet
    from icone.runtime import running_demo, services

    if settings.mqtt_url is None and running_demo(settings) is None:
        print(
            "icone simulate needs ICONE_MQTT_URL (the broker ChirpStack publishes to), "
            "or a running `icone demo`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    problem = simulate_cmd.usage_error(args)
    if problem:
        print(f"icone simulate: {problem}", file=sys.stderr)
        return EXIT_USAGE
    run = None
    with services(settings, need_database=False) as urls:
        broker = BrokerAddress.from_url(urls.mqtt_url)
        start = datetime.now(UTC)
        fleet = build_fleet(load_catalogue(settings.catalogue_dir), args.devices, start=start)
        truth = simulate_cmd.attach_truth(fleet) if args.truth else None
        client = simulator.connect(
            broker.host,
            broker.port,
            broker.username,
            broker.password.get_secret_value() if broker.password else None,
            tls_ca=str(settings.bridge.tls_ca_file) if settings.bridge.tls_ca_file else None,
        )
        try:
            if args.hours:
                sent, run = simulate_cmd.publish_history(client, fleet, args)
                truth, start = run.truth, run.start
            elif args.count:
                step = timedelta(seconds=1 / args.rate)
                stream = simulator.events(fleet, start, step, args.protobuf)
                sent = simulator.publish_all(client, stream, args.count, progress=_progress)
            else:
                stop = _stop_on_signals()
                if args.duration:
                    threading.Timer(args.duration, stop.set).start()
                sent = simulator.run_realtime(client, fleet, args.rate, stop, args.protobuf)
        finally:
            client.disconnect()
            client.loop_stop()
    print(f"published {sent} uplinks from {len(fleet)} virtual devices")
    if args.truth and truth is not None:
        simulate_cmd.write_truth(args.truth, fleet, truth, start, run)
        print(f"ground truth written to {args.truth}")
    return 0


def cmd_maintenance(settings: Settings, args: argparse.Namespace) -> int:
    from icone.runtime import services
    from storage.maintenance import run_maintenance

    with services(settings, need_broker=False) as urls:
        report = run_maintenance(urls.database_url, settings.retention.policy(), datetime.now(UTC))
    removed = sum(r.rows_removed for r in report.retention)
    print(
        f"storage mode {report.mode}: {report.partitions_created} partitions created, "
        f"rollups refreshed, {removed} rows past retention removed"
    )
    return 0


def cmd_bench_storage(settings: Settings, args: argparse.Namespace) -> int:
    from icone.bench import storage as bench_storage

    url = settings.database_url.get_secret_value() if settings.database_url else None
    from storage.migrate import StorageMode

    only = None if args.mode == "both" else StorageMode(args.mode)
    report = bench_storage.run(
        scale=args.scale,
        json_path=args.json,
        database_url=url,
        only=only,
        keep=args.keep,
        reuse=args.reuse,
    )
    print(json.dumps(report, indent=2))
    return _verdict(bench_storage.failures(report))


def cmd_bench_decoders(settings: Settings, args: argparse.Namespace) -> int:
    from icone.bench import decoders as bench_decoders

    rates = bench_decoders.run(
        seconds_per_model=args.seconds, json_path=args.json, progress=sys.stderr
    )
    return _verdict(bench_decoders.failures(rates))


def cmd_bench_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from icone import embedded
    from icone.bench import ingest as bench_ingest
    from icone.runtime import services

    with contextlib.ExitStack() as stack:
        urls = stack.enter_context(services(settings, need_broker=settings.mqtt_url is not None))
        mqtt_url = urls.mqtt_url
        if not mqtt_url:
            # A broker of its own, emptied first: the bench queues GBs of backlog (1 M events
            # ~1.3 GB per session), and a killed run's store would make the next start of the
            # demo's broker load all of it.
            bench_state = settings.state_dir / "bench"
            (bench_state / "mosquitto" / "mosquitto.db").unlink(missing_ok=True)
            mqtt_url = stack.enter_context(embedded.mosquitto(bench_state)).url
        report = bench_ingest.run(
            settings.state_dir,
            urls.database_url,
            mqtt_url,
            n=args.n,
            devices=args.devices,
            json_path=args.json,
            baseline_n=args.baseline_n,
            processes=args.processes,
            ingest_workers=(
                settings.bridge.ingest_workers
                if args.ingest_workers is None
                else args.ingest_workers
            ),
        )
    return _verdict(bench_ingest.failures(report))


def _verdict(failures: list[str]) -> int:
    """A benchmark's exit code: 1 and one line per missed target, 0 when all are met."""
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} target(s) missed", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _progress(done: int) -> None:
    print(f"published {done}", file=sys.stderr, flush=True)


# --- parser -----------------------------------------------------------------------------

Command = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icone",
        description="ICONE: telemetry platform for Tours Métropole's shared LoRaWAN network. "
        "Configuration comes from ICONE_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add(
        "demo",
        cmd_demo,
        "Run the whole chain on embedded PostgreSQL and Mosquitto (unless "
        "ICONE_DATABASE_URL / ICONE_MQTT_URL are set) with a virtual fleet: simulator -> "
        "bridge -> database -> API. Ctrl-C stops everything cleanly.",
    )
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    p.add_argument("--devices", type=int, default=24, help="virtual devices (default 24)")
    p.add_argument("--rate", type=float, default=4.0, help="live uplinks per second (default 4)")

    p = add(
        "bridge",
        cmd_bridge,
        "Run the MQTT bridge and ingest: consume ChirpStack events, "
        "decode them and store them, acknowledging each message only once it is stored.",
    )
    p.add_argument(
        "--share-group",
        default=None,
        help="join MQTT 5 shared subscription $share/NAME/... to split the stream "
        "between several bridges",
    )
    p.add_argument(
        "--protobuf",
        action="store_true",
        help="ChirpStack publishes protobuf (its [integration.mqtt] json = false)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="run N bridge processes in one share group (own client id and spool each), "
        "supervised by this one",
    )
    p.add_argument(
        "--no-maintenance",
        action="store_true",
        help="do not run storage maintenance (partitions, rollups, retention) in this process; "
        "use when another bridge of the share group runs it",
    )

    p = add("api", cmd_api, "Serve the HTTP API (OpenAPI docs at /docs).")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)

    p = add(
        "migrate",
        cmd_migrate,
        "Create or upgrade the database schema (idempotent); uses "
        "TimescaleDB when the server has it preloaded, plain PostgreSQL otherwise.",
    )
    p.add_argument("--mode", choices=("auto", "timescale", "plain"), default="auto")

    p = add(
        "simulate",
        cmd_simulate,
        "Publish ChirpStack v4 uplink events from a virtual fleet "
        "that speaks each model's real payload format.",
    )
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--rate", type=float, default=10.0, help="uplinks per second")
    p.add_argument("--count", type=int, default=0, help="publish N uplinks as fast as possible")
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    p.add_argument("--protobuf", action="store_true", help="publish protobuf instead of JSON")
    simulate_cmd.add_arguments(p)

    add(
        "maintenance",
        cmd_maintenance,
        "Run one storage maintenance pass now: partitions "
        "ahead (plain PostgreSQL), rollup refresh, retention by data class.",
    )

    registry_cmd.add_parser(sub)
    deadletters_cmd.add_parser(sub)
    opendata_cmd.add_parser(sub)
    factors_cmd.add_parser(sub)
    grafana_cmd.add_parser(sub)

    bench = sub.add_parser("bench", help="Benchmarks (see docs/benchmarks.md).")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    bench_indicators.add_parser(bench_sub)
    p = bench_sub.add_parser("decoders", help="decode throughput per model, one core")
    p.set_defaults(func=cmd_bench_decoders)
    p.add_argument("--seconds", type=float, default=1.0, help="measuring time per model")
    p.add_argument("--json", type=Path, default=None, help="also write results to PATH")
    p = bench_sub.add_parser(
        "storage",
        help="storage load, bytes per reading and query latency, plain PostgreSQL "
        "and TimescaleDB side by side (TimescaleDB when ICONE_DATABASE_URL's server has it)",
    )
    p.set_defaults(func=cmd_bench_storage)
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the full run (1,000 devices x 1 year of 15-minute readings)",
    )
    p.add_argument(
        "--mode",
        choices=("both", "plain", "timescale"),
        default="both",
        help="storage modes to run (TimescaleDB needs a server that has it preloaded)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the loaded databases (icone_bench_<mode>) on ICONE_DATABASE_URL's server",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="skip the load: migrate and query the databases a --keep run left (kept again)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write results to PATH")
    p = bench_sub.add_parser(
        "ingest",
        help="end-to-end ingest rate vs a per-event baseline and the bare-receive "
        "ceiling, in one run (embedded services unless URLs are configured)",
    )
    p.set_defaults(func=cmd_bench_ingest)
    p.add_argument("--n", type=int, default=200_000, help="uplinks per consumer")
    p.add_argument("--devices", type=int, default=2000, help="virtual devices")
    p.add_argument("--processes", type=int, default=1, help="run ours as N bridge processes")
    p.add_argument(
        "--ingest-workers",
        type=int,
        default=None,
        help="ingest worker processes of ours (default: ICONE_BRIDGE__INGEST_WORKERS)",
    )
    p.add_argument(
        "--baseline-n", type=int, default=None, help="uplinks for the (slow) baseline; default: N"
    )
    p.add_argument("--json", type=Path, default=None, help="also write results to PATH")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(_settings_error(exc), file=sys.stderr)
        return EXIT_USAGE
    logs.configure(settings.log_level, settings.log_json)
    func: Command = args.func
    # SIGTERM unwinds like Ctrl-C, so that the embedded PostgreSQL and Mosquitto a command
    # started are stopped (a bare SIGTERM left them running); the long-running commands
    # replace this with their graceful stop (_stop_on_signals).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        load_catalogue(settings.catalogue_dir)  # an invalid sheet stops start-up, naming it
        return func(settings, args)
    except BrokenPipeError:
        # `icone ... | head`: the reader is gone; nothing more to say (stdout to /dev/null so
        # that the interpreter's final flush does not raise again)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (BridgeError, EmbeddedError, IngestError, PublishError, StorageError, OSError) as exc:
        # Expected operational failures: a clear message and an exit code, no traceback.
        logger.error("%s", exc)
        return EXIT_UNAVAILABLE
    except CatalogueError as exc:
        logger.error("invalid device catalogue: %s", exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        logger.warning("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
