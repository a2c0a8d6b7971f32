"""Who may do what with tickets (ticketing.policy): one home, checked here once."""

from __future__ import annotations

import pytest

from ticketing import policy
from ticketing.sop import SOP_006


@pytest.mark.parametrize(("role", "own", "owner", "expected"), [
    ("perangkat_daerah", "Dinkes", "Dinkes", True),
    ("perangkat_daerah", "Dinkes", "Disdik", False),
    ("teknisi", None, "Disdik", True),
    ("admin", None, "Disdik", True),
])
def test_may_see(role: str, own: str | None, owner: str, expected: bool) -> None:
    assert policy.may_see(role, own, owner) is expected


def test_steps_are_for_their_role_or_an_admin() -> None:
    for spec in SOP_006.steps:
        assert policy.may_act(spec.role.value, spec)
        assert policy.may_act("admin", spec)
        others = {"perangkat_daerah", "kepala_dinas", "kabid", "kasi", "teknisi"}
        assert not any(policy.may_act(r, spec) for r in others - {spec.role.value})


def test_staff_verify_and_agencies_or_admins_file() -> None:
    assert not policy.may_verify("perangkat_daerah")
    assert all(policy.may_verify(r) for r in ("kepala_dinas", "kabid", "kasi", "teknisi",
                                              "admin"))
    assert policy.may_file("perangkat_daerah")
    assert policy.may_file("admin")
    assert not policy.may_file("teknisi")


def test_only_admins_manage_the_outbox() -> None:
    assert policy.may_manage_outbox("admin")
    assert not any(policy.may_manage_outbox(r) for r in (
        "perangkat_daerah", "kepala_dinas", "kabid", "kasi", "teknisi"))


class TestRequestOwner:
    def test_an_agency_files_for_itself(self) -> None:
        assert policy.request_owner("ani", "perangkat_daerah", "Dinkes", None, None) == "Dinkes"
        assert policy.request_owner("ani", "perangkat_daerah", "Dinkes", "Dinkes",
                                    "Dinkes") == "Dinkes"

    @pytest.mark.parametrize(("asked", "device_owner"), [("Disdik", None), (None, "Disdik")])
    def test_an_agency_never_files_for_another(self, asked: str | None,
                                               device_owner: str | None) -> None:
        with pytest.raises(policy.Refusal) as caught:
            policy.request_owner("ani", "perangkat_daerah", "Dinkes", asked, device_owner)
        assert caught.value.forbidden
        assert "ani files requests only for Dinkes" in str(caught.value)

    def test_an_admin_files_for_the_device_owner_or_the_one_named(self) -> None:
        assert policy.request_owner("root", "admin", None, None, "Disdik") == "Disdik"
        assert policy.request_owner("root", "admin", None, "Dinkes", "Disdik") == "Dinkes"
        with pytest.raises(policy.Refusal) as caught:
            policy.request_owner("root", "admin", None, None, None)
        assert caught.value.field == "owner"

    def test_other_roles_may_not_file(self) -> None:
        with pytest.raises(policy.Refusal) as caught:
            policy.request_owner("budi", "teknisi", None, "Dinkes", None)
        assert caught.value.forbidden
        assert "budi is teknisi" in str(caught.value)


def test_request_problem_names_the_field() -> None:
    ok = {"device": "sw", "owner": "", "subject": "s", "description": "d"}
    assert policy.request_problem(ok) is None
    blank = policy.request_problem({**ok, "subject": ""})
    assert blank is not None
    assert (blank.field, blank.limit) == ("subject", None)
    long = policy.request_problem({**ok, "description": "x" * 20001})
    assert long is not None
    assert (long.field, long.limit) == ("description", 20000)
