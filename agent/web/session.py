"""Sign-in for the pages: users with a password hash from the config, a signed session cookie
(Starlette's SessionMiddleware), a CSRF token per session checked on every form, and a
throttle on failed sign-ins."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request

from agent.api.auth import Principal
from agent.config import User
from agent.web.passwords import hash_password, verify_password

SESSION_COOKIE = "pantau_session"
CSRF_FIELD = "csrf_token"


def _fingerprint(password_hash: str) -> str:
    """Kept in the session: a changed password (or a removed user) ends the user's sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Account:
    principal: Principal
    fingerprint: str
    password_hash: str  # the scrypt hash (never the password); not shown anywhere


class Accounts:
    """The users who may sign in to the pages (those with a password_hash)."""

    def __init__(self, users: Sequence[User]) -> None:
        self._by_name = {
            u.name: Account(Principal.of_user(u),
                            _fingerprint(u.password_hash.reveal()), u.password_hash.reveal())
            for u in users if u.password_hash is not None}
        # An unknown name (or a token-only user) is checked against a hash of a random
        # password, so that its attempt costs the same time as a real one and always fails.
        self._decoy = hash_password(secrets.token_urlsafe(24))

    async def check(self, name: str, password: str) -> Principal | None:
        """The user when the password matches; the scrypt runs off the event loop."""
        account = self._by_name.get(name)
        stored = account.password_hash if account is not None else self._decoy
        ok = await asyncio.to_thread(verify_password, password, stored)
        return account.principal if ok and account is not None else None

    def sign_in(self, request: Request, who: Principal) -> None:
        lang = request.session.get("lang")
        request.session.clear()  # no fixation: nothing from before the sign-in survives
        request.session.update({
            "user": who.name, "fp": self._by_name[who.name].fingerprint,
            CSRF_FIELD: secrets.token_urlsafe(32)})
        if lang:
            request.session["lang"] = lang

    def current(self, request: Request) -> Principal | None:
        """The signed-in user, or None (also when the user was removed or its password changed
        since the sign-in)."""
        account = self._by_name.get(str(request.session.get("user", "")))
        if account is None or not hmac.compare_digest(
                str(request.session.get("fp", "")), account.fingerprint):
            return None
        return account.principal


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def csrf_ok(request: Request, sent: object) -> bool:
    token = request.session.get(CSRF_FIELD)
    return isinstance(token, str) and isinstance(sent, str) and hmac.compare_digest(
        token.encode(), sent.encode())


@dataclass(slots=True)
class Throttle:
    """Failed sign-ins per user name: after `limit` failures within `window` seconds, refuse
    further attempts for `lockout` seconds (an online guesser gets ~5 tries a minute)."""

    monotonic: Callable[[], float]
    limit: int = 5
    window: float = 900.0
    lockout: float = 60.0
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def wait(self, name: str) -> int:
        """Seconds until `name` may try again (0: now)."""
        now = self.monotonic()
        recent = [t for t in self._failures.get(name, []) if now - t < self.window]
        if recent:
            self._failures[name] = recent
        else:
            self._failures.pop(name, None)
        if len(recent) < self.limit:
            return 0
        return max(0, int(recent[-1] + self.lockout - now + 0.999))

    def failed(self, name: str) -> None:
        self._failures.setdefault(name, []).append(self.monotonic())
        if len(self._failures) > 10_000:  # bounded: a flood of made-up names forgets the oldest
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)
