"""Embedded services for the demo, the tests and the benchmarks.

Starts a throwaway PostgreSQL cluster and a Mosquitto broker as child processes under a
state directory, on free loopback ports, with generated passwords. Both run as an
unprivileged user when we are root (PostgreSQL refuses to run as root anyway).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger(__name__)

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class EmbeddedError(Exception):
    """An embedded service could not be started."""


def free_port(preferred: int | None = None) -> int:
    """The preferred loopback port if free, else one the kernel picks."""
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise EmbeddedError("no free TCP port on 127.0.0.1")


def _wait_port(
    port: int, proc: subprocess.Popen[bytes], name: str, log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"{name} exited with code {proc.returncode}:\n{tail}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise EmbeddedError(f"{name} did not listen on port {port} within {timeout:.0f} s (log: {log})")


def _service_user(name: str) -> pwd.struct_passwd | None:
    """The account to run a server as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for candidate in (name, "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(candidate)
    raise EmbeddedError(f"running as root and no unprivileged user {name!r} or 'nobody' exists")


def _reachable_by_others(path: Path) -> bool:
    """Can another user traverse every parent of `path`? (/root is usually 0700.)"""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)


def service_home(path: Path) -> Path:
    """Where a server's files for `path` live: `path` itself, or, when we are root and the
    unprivileged server user could not reach it (e.g. under /root or pytest's 0700 tmp),
    a directory in the system temp dir named after it."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and not _reachable_by_others(path):
        digest = sha256(str(path).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"icone-{path.name}-{digest}"
    return path


def _owned_dir(path: Path, user: pwd.struct_passwd | None) -> Path:
    """Create the service home of `path` (0700), owned by `user`."""
    path = service_home(path) if user is not None else path
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
        for child in path.rglob("*"):
            os.lchown(child, user.pw_uid, user.pw_gid)
    return path


def _popen(args: list[str], log: Path, user: pwd.struct_passwd | None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    if user is not None:
        os.chown(log, user.pw_uid, user.pw_gid)
    try:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            start_new_session=True,  # Ctrl-C in the terminal goes to us; we stop them in order
        )
    finally:
        out.close()


def _stop(proc: subprocess.Popen[bytes], sig: int, name: str, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop within %.0f s; killing it", name, timeout)
        proc.kill()
        proc.wait()


@dataclass(frozen=True, slots=True)
class RunningService:
    url: str = field(repr=False)  # contains the generated password: never log it
    port: int = 0
    tls_port: int | None = None  # Mosquitto's TLS listener, when asked for


@dataclass(frozen=True, slots=True)
class TlsListener:
    """PEM material for a TLS listener of the embedded broker (tests use a throwaway CA)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    port: int | None = None


