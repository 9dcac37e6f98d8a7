"""`icone bridge --processes N`: N bridge processes in one MQTT shared-subscription group.

One Python process is bound by its GIL (paho's receive loop, decoding and the COPY all
share it); the broker spreads a share group's messages over its members, so N processes use
N cores. Every guarantee of a single bridge holds per process: each has its own client id
(`<client_id>-<i>`, stable across restarts, so it resumes its own persistent session and
the messages the broker queued for it) and therefore its own spool
(`<state_dir>/spool/<client_id>-<i>`); the database's unique keys make the union exact.

The supervisor starts them, restarts one that dies (after a pause: its spool and broker
session are waiting for it, nothing is lost) and stops them all with SIGTERM, which each
handles as `icone bridge` does: drain, acknowledge, disconnect.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

DEFAULT_SHARE_GROUP = "icone"


@dataclass(frozen=True, slots=True)
class ProcessPlan:
    """What to run: the URLs are passed on, so children never start embedded services."""

    database_url: str
    mqtt_url: str
    client_id: str
    processes: int
    share_group: str = DEFAULT_SHARE_GROUP
    extra_args: Sequence[str] = ()  # e.g. ("--protobuf",)
    env: dict[str, str] = field(default_factory=dict)  # more ICONE_* settings for children

    def client_ids(self) -> list[str]:
        return [f"{self.client_id}-{i}" for i in range(self.processes)]

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "icone",
            "bridge",
            "--share-group",
            self.share_group,
            *self.extra_args,
        ]

    def child_env(self, client_id: str) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "ICONE_DATABASE_URL": self.database_url,
            "ICONE_MQTT_URL": self.mqtt_url,
            "ICONE_BRIDGE__CLIENT_ID": client_id,
        }


class BridgeProcesses:
    """Starts, watches and stops the bridge processes of a plan."""

    def __init__(
        self, plan: ProcessPlan, restart_delay_s: float = 2.0, stop_timeout_s: float = 90.0
    ) -> None:
        if plan.processes < 1:
            raise ValueError("processes must be at least 1")
        self.plan = plan
        self.restart_delay_s = restart_delay_s
        self.stop_timeout_s = stop_timeout_s
        self.restarts = 0
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, client_id: str) -> None:
        self._procs[client_id] = subprocess.Popen(
            self.plan.command(), env=self.plan.child_env(client_id)
        )
        logger.info(
            "bridge process started",
            extra={"client_id": client_id, "pid": self._procs[client_id].pid},
        )

    @property
    def pids(self) -> dict[str, int]:
        return {cid: proc.pid for cid, proc in self._procs.items()}

    def start(self) -> None:
        for client_id in self.plan.client_ids():
            self._spawn(client_id)

    def supervise(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Restart processes that exit until `stop` is set; then stop them all."""
        dead_since: dict[str, float] = {}
        try:
            while not stop.wait(poll_s):
                for client_id, proc in list(self._procs.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    now = time.monotonic()
                    if client_id not in dead_since:
                        logger.error(
                            "bridge process exited with code %s; restarting it in %.0f s",
                            code,
                            self.restart_delay_s,
                            extra={"client_id": client_id, "pid": proc.pid},
                        )
                        dead_since[client_id] = now
                    if now - dead_since[client_id] >= self.restart_delay_s:
                        del dead_since[client_id]
                        self.restarts += 1
                        self._spawn(client_id)
        finally:
            self.stop()

    def stop(self) -> None:
        """SIGTERM to all (each drains and acknowledges), then wait; SIGKILL stragglers."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for client_id, proc in self._procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error(
                    "bridge process did not stop; killing it (its spool keeps its messages)",
                    extra={"client_id": client_id, "pid": proc.pid},
                )
                proc.kill()
                proc.wait()


def run(plan: ProcessPlan, stop: threading.Event) -> int:
    """Run the plan until `stop` is set (the CLI sets it on SIGINT/SIGTERM)."""
    group = BridgeProcesses(plan)
    group.start()
    group.supervise(stop)
    return 0
