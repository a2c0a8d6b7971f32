"""[cluster]: one member of several agents on one PostgreSQL (issue 15)."""

from __future__ import annotations

import pytest

from agent.config import ClusterSettings, loads
from agent.core.errors import ConfigError

DEVICE = '[[devices]]\nname = "a"\naddress = "127.0.0.1"\nowner = "X"\n'
PG = '[agent]\ndatabase = "postgresql://pantau@127.0.0.1:5432/pantau"\n'


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        loads(text)
    return [(p.path, p.message) for p in info.value.problems]


class TestCluster:
    def test_absent_or_disabled_is_a_single_agent(self) -> None:
        assert loads(DEVICE).cluster is None
        assert loads(DEVICE + "[cluster]\nenabled = false\n").cluster is None

    def test_defaults_lease_three_heartbeats(self) -> None:
        config = loads(PG + DEVICE + '[cluster]\nenabled = true\nnode = "agent-a"\n'
                       "heartbeat_seconds = 2\n")
        assert config.cluster == ClusterSettings(node="agent-a", heartbeat_seconds=2.0,
                                                 lease_seconds=6.0)

    def test_sqlite_is_refused_with_the_reason(self) -> None:
        found = problems(DEVICE + '[cluster]\nenabled = true\nnode = "agent-a"\n')
        assert [path for path, _ in found] == ["cluster.enabled"]
        assert "PostgreSQL" in found[0][1]
        assert "sqlite" in found[0][1]

    def test_a_member_needs_a_node_name(self) -> None:
        assert [p for p, _ in problems(PG + DEVICE + "[cluster]\nenabled = true\n")] == [
            "cluster.node"]

    @pytest.mark.parametrize(("extra", "path"), [
        ("lease_seconds = 5\n", "cluster.lease_seconds"),  # under 2 x 5 s
        ("heartbeat_seconds = 0\n", "cluster.heartbeat_seconds"),
        ('node = "Agent A"\n', "cluster.node"),
        ("quorum = 2\n", "cluster.quorum"),
    ])
    def test_bad_values_name_their_key(self, extra: str, path: str) -> None:
        text = PG + DEVICE + "[cluster]\nenabled = true\n" + (
            "" if extra.startswith("node") else 'node = "agent-a"\n') + extra
        assert path in [p for p, _ in problems(text)]
