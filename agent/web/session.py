"""Sign-in for the pages: users with a password hash from the config, checked in a small
executor of its own; a signed session cookie (Starlette's SessionMiddleware) naming a
server-side sign-in; a CSRF token per session checked on every form."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.requests import Request

from agent.api.auth import Principal
from agent.config import User
from agent.web.passwords import hash_password, verify_password
from agent.web.signins import SignIns

SESSION_COOKIE = "pantau_session"
CSRF_FIELD = "csrf_token"
SID = "sid"
# scrypt runs in threads of its own, never the loop's default executor, which getaddrinfo and
# sqlite need: two at a time (~32 MiB each), at most CHECKS_WAITING queued behind them.
SCRYPT_THREADS = 2
CHECKS_WAITING = 64


def _fingerprint(password_hash: str) -> str:
    """Kept in the session: a changed password (or a removed user) ends the user's sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Account:
    principal: Principal
    fingerprint: str
    password_hash: str  # the scrypt hash (never the password); not shown anywhere


class Accounts:
    """The users who may sign in to the pages (those with a password_hash), and their live
    sign-ins."""

    def __init__(self, users: Sequence[User], signins: SignIns,
                 verify: Callable[[str, str], bool] = verify_password) -> None:
        self._by_name = {
            u.name: Account(Principal.of_user(u),
                            _fingerprint(u.password_hash.reveal()), u.password_hash.reveal())
            for u in users if u.password_hash is not None}
        # An unknown name (or a token-only user) is checked against a hash of a random
        # password, so that its attempt costs the same time as a real one and always fails.
        self._decoy = hash_password(secrets.token_urlsafe(24))
        self._verify = verify
        self._signins = signins
        # threads start on first use and idle with the process; no shutdown is needed
        self._pool = ThreadPoolExecutor(SCRYPT_THREADS, thread_name_prefix="pantau-scrypt")
        self._checking = 0

    @property
    def busy(self) -> bool:
        """Whether so many checks run or wait that another should be refused at once."""
        return self._checking >= SCRYPT_THREADS + CHECKS_WAITING

    async def check(self, name: str, password: str) -> Principal | None:
        """The user when the password matches; scrypt runs in the accounts' own threads."""
        account = self._by_name.get(name)
        stored = account.password_hash if account is not None else self._decoy
        self._checking += 1
        try:
            ok = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._verify, password, stored)
        finally:
            self._checking -= 1
        return account.principal if ok and account is not None else None

    def sign_in(self, request: Request, who: Principal) -> None:
        lang = request.session.get("lang")
        self._signins.end(request.session.get(SID))
        request.session.clear()  # no fixation: nothing from before the sign-in survives
        request.session.update({
            "user": who.name, "fp": self._by_name[who.name].fingerprint,
            SID: self._signins.start(who.name), CSRF_FIELD: secrets.token_urlsafe(32)})
        if lang:
            request.session["lang"] = lang

    def sign_out(self, request: Request) -> None:
        """End this browser's sign-in server-side: its cookie, replayed, is refused."""
        self._signins.end(request.session.get(SID))

    def sign_out_everywhere(self) -> int:
        """End every sign-in of every user; how many ended."""
        return self._signins.end_all()

    def current(self, request: Request) -> Principal | None:
        """The signed-in user, or None: signed out, past `session_hours` from the sign-in,
        ended by a restart or "sign out everywhere", or the user was removed or its password
        changed since the sign-in."""
        name = str(request.session.get("user", ""))
        account = self._by_name.get(name)
        if account is None or not hmac.compare_digest(
                str(request.session.get("fp", "")), account.fingerprint):
            return None
        if self._signins.user_of(request.session.get(SID)) != name:
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
