"""Who may do what with tickets: the one home of the role rules that the workflow, the API and
the pages apply.

- an agency (perangkat daerah) sees and files only its own agency's tickets; the department's
  staff see every ticket;
- a step is completed by its role, or by an admin;
- live verification is for the department's staff (it sends probes), never an agency;
- a manual request is filed by an agency, for itself, or by an admin, for any agency;
- the outbox (every queued message, with its address, and its retry) is an admin's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from agent.core.refusals import Refused, refused
from ticketing.sop import Role, StepSpec

ADMIN = Role.ADMIN.value
AGENCY = Role.PERANGKAT_DAERAH.value
#: Who may run a live verification: the department's staff (not the agencies: it probes).
VERIFY_ROLES = frozenset({Role.KEPALA_DINAS.value, Role.KABID.value, Role.KASI.value,
                          Role.TEKNISI.value, ADMIN})
#: Who may file a manual request (Surat Permohonan).
FILING_ROLES = frozenset({AGENCY, ADMIN})
#: The longest value of each field of a manual request, in characters.
REQUEST_LIMITS: Mapping[str, int] = MappingProxyType(
    {"device": 200, "owner": 200, "subject": 500, "description": 20000})


def may_see(role: str, own_agency: str | None, owner: str) -> bool:
    """Whether a user of `role` (of agency `own_agency`) may see a ticket or device of `owner`."""
    return role != AGENCY or own_agency == owner


def visible_owner(role: str, own_agency: str | None) -> str | None:
    """The one agency whose tickets a user of `role` may list (None: every agency's), for
    filtering in the store; the same rule as `may_see`."""
    return own_agency if role == AGENCY else None


def may_act(role: str, spec: StepSpec) -> bool:
    """Whether a user of `role` may complete the step."""
    return role in (spec.role.value, ADMIN)


def may_verify(role: str) -> bool:
    return role in VERIFY_ROLES


def may_file(role: str) -> bool:
    return role in FILING_ROLES


def may_manage_outbox(role: str) -> bool:
    """Whether a user of `role` may list the queued messages and retry one."""
    return role == ADMIN


@dataclass(frozen=True, slots=True)
class Refusal(Exception):
    """A manual request that may not be filed: `forbidden` (the user may not file it) or a
    problem with `field` (a missing or too long value)."""

    message: Refused
    field: str | None = None
    limit: int | None = None  # for a value that is too long: the most it may have

    @property
    def forbidden(self) -> bool:
        return self.field is None

    def __str__(self) -> str:
        return self.message.text("en")

    @property
    def code(self) -> str:
        return self.message.code

    def text(self, lang: str) -> str:
        """The refusal for a reader in `lang` (`str()` is the English)."""
        return self.message.text(lang)


def request_owner(name: str, role: str, own_agency: str | None, asked: str | None,
                  device_owner: str | None) -> str:
    """The agency a manual request is filed for, or raise Refusal.

    `asked` is the owner the user gave (None or "" for none), `device_owner` the owner of the
    device in the inventory (None when it is not there)."""
    if not may_file(role):
        raise Refusal(refused("filer_role", agency=AGENCY, admin=ADMIN, name=name, role=role))
    if role == AGENCY:
        owner = asked or own_agency
        if owner != own_agency or (device_owner is not None and device_owner != own_agency):
            raise Refusal(refused("filer_agency", name=name, agency=str(own_agency)))
    else:
        owner = asked or device_owner
    if not owner:
        raise Refusal(refused("owner_needed"), "owner")
    return owner


def request_problem(values: Mapping[str, str | None]) -> Refusal | None:
    """The first field of a manual request that is missing or too long, or None.

    `values` holds device, owner, subject and description, already stripped; owner may be
    empty (then `request_owner` decides it)."""
    for key in ("device", "subject", "description"):
        if not values.get(key):
            return Refusal(refused("blank"), key)
    for key, limit in REQUEST_LIMITS.items():
        if len(values.get(key) or "") > limit:
            return Refusal(refused("too_long", limit=limit), key, limit)
    return None
