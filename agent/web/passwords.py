"""Password hashes for the pages' sign-in: scrypt from the standard library, kept in the
config as `scrypt$N$r$p$salt$hash` (base64); the password itself is never stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

SCHEME = "scrypt"
# OWASP's minimum for scrypt (N=2^17, r=8, p=1) costs ~128 MiB and ~0.3 s here; 2^15 keeps a
# sign-in near 80 ms and 32 MiB, still far beyond what an offline guesser wants per try.
N, R, P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
_FORMAT = re.compile(
    r"scrypt\$(?P<n>\d+)\$(?P<r>\d+)\$(?P<p>\d+)\$(?P<salt>[A-Za-z0-9+/=]{16,})"
    r"\$(?P<hash>[A-Za-z0-9+/=]{43,})")
FORMAT_HINT = "a hash made by `pantau hash-password` (scrypt$N$r$p$salt$hash)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = N) -> str:
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, maxmem=_MAXMEM,
                            dklen=32)
    return f"{SCHEME}${n}${R}${P}${_b64(salt)}${_b64(digest)}"


def is_password_hash(stored: str) -> bool:
    """Whether `stored` has the shape of a hash this module can check (not that it is right)."""
    match = _FORMAT.fullmatch(stored)
    if match is None:
        return False
    n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
    return n >= 2**10 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 \
        and 128 * n * r * p <= _MAXMEM


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; False (never an error) for a malformed hash."""
    if not is_password_hash(stored):
        return False
    match = _FORMAT.fullmatch(stored)
    assert match is not None
    try:
        salt = base64.b64decode(match["salt"], validate=True)
        expected = base64.b64decode(match["hash"], validate=True)
    except ValueError:
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, n=int(match["n"]), r=int(match["r"]),
                            p=int(match["p"]), maxmem=_MAXMEM, dklen=len(expected))
    return hmac.compare_digest(digest, expected)
