"""The running demo's connection settings, shared with the other commands.

`icone demo` writes `<state dir>/demo-services.json` (owner-only, 0600: the URLs carry the
generated passwords) once its services are up, and removes it when it stops cleanly. A
command run meanwhile without ICONE_DATABASE_URL / ICONE_MQTT_URL uses those services instead
of starting a second embedded PostgreSQL on the same data directory (which PostgreSQL
refuses). A file left by a demo that was killed is not trusted: the demo's process must be
alive and its ports must accept connections.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_NAME = "demo-services.json"


@dataclass(frozen=True, slots=True)
class DemoServices:
    pid: int
    database_url: str = field(repr=False)  # carry passwords: never log them
    mqtt_url: str = field(repr=False)
    database_port: int
    mqtt_port: int
    api_url: str


def path_in(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def write(state_dir: Path, services: DemoServices) -> Path:
    """Write the file atomically, created 0600 (never readable by others, even briefly)."""
    path = path_in(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(services), out)
    temporary.replace(path)
    return path


def remove(state_dir: Path) -> None:
    path_in(state_dir).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def running(state_dir: Path) -> DemoServices | None:
    """The services of a demo running on `state_dir`, or None (no file, or a stale one)."""
    path = path_in(state_dir)
    try:
        services = DemoServices(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        logger.warning("ignoring %s: unreadable (%s)", path, type(exc).__name__)
        return None
    if not (
        _alive(services.pid)
        and _listening(services.database_port)
        and _listening(services.mqtt_port)
    ):
        logger.info("ignoring %s: its demo (pid %d) is not running", path, services.pid)
        return None
    return services
