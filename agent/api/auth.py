"""Who is calling the API: bearer tokens to users (`Principal`, `Authenticator`), and the
`TokenGate` middleware that turns strangers away before a body is read."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.config import User
from agent.core.model import Secret
from agent.throttle import RefusalThrottle
from ticketing import policy, workflow
from ticketing.sop import StepSpec

ALERT_SOURCE = "alertmanager"
PREFIX = "/api/v1"
WEBHOOK = f"{PREFIX}/alertmanager"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user (no token: only its hash is kept, in `Authenticator`)."""

    name: str
    role: str
    owner: str | None

    @classmethod
    def of_user(cls, user: User) -> Principal:
        """The configured user as it acts, whether signed in by token or by password."""
        return cls(user.name, user.role, user.owner)

    @property
    def actor(self) -> workflow.Actor:
        return workflow.Actor(name=self.name, role=self.role)

    # the rules are ticketing.policy's; these only say them for a signed-in user
    def may_see(self, owner: str) -> bool:
        return policy.may_see(self.role, self.owner, owner)

    def may_act(self, spec: StepSpec) -> bool:
        return policy.may_act(self.role, spec)

    @property
    def may_verify(self) -> bool:
        return policy.may_verify(self.role)

    @property
    def may_file(self) -> bool:
        return policy.may_file(self.role)

    @property
    def may_manage_outbox(self) -> bool:
        return policy.may_manage_outbox(self.role)


class Authenticator:
    """Bearer tokens to users. Only SHA-256 hashes of the tokens are kept; every lookup
    compares against every user's hash in constant time."""

    def __init__(self, tokens: Sequence[tuple[Secret, Principal]]) -> None:
        self._entries = tuple(
            (hashlib.sha256(token.reveal().encode()).digest(), who) for token, who in tokens)

    @classmethod
    def of_users(cls, users: Sequence[User]) -> Authenticator:
        return cls([(u.token, Principal.of_user(u)) for u in users if u.token is not None])

    def __call__(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest) and found is None:
                found = principal
        return found


bearer = HTTPBearer(auto_error=False, description="a user's token from [[users]]")


def identify(creds: HTTPAuthorizationCredentials | None, *auths: Authenticator) -> Principal:
    """The user of the first of `auths` that knows the bearer token; else a 401."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    for auth in auths:
        who = auth(creds.credentials)
        if who is not None:
            return who
    raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})


class TokenGate:
    """ASGI middleware: a request under /api/v1 without a known bearer token is answered 401
    before its body is read, so an unknown caller never learns how a body is parsed. The
    routes identify the caller again (for the role); this only turns strangers away.

    Each 401 is counted (`on_refused`) and held against the client's address: an address
    with too many (`throttle`) is answered 429 without its token being looked at."""

    def __init__(self, app: ASGIApp, auth: Authenticator, alert_auth: Authenticator,
                 throttle: RefusalThrottle, on_refused: Callable[[], None] | None = None
                 ) -> None:
        self.app = app
        self.auth = auth
        self.alert_auth = alert_auth  # the [alertmanager] token, for the webhook only
        self.throttle = throttle
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.startswith(f"{PREFIX}/"):
            client = scope.get("client")
            address = str(client[0]) if client else "unknown"
            wait = self.throttle.wait_seconds(address)
            if wait > 0:
                await JSONResponse({"detail": "too many failed authentications; try later"},
                                   status_code=429, headers={
                                       "Retry-After": str(math.ceil(wait))})(scope, receive, send)
                return
            scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
            auths = (self.alert_auth, self.auth) if path == WEBHOOK else (self.auth,)
            if scheme.lower() != "bearer" or not any(auth(token.strip()) for auth in auths):
                self.throttle.refused(address)
                if self.on_refused is not None:
                    self.on_refused()
                detail = "missing bearer token" if not scheme else "unknown token"
                await JSONResponse({"detail": detail}, status_code=401, headers={
                    "WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self.app(scope, receive, send)
