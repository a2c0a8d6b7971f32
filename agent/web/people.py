"""How the pages and letters name a person: a user's full name, NIP and jabatan from the
configuration, by user name (the name kept in tickets' events and steps)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent.core.settings import User
from agent.web.letter_parts import Signer


def signers(users: Iterable[User]) -> dict[str, Signer]:
    """Every user's signature fields, by user name (empty where the configuration has none)."""
    return {u.name: Signer(full_name=u.full_name or "", nip=u.nip or "", jabatan=u.jabatan or "")
            for u in users}


def display_name(name: str, people: Mapping[str, Signer], short: bool = False) -> str:
    """"Joko Susilo (joko)" for a user with a full name ("Joko Susilo" when `short`); the
    user name otherwise (also for the agent itself, "pantau", and for users no longer
    configured)."""
    full = people.get(name, Signer()).full_name
    if not full or full == name:
        return name
    return full if short else f"{full} ({name})"
