"""A throwaway PostgreSQL inside the lab namespace, where the agents run: for the store
outage scenarios and the cluster scenarios (several agents on one database)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from agent.core.clock import SystemClock
from lab.agentproc import free_port
from lab.lab import Lab
from tests.postgres_fixtures import _bindir, _missing
from ticketing.models import Ticket, TicketEvent
from ticketing.store.sql import SqlBackend


class LabPostgres:
    """A throwaway PostgreSQL inside the lab namespace (where the agent runs), started and
    stopped by the PID of the process this test made (`setpriv` execs it as postgres)."""

    def __init__(self, lab: Lab, extra_hosts: Sequence[str] = ()) -> None:
        """`extra_hosts`: loopback addresses it listens on besides 127.0.0.1 (so a test can
        cut one client off with iptables on its own address)."""
        missing = _missing()
        if missing:  # lab tests have root already: a missing PostgreSQL fails, never skips
            pytest.fail(f"PostgreSQL unavailable: {missing}")
        self.hosts = ",".join(["127.0.0.1", *extra_hosts])
        bindir = _bindir()
        assert bindir is not None
        self.lab, self.bindir = lab, bindir
        pg = pwd.getpwnam("postgres")
        self.dir = Path(tempfile.mkdtemp(prefix="pantau-pg-outage-"))
        os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        os.chmod(self.dir, 0o700)
        subprocess.run([str(bindir / "initdb"), "-D", str(self.dir / "data"), "-A", "trust",
                        "-U", "pantau", "--no-sync", "-E", "UTF8"], check=True,
                       capture_output=True, user=pg.pw_uid, group=pg.pw_gid, extra_groups=[],
                       cwd=self.dir)
        self.port = free_port(lab)
        self.url = f"postgresql://pantau@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.dir / "server.log").open("ab") as log:
            self.proc = self.lab.popen(
                ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--",
                 str(self.bindir / "postgres"), "-D", str(self.dir / "data"), "-h",
                 self.hosts, "-p", str(self.port), "-k", str(self.dir), "-F"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 30
        while self.lab.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                            str(self.port)], capture_output=True).returncode != 0:
            assert self.proc.poll() is None, (self.dir / "server.log").read_text()
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: clients are cut off
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    def read(self) -> tuple[list[Ticket], dict[str, list[TicketEvent]]]:
        async def read() -> tuple[list[Ticket], dict[str, list[TicketEvent]]]:
            backend = await SqlBackend.connect(self.url, clock=SystemClock())
            try:
                tickets = list(await backend.list(None))
                return tickets, {t.id: list(await backend.events(t.id)) for t in tickets}
            finally:
                await backend.aclose()

        with self.lab.inside():  # the store's worker thread starts in here, so it stays
            return asyncio.run(read())

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
