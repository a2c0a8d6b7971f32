"""The message kinds and whom each is for: issue 12's default audiences and the overrides of
`[notify.rules.<kind>]`, as plain values that ticketing.notices.NoticeRules applies.

The one list of kinds: the config's validation, the rules, the messages and the README's
Notifications table all follow KINDS (tests check each against it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ticketing.sop import Role

#: Every kind of workflow message, in the order of a ticket's life.
KINDS: tuple[str, ...] = (
    "ticket_opened", "step_ready", "sla_warning", "sla_breached", "restoration_observed",
    "verification_passed", "verification_failed", "ticket_closed", "ticket_reopened")
#: The kinds about one step: its own role is told besides the rule's `roles` (for step_ready
#: the step now ready, so the next step's role; for a breach also the role above it on
#: `[notify] escalation`), unless the rule says `step_role = false`.
STEP_KINDS: tuple[str, ...] = ("step_ready", "sla_warning", "sla_breached")
#: The roles a rule may name: the SOP's (perangkat_daerah: the owning agency's users).
ROLES: tuple[str, ...] = tuple(role.value for role in Role)

_AGENCY, _KASI = Role.PERANGKAT_DAERAH.value, Role.KASI.value
_FOLLOW_UP = (_AGENCY, _KASI)
#: kind -> the roles told when no rule overrides them (for STEP_KINDS: besides the step's role)
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "ticket_opened": (Role.KEPALA_DINAS.value, _AGENCY),
    "step_ready": (),
    "sla_warning": (),
    "sla_breached": (),
    "restoration_observed": _FOLLOW_UP,
    "verification_passed": _FOLLOW_UP,
    "verification_failed": _FOLLOW_UP,
    "ticket_closed": _FOLLOW_UP,
    # the teknisi too: the step 5 check is theirs again
    "ticket_reopened": (*_FOLLOW_UP, Role.TEKNISI.value),
})


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind's override; None (or True for `step_role`) keeps the default.

    `roles`: the roles told instead of DEFAULT_ROLES (`()`: nobody; for a STEP_KINDS kind,
    nobody besides the step's role). `step_role`: for STEP_KINDS, whether the step's own role
    is told (False with `roles = ()` turns the kind off). `wait_for_working_hours`: whether
    the message waits for the next working morning, instead of the kind's own urgency.
    """

    roles: tuple[str, ...] | None = None
    step_role: bool = True
    wait_for_working_hours: bool | None = None


def check_rules(rules: Mapping[str, Rule]) -> None:
    """Raise ValueError for an unknown kind or role, a role given twice, or `step_role`
    turned off for a kind that is not about one step."""
    for kind, rule in rules.items():
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}; expected one of {KINDS}")
        roles = rule.roles or ()
        unknown = [role for role in roles if role not in ROLES]
        if unknown:
            raise ValueError(f"rule {kind!r}: unknown role {unknown[0]!r}; "
                             f"expected one of {ROLES}")
        if len(set(roles)) != len(roles):
            raise ValueError(f"rule {kind!r}: a role is given twice in {roles}")
        if not rule.step_role and kind not in STEP_KINDS:
            raise ValueError(f"rule {kind!r}: step_role is only for {STEP_KINDS}")
