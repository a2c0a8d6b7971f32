"""Three agents in the lab on one PostgreSQL (LabPostgres) as cluster members, their e-mail
pointed at the suite's SMTP server: started and stopped by PID, read through their /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, TomlValue
from lab.lab import Lab
from tests.lab_postgres import LabPostgres
from tests.notify_email_support import SmtpThread
from tests.notify_inbox_support import TimedRecorder
from tests.notify_lab_support import OWNER, PEOPLE

NODES = ("agent-a", "agent-b", "agent-c")
HEARTBEAT_SECONDS, LEASE_SECONDS = 1.0, 3.0
MAIL_FROM = "pantau@kotabogor.example"


class SlowRecorder(TimedRecorder):
    """An SMTP server that takes `delay` seconds to accept each mail: a message stays in
    flight that long, so a second sender polling the outbox meanwhile would send it again."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)  # the server's own loop, in its thread
        return await super().handle_DATA(server, session, envelope)


def users() -> str:
    """The SOP-006 chain of notify_lab_support as configured users, e-mail only."""
    lines = []
    for p in PEOPLE.values():
        lines += ["", "[[users]]", f'name = "{p.name}"', f'role = "{p.role}"',
                  f'token = {{ env = "TOKEN_{p.name.upper()}" }}', f'email = "{p.email}"']
        if p.role == "perangkat_daerah":
            lines.append(f'owner = "{OWNER}"')
    return "\n".join(lines) + "\n"


class Cluster:
    """`with Cluster(lab, tmp_path, devices, sections) as c:` PostgreSQL, an SMTP server and
    three members (`c.agents`, by node), each with the same inventory and sections."""

    def __init__(self, lab: Lab, workdir: Path, devices: Sequence[LabDevice],
                 sections: Mapping[str, Mapping[str, TomlValue]],
                 smtp_delay: float = 0.0) -> None:
        self.lab, self.workdir = lab, workdir
        self.devices, self.sections = devices, sections
        self.mail = SlowRecorder(smtp_delay)
        self.smtp = SmtpThread(self.mail)
        self.pg = LabPostgres(lab)
        self.agents: dict[str, AgentProcess] = {}
        self._stack = ExitStack()

    def __enter__(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self._stack.callback(self.pg.close)
        self.pg.start()
        with self.lab.inside():
            self.smtp.start()
        self._stack.callback(self.smtp.stop)
        env = {f"TOKEN_{p.name.upper()}": p.token for p in PEOPLE.values()}
        for node in NODES:
            work = self.workdir / node
            work.mkdir()
            sections: dict[str, Mapping[str, TomlValue]] = {
                **self.sections,
                "agent": {"database": self.pg.url, "journal": str(work / "journal.db")},
                "cluster": {"enabled": True, "node": node,
                            "heartbeat_seconds": HEARTBEAT_SECONDS,
                            "lease_seconds": LEASE_SECONDS},
                "notify.email": {"host": "127.0.0.1", "port": self.smtp.port,
                                 "security": "none", "from": MAIL_FROM},
            }
            agent = AgentProcess(self.lab, work, self.devices,
                                 sections, env=env)
            agent.config.write_text(agent.config.read_text() + users())
            self._stack.callback(agent.stop, 15.0)
            agent.start(ready_timeout=40)
            self.agents[node] = agent

    def alive(self) -> dict[str, AgentProcess]:
        return {n: a for n, a in self.agents.items()
                if a.proc is not None and a.proc.poll() is None}

    def leaders(self) -> list[str]:
        """The live members whose /metrics say they lead."""
        out = []
        for node, agent in self.alive().items():
            value = agent.metrics().get("pantau_cluster_leader", {}).get(
                frozenset({("node", node)}))
            if value == 1.0:
                out.append(node)
        return out

    def wait(self, cond: Callable[[], Any], timeout: float, what: str) -> Any:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            value = cond()
            if value:
                return value
            time.sleep(0.1)
        logs = "\n".join(f"--- {n}\n{a.logs()[-2500:]}" for n, a in self.agents.items())
        raise AssertionError(f"{what}: not within {timeout}s\n{logs}")
