"""KWDB deployments for real (issue 17): a secure node with a certificate directory, and a
3-node local cluster on loopback for the deployment-type detection.

Each fixture starts its own kwbase processes from ../shared/kwdb/server (different ports and
stores) and kills them at the end; both are module-scoped and take a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from .conftest import KWDB_NODE, _kwdb_env
from .test_cli import error_lines, run

pytestmark = pytest.mark.kwdb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kwbase() -> str:
    if not KWDB_NODE.exists():
        pytest.skip(f"no KWDB server here: {KWDB_NODE} is absent (CI has ../shared/kwdb/server)")
    return subprocess.run([str(KWDB_NODE), "bin"], capture_output=True, text=True, check=True,
                          env=_kwdb_env()).stdout.strip()


def _answers(port: int, deadline: float, **kwargs: object) -> None:
    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user="root", dbname="defaultdb", connect_timeout=2,
                                 **kwargs) as conn:  # type: ignore[arg-type]
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stop(pid_files: list[Path]) -> None:
    pids = []
    for f in pid_files:
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(f.read_text().strip()))
    for pid in pids:  # a graceful drain takes long and proves nothing here
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def secure_node() -> Iterator[tuple[int, Path]]:
    """A secure KWDB node: certificates made by `kwbase cert`; (port, certs dir)."""
    kw = _kwbase()
    base = Path(tempfile.mkdtemp(prefix="kwtui-test-kwdb-secure-"))
    certs, keys = base / "certs", base / "keys"
    certs.mkdir()
    keys.mkdir()
    for args in (["create-ca"], ["create-node", "127.0.0.1", "localhost"], ["create-client", "root"]):
        subprocess.run([kw, "cert", *args, f"--certs-dir={certs}", f"--ca-key={keys / 'ca.key'}"], check=True,
                       capture_output=True)
    port = _free_port()
    try:
        with (base / "start.out").open("w") as log:  # --background: the node keeps the output open
            subprocess.run([kw, "start-single-node", f"--certs-dir={certs}", f"--listen-addr=127.0.0.1:{port}",
                            f"--http-addr=127.0.0.1:{_free_port()}", f"--brpc-addr=127.0.0.1:{_free_port()}",
                            f"--store={base / 'store'}", f"--pid-file={base / 'kw.pid'}", "--background"],
                           check=True, stdout=log, stderr=log, stdin=subprocess.DEVNULL, timeout=120)
        _answers(port, time.monotonic() + 60, sslmode="verify-full", sslrootcert=str(certs / "ca.crt"),
                 sslcert=str(certs / "client.root.crt"), sslkey=str(certs / "client.root.key"))
        yield port, certs
    finally:
        _stop([base / "kw.pid"])
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[int]:
    """Three KWDB nodes on loopback joined into one cluster; the first node's SQL port."""
    kw = _kwbase()
    base = Path(tempfile.mkdtemp(prefix="kwtui-test-kwdb-cluster-"))
    ports = [_free_port() for _ in range(3)]
    join = ",".join(f"127.0.0.1:{p}" for p in ports)
    pid_files = [base / f"n{i}.pid" for i in range(3)]
    procs = []
    try:
        for i, port in enumerate(ports):
            procs.append(subprocess.Popen(
                [kw, "start", "--insecure", f"--listen-addr=127.0.0.1:{port}", f"--http-addr=127.0.0.1:{_free_port()}",
                 f"--brpc-addr=127.0.0.1:{_free_port()}", f"--store={base / f's{i}'}", f"--join={join}",
                 f"--pid-file={pid_files[i]}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1)
        subprocess.run([kw, "init", "--insecure", f"--host=127.0.0.1:{ports[0]}"], check=True, capture_output=True,
                       timeout=120)
        _answers(ports[0], time.monotonic() + 60, sslmode="disable")
        deadline = time.monotonic() + 60
        with psycopg.connect(host="127.0.0.1", port=ports[0], user="root", dbname="defaultdb", sslmode="disable",
                             autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM kwdb_internal.gossip_nodes WHERE is_live").fetchone() != (3,):
                if time.monotonic() > deadline:
                    pytest.fail("the 3 KWDB nodes did not all join")
                time.sleep(0.3)
        yield ports[0]
    finally:
        _stop(pid_files)
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait(30)
        shutil.rmtree(base, ignore_errors=True)


def test_a_certificate_directory_connects_to_a_secure_node(secure_node: tuple[int, Path], profiles_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    port, certs = secure_node
    assert run(capsys, "profile", "add", "sec", "--host", "127.0.0.1", "--port", str(port), "--user", "root",
               "--database", "defaultdb", "--certs-dir", str(certs))[0] == 0
    code, out, err = run(capsys, "profile", "test", "sec")
    assert code == 0, err
    assert "KWDB" in out and "single node" in out
    code, out, err = run(capsys, "query", "--profile", "sec", "--json", "select current_user")
    assert code == 0 and '"root"' in out, err
    # without the certificates the node asks for a password: one clear line, no traceback
    code, _, err = run(capsys, "query", "--dsn", f"postgresql://root@127.0.0.1:{port}/defaultdb?sslmode=disable",
                       "select 1")
    assert code == 1 and "Traceback" not in err and len(error_lines(err)) == 1


def test_a_three_node_cluster_is_detected_by_its_replication(cluster: int, profiles_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"postgresql://root@127.0.0.1:{cluster}/defaultdb?sslmode=disable"
    code, out, err = run(capsys, "profile", "add", "cl", "--dsn", uri)
    assert code == 0, err
    code, out, err = run(capsys, "profile", "test", "cl")
    assert code == 0 and "multi-replica cluster" in out, out + err
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ALTER RANGE default CONFIGURE ZONE USING num_replicas = 1")
    try:
        code, out, err = run(capsys, "profile", "test", "cl")
        assert code == 0 and "single-replica cluster" in out, out + err
    finally:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("ALTER RANGE default CONFIGURE ZONE USING num_replicas = 3")