def _pg_bin(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise EmbeddedError(f"PostgreSQL's {name} not found (apt-get install postgresql)")
    return found


@contextlib.contextmanager
def postgres(
    state_dir: Path, port: int | None = None, timeout: float = 60
) -> Iterator[RunningService]:
    """Run a PostgreSQL cluster under `state_dir/postgres` (created on first use)."""
    state_dir = state_dir.resolve()
    user = _service_user("postgres")
    home = _owned_dir(state_dir / "postgres", user)
    data = home / "data"
    secret_file = state_dir / "postgres.password"
    state_dir.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        password = secrets.token_urlsafe(24)
        secret_file.write_text(password)
        secret_file.chmod(0o600)
        pwfile = home / "pwfile"
        pwfile.write_text(password)
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        result = subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "icone",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            capture_output=True,
            text=True,
            check=False,
        )
        pwfile.unlink()
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            raise EmbeddedError(f"initdb failed: {result.stderr.strip()}")
    password = secret_file.read_text().strip()
    port = port if port is not None else free_port()
    log = state_dir / "logs" / "postgres.log"
    proc = _popen(
        [
            _pg_bin("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={data}",
            "-c",
            "max_connections=100",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "fsync=on",
            # Sustained ingest writes ~20 MB of WAL per second here: with the default 1 GB
            # PostgreSQL checkpointed every ~27 s ("checkpoints are occurring too
            # frequently") and each checkpoint makes the next write of every page a full-page
            # image in the WAL. A soft limit: WAL only grows this large under such load.
            "-c",
            "max_wal_size=4GB",
        ],
        log,
        user,
    )
    try:
        _wait_port(port, proc, "postgres", log, timeout)
        admin_url = f"postgresql://icone:{password}@127.0.0.1:{port}/postgres"
        _wait_ready(admin_url, proc, log, timeout)
        _create_database(admin_url, "icone")
        url = f"postgresql://icone:{password}@127.0.0.1:{port}/icone"
        logger.info("embedded PostgreSQL listening on 127.0.0.1:%d (data %s)", port, data)
        yield RunningService(url=url, port=port)
    finally:
        _stop(proc, signal.SIGINT, "postgres")  # SIGINT = fast shutdown


def recreate_database(url: str) -> None:
    """Drop and create the embedded server's database of `url` (the demo's fresh start)."""
    import psycopg  # local: only the embedded PostgreSQL needs it here
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise EmbeddedError(f"could not recreate the demo database {name}: {exc}") from exc


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import psycopg  # local: only the embedded PostgreSQL needs it here

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except (
            psycopg.OperationalError
        ) as exc:  # still starting up ("the database system is starting up")
            if proc.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedError(f"PostgreSQL not ready: {exc} (log: {log})") from exc
            time.sleep(0.1)


def _create_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def mosquitto_password_file(path: Path, username: str, password: str) -> None:
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(path), username, password],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def mosquitto(
    state_dir: Path,
    port: int | None = None,
    timeout: float = 30,
    extra_config: str = "",
    tls: TlsListener | None = None,
) -> Iterator[RunningService]:
    """Run a Mosquitto broker with persistence under `state_dir/mosquitto`."""
    state_dir = state_dir.resolve()
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise EmbeddedError("mosquitto not found (apt-get install mosquitto)")
    user = _service_user("mosquitto")
    directory = _owned_dir(state_dir / "mosquitto", user)
    secret_file = state_dir / "mosquitto.password"
    state_dir.mkdir(parents=True, exist_ok=True)
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(24))
        secret_file.chmod(0o600)
    password = secret_file.read_text().strip()
    passwd = directory / "passwd"
    mosquitto_password_file(passwd, "icone", password)
    passwd.chmod(0o600)
    port = port if port is not None else free_port()
    tls_port = None
    if tls is not None:
        tls_port = tls.port if tls.port is not None else free_port()
        for name, pem in (
            ("ca.pem", tls.ca_pem),
            ("server.pem", tls.cert_pem),
            ("server.key", tls.key_pem),
        ):
            (directory / name).write_bytes(pem)
            (directory / name).chmod(0o600)
            if user is not None:
                os.chown(directory / name, user.pw_uid, user.pw_gid)
        extra_config += (
            f"\nlistener {tls_port} 127.0.0.1\ncafile {directory}/ca.pem\n"
            f"certfile {directory}/server.pem\nkeyfile {directory}/server.key\n"
        )
    conf = directory / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {passwd}",
                "persistence true",
                f"persistence_location {directory}/",
                # A save rewrites the whole in-memory store (a 200k-message backlog: ~220 MB).
                # Every second, that cost the broker more CPU per message than the bridge's
                # own processing and made large backlogs slow to queue (docs/benchmarks.md,
                # Ingest); a clean stop (SIGTERM) saves in any case.
                "autosave_interval 300",
                # Hold a large backlog for a persistent bridge session that is away (QoS 1).
                "max_queued_messages 2000000",
                "max_queued_bytes 0",
                "max_inflight_messages 0",
                "max_packet_size 1048576",
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                extra_config,
                "",
            ]
        )
    )
    if user is not None:
        for path in (conf, passwd):
            os.chown(path, user.pw_uid, user.pw_gid)
    log = state_dir / "logs" / "mosquitto.log"
    # Mosquitto drops privileges itself when started as root, but only to its `user`
    # option; starting it as the unprivileged user directly keeps the state dir consistent.
    proc = _popen([binary, "-c", str(conf)], log, user)
    try:
        _wait_port(port, proc, "mosquitto", log, timeout)
        logger.info("embedded Mosquitto listening on 127.0.0.1:%d", port)
        if tls_port is not None:
            _wait_port(tls_port, proc, "mosquitto (TLS)", log, timeout)
        yield RunningService(
            url=f"mqtt://icone:{password}@127.0.0.1:{port}", port=port, tls_port=tls_port
        )
    finally:
        _stop(proc, signal.SIGTERM, "mosquitto")
