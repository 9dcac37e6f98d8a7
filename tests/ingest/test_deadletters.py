"""Dead letters: listing with filters, replay after a fix, idempotent replays, the CLI."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from gateway_bridge.pipeline import Processor
from icone import deadletters_cmd
from icone.embedded import RunningService
from icone.settings import Settings
from ingest_service.deadletters import list_dead_letters, replay
from ingest_service.service import IngestService
from ingest_service.spool import Spool
from storage.records import InboundMessage
from storage.registry import DeviceSpec, upsert_devices
from tests.ingest.helpers import CONFIG, count, dev_eui, malformed, pool_for, process, uplink

MODEL = "milesight-em300-th"


def _registered(eui: str) -> str | None:
    return MODEL if eui.startswith("70b3d5") else None


fixed = Processor(CONFIG, _registered)  # "after the fix": the registry knows the devices


def _store(database: str, tmp_path: Path, messages: list[InboundMessage]) -> None:
    with pool_for(database) as pool, Spool(tmp_path / "spool", 1 << 20) as spool:
        IngestService(pool, spool, process).write_now(messages)


def test_replay_after_fix_stores_rows_once_and_marks_letters(database: str, tmp_path: Path) -> None:
    unknown = [uplink(i, tagged=False) for i in range(10)]  # no model: decode dead letters
    _store(database, tmp_path, [*unknown, uplink(100), malformed(7)])
    assert count(database, "SELECT count(*) FROM dead_letters") == 11
    assert count(database, "SELECT count(*) FROM measurements") == 3

    with pool_for(database) as pool:
        first = replay(pool, fixed, stage="decode")
        assert (first.selected, first.replayed, first.failed) == (10, 10, 0)
        assert first.rows.measurements == 30
        # stored the first time with status unknown_device; the replay updates how they decoded
        assert first.rows.uplinks == 10
        with pool.connection() as conn:
            ids = [d.id for d in list_dead_letters(conn, stage="decode", include_replayed=True)]
        again = replay(pool, fixed, ids=ids)  # explicit ids: replayed ones included
        assert (again.selected, again.replayed, again.failed) == (10, 10, 0)
        assert again.rows.measurements == 0
        assert again.rows.uplinks == 0  # nothing changed the second time
        assert replay(pool, fixed, stage="decode").selected == 0  # filters skip replayed ones

    assert count(database, "SELECT count(*) FROM measurements") == 33
    assert count(database, "SELECT count(*) FROM uplinks") == 11
    assert (
        count(database, "SELECT count(*) FROM uplinks WHERE decode_status = 'unknown_device'") == 0
    )
    assert count(database, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL") == 1


def test_replay_that_fails_again_counts_the_attempt(database: str, tmp_path: Path) -> None:
    _store(database, tmp_path, [malformed(1)])
    with pool_for(database) as pool:
        report = replay(pool, fixed, stage="parse")
    assert (report.selected, report.replayed, report.failed) == (1, 0, 1)
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT seen_count, replayed_at, reason FROM dead_letters").fetchone()
    assert row is not None
    assert row[0] == 2
    assert row[1] is None
    assert "invalid JSON" in row[2]


def test_list_filters_and_order(database: str, tmp_path: Path) -> None:
    _store(database, tmp_path, [malformed(i) for i in range(5)] + [uplink(9, tagged=False)])
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE dead_letters SET received_at = received_at - interval '2 days' "
            "WHERE topic LIKE %s",
            (f"%{dev_eui(0)}%",),
        )
        conn.commit()
        everything = list_dead_letters(conn)
        assert len(everything) == 6
        assert everything[-1].topic.find(dev_eui(0)) > 0  # oldest last
        assert [d.stage for d in list_dead_letters(conn, stage="decode")] == ["decode"]
        assert len(list_dead_letters(conn, limit=2)) == 2
        recent = list_dead_letters(conn, since=everything[-1].received_at + timedelta(days=1))
        assert len(recent) == 5
        with pytest.raises(ValueError, match="stage must be one of"):
            list_dead_letters(conn, stage="nonsense")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="icone")
    deadletters_cmd.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_list_and_replay(
    database: str,
    broker: RunningService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store(database, tmp_path, [uplink(3, tagged=False), malformed(4)])
    settings = Settings(
        database_url=SecretStr(database), mqtt_url=SecretStr(broker.url), state_dir=tmp_path
    )

    args = _parse(["deadletters", "list", "--json"])
    assert args.func(settings, args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(d["stage"] for d in lines) == ["decode", "parse"]

    args = _parse(["deadletters", "replay"])
    assert args.func(settings, args) == deadletters_cmd.EXIT_USAGE

    with psycopg.connect(database) as conn:  # the fix: register the device
        upsert_devices(conn, [DeviceSpec(dev_eui(3), MODEL)])
    args = _parse(["deadletters", "replay", "--all"])
    assert args.func(settings, args) == deadletters_cmd.EXIT_FAILED_AGAIN  # the malformed one
    assert "replayed 1 of 2" in capsys.readouterr().out
    assert count(database, "SELECT count(*) FROM measurements") == 3

    args = _parse(["deadletters", "list", "--stage", "decode", "--include-replayed"])
    assert args.func(settings, args) == 0
    assert "[replayed]" in capsys.readouterr().out
