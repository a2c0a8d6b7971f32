"""Reload without restart, on the real agent in the lab (ICMP only): SIGHUP with 10 devices
added and 5 removed, a broken file refused on SIGHUP, and `POST /api/v1/reload` for an admin
and for another role."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator, Sequence

import pytest

from agent.exposition import MAX_PERIOD_SECONDS
from lab.agentproc import AgentProcess
from lab.inventory import LabDevice, lab_devices, to_toml
from lab.lab import Lab
from tests.conftest import Figure

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("reload")]

INTERVAL, TIMEOUT, DOWN_AFTER, UP_AFTER = 5, 2, 3, 1
START, ADDED, REMOVED = 20, 10, 5
NEW_UP_BOUND = INTERVAL + TIMEOUT + 1  # the first check falls within one interval
GONE_BOUND = MAX_PERIOD_SECONDS + 2  # /metrics renders at most this long after a change
KASI_TOKEN = "kasi-token-for-the-reload-test-0123456789"
SECTIONS = {"polling": {"interval_seconds": INTERVAL, "timeout_seconds": TIMEOUT,
                        "down_after": DOWN_AFTER, "up_after": UP_AFTER}}


def write_config(agent: AgentProcess, devices: Sequence[LabDevice], broken: bool = False) -> None:
    """The agent's config file with these devices (the [agent] section and the users kept);
    `broken`: with a negative polling interval."""
    text = agent.config.read_text()
    head = text[:text.index("[polling]")]
    users = text[text.index("\n[[users]]"):]
    polling = {**SECTIONS["polling"], "interval_seconds": -5} if broken else SECTIONS["polling"]
    agent.config.write_text(head + to_toml(devices, {"polling": polling}) + users)


def device_docs(agent: AgentProcess) -> dict[str, dict[str, object]]:
    return {d["name"]: d for d in agent.get("/api/v1/devices").json()["devices"]}


def metric_devices(agent: AgentProcess) -> set[str]:
    return {dict(labels)["device"]
            for labels in agent.metrics().get("pantau_device_state", {})}


def reload_success(agent: AgentProcess) -> float | None:
    values = agent.metrics().get("pantau_config_last_reload_success", {})
    return next(iter(values.values()), None)


@pytest.fixture(scope="module")
def inventory(lab: Lab) -> list[LabDevice]:
    return lab_devices(lab.address, START + ADDED, children=5)


@pytest.fixture(scope="module")
def agent(lab: Lab, inventory: list[LabDevice], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[AgentProcess]:
    proc = AgentProcess(lab, tmp_path_factory.mktemp("reload"), inventory[:START], SECTIONS)
    with proc.config.open("a") as f:
        f.write(f'\n[[users]]\nname = "lab-kasi"\nrole = "kasi"\ntoken = "{KASI_TOKEN}"\n')
    proc.start()
    try:
        proc.took(lambda: all(d["state"] == "up" for d in device_docs(proc).values()), 30)
        yield proc
    finally:
        assert proc.stop() < 5.0


def transitions_logged(agent: AgentProcess, after: int, names: Sequence[str]) -> list[str]:
    """The "device state changed" log lines past byte `after` about `names`."""
    text = agent.log.read_text(errors="replace")[after:]
    wanted = set(names)
    return [line for line in text.splitlines() if "device state changed" in line
            and (m := re.search(r" device=(\S+)", line)) is not None and m.group(1) in wanted]


class TestSighup:
    def test_added_removed_kept(self, agent: AgentProcess, inventory: list[LabDevice],
                                figure: Figure) -> None:
        kept = inventory[:START - REMOVED]
        removed = [d.name for d in inventory[START - REMOVED:START]]
        added = [d.name for d in inventory[START:]]
        since = {name: doc["since"] for name, doc in device_docs(agent).items()}
        assert all(since[d.name] is not None for d in kept)
        mark = len(agent.log.read_text(errors="replace"))
        write_config(agent, [*kept, *inventory[START:]])
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        took_up = agent.took(lambda: all(
            device_docs(agent).get(name, {}).get("state") == "up" for name in added),
            NEW_UP_BOUND)
        took_gone = agent.took(lambda: not set(removed) & metric_devices(agent), GONE_BOUND)
        docs = device_docs(agent)
        assert not set(removed) & set(docs)
        assert set(docs) == {d.name for d in kept} | set(added)
        assert {d.name: docs[d.name]["since"] for d in kept} == {
            d.name: since[d.name] for d in kept}
        time.sleep(INTERVAL)  # a whole cycle after the reload: still no transition for them
        assert transitions_logged(agent, mark, [d.name for d in kept]) == []
        assert reload_success(agent) == 1
        assert "config reloaded" in agent.logs()
        figure(f"SIGHUP +{ADDED} -{REMOVED} devices: new ones UP in {took_up:.1f}s "
               f"(interval {INTERVAL}s), removed ones gone from /metrics in {took_gone:.1f}s")

    def test_broken_file_changes_nothing(self, agent: AgentProcess,
                                         inventory: list[LabDevice]) -> None:
        before = device_docs(agent)
        write_config(agent, inventory[:3], broken=True)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        agent.took(lambda: reload_success(agent) == 0, GONE_BOUND + 5)
        after = device_docs(agent)
        assert set(after) == set(before)
        assert {n: d["since"] for n, d in after.items()} == {
            n: d["since"] for n, d in before.items()}
        logs = agent.logs()
        assert "config reload refused" in logs
        assert "polling.interval_seconds" in logs
        assert str(agent.config) in logs


class TestApi:
    def test_admin_and_others(self, agent: AgentProcess, lab: Lab,
                              inventory: list[LabDevice]) -> None:
        with lab.inside():
            client = agent.client()
            as_kasi = client.post("/api/v1/reload",
                                  headers={"Authorization": f"Bearer {KASI_TOKEN}"})
            assert as_kasi.status_code == 403, as_kasi.text
            write_config(agent, inventory[:4], broken=True)
            refused = client.post("/api/v1/reload")
            assert refused.status_code == 422, refused.text
            assert refused.json()["reloaded"] is False
            assert any("interval_seconds" in p for p in refused.json()["problems"])
            names = set(device_docs(agent))
            write_config(agent, [d for d in inventory if d.name in names][:-1])
            applied = client.post("/api/v1/reload")
        assert applied.status_code == 200, applied.text
        body = applied.json()
        assert body["reloaded"] is True
        assert len(body["removed"]) == 1
        assert body["added"] == []
        assert body["changed"] == []
        agent.took(lambda: reload_success(agent) == 1, GONE_BOUND)
