"""A real PostgreSQL for the store tests: `postgres_url()` starts one throwaway server the
first time a test needs it (Debian's postgresql package, run as the `postgres` user on
127.0.0.1, data in a temp dir) and `pytest_sessionfinish` stops it by PID.

`$PANTAU_TEST_POSTGRES_URL` names an existing server instead (its store tables get wiped).
Without root or the package the tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

_server: PgServer | None = None


@dataclass
class PgServer:
    proc: subprocess.Popen[bytes]
    datadir: Path
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: smart shutdown, by the PID we started
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.datadir, ignore_errors=True)


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root (to run postgres as the postgres user)"
    if _bindir() is None:
        return "postgresql not installed: apt-get install postgresql"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start() -> PgServer:
    bindir = _bindir()
    assert bindir is not None
    pg = pwd.getpwnam("postgres")
    datadir = Path(tempfile.mkdtemp(prefix="pantau-pg-"))
    os.chown(datadir, pg.pw_uid, pg.pw_gid)
    os.chmod(datadir, 0o700)
    as_pg = {"user": pg.pw_uid, "group": pg.pw_gid, "extra_groups": [], "cwd": datadir}
    subprocess.run([str(bindir / "initdb"), "-D", str(datadir / "data"), "-A", "trust",
                    "-U", "pantau", "--no-sync", "-E", "UTF8"], check=True,
                   capture_output=True, **as_pg)  # type: ignore[call-overload]
    port = _free_port()
    with (datadir / "server.log").open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(bindir / "postgres"), "-D", str(datadir / "data"), "-h", "127.0.0.1",
             "-p", str(port), "-k", str(datadir), "-F"], stdout=log, stderr=subprocess.STDOUT,
            **as_pg)
    url = f"postgresql://pantau@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=pantau dbname=postgres",
                                 connect_timeout=2, autocommit=True) as conn:
                conn.execute("CREATE DATABASE pantau_test")
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("PostgreSQL did not start: "
                                   + (datadir / "server.log").read_text(errors="replace")) from None
            time.sleep(0.2)
    return PgServer(proc, datadir, url.rsplit("/", 1)[0] + "/pantau_test")


def postgres_url() -> str:
    """The URL of the test PostgreSQL (started on first use)."""
    global _server
    given = os.environ.get("PANTAU_TEST_POSTGRES_URL")
    if given:
        return given
    if _server is None:
        problem = _missing()
        if problem:
            message = f"PostgreSQL unavailable: {problem}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        _server = _start()
    return _server.url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
