"""The live sign-ins, kept server-side: the cookie only names one by a random id, so a sign-out
ends it for good, and each ends `session_hours` after its sign-in whatever the cookie says.

Kept in memory on purpose: a restart ends every sign-in. A revocation that a restart forgot
would bring a signed-out cookie back to life; signing in again after a restart is cheap.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

CAP = 10_000  # live sign-ins kept; past it, the oldest ends first


@dataclass(frozen=True, slots=True)
class SignIn:
    user: str
    started: float  # monotonic seconds at the sign-in


@dataclass(slots=True)
class SignIns:
    """Sign-ins by session id, each valid for `lifetime` seconds from its start."""

    monotonic: Callable[[], float]
    lifetime: float
    cap: int = CAP
    _live: dict[str, SignIn] = field(default_factory=dict)

    def start(self, user: str) -> str:
        """A new sign-in of `user`; its id goes into the session cookie."""
        self._sweep()
        while len(self._live) >= self.cap:
            self._live.pop(next(iter(self._live)))
        sid = secrets.token_urlsafe(32)
        self._live[sid] = SignIn(user, self.monotonic())
        return sid

    def user_of(self, sid: object) -> str | None:
        """The user signed in under `sid`, or None: unknown, ended, or past its lifetime."""
        if not isinstance(sid, str):
            return None
        live = self._live.get(sid)
        if live is None:
            return None
        if self.monotonic() - live.started >= self.lifetime:
            del self._live[sid]
            return None
        return live.user

    def end(self, sid: object) -> None:
        """Sign-out: this session id is never accepted again."""
        if isinstance(sid, str):
            self._live.pop(sid, None)

    def end_all(self) -> int:
        """Sign out everywhere: every session of every user ends; how many did."""
        count = len(self._live)
        self._live.clear()
        return count

    def __len__(self) -> int:
        return len(self._live)

    def _sweep(self) -> None:
        now = self.monotonic()
        for sid in [s for s, live in self._live.items() if now - live.started >= self.lifetime]:
            del self._live[sid]
