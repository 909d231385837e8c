"""Password hashing and policy, random tokens, and the security settings of the web app."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ikema.errors import IkemaError

# argon2id with the library's RFC 9106 "low memory" defaults.
_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12
# The commonest passwords (and their obvious variants) are refused outright; the length rule does the rest.
_COMMON = frozenset(
    {
        "password", "password1", "password123", "123456789012", "qwertyuiopas", "letmeinplease",
        "administrator", "welcome12345", "iloveyou1234", "changeme1234", "passwordpassword",
        "111111111111", "000000000000", "abcdefghijkl", "qwerty123456", "trustno1trustno1",
    }
)


class PasswordPolicyError(IkemaError):
    """The proposed password breaks the minimum policy."""


@dataclass(frozen=True)
class Settings:
    """Security settings (lockout, timeouts); tests shorten them."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(minutes=20)
    absolute_timeout: timedelta = timedelta(hours=8)
    token_lifetime: timedelta = timedelta(hours=1)
    secure_cookies: bool = True


def utcnow() -> datetime:
    """Naive UTC now (the store keeps naive UTC datetimes)."""
    return datetime.now(UTC).replace(tzinfo=None)


def check_password_policy(password: str, username: str = "") -> None:
    """Raise PasswordPolicyError naming the broken rule (length, common, contains the user name)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"password too short: {len(password)} characters, at least {MIN_PASSWORD_LENGTH} required")
    if password.lower() in _COMMON or len(set(password)) < 4:
        raise PasswordPolicyError("password too common or too repetitive: choose another")
    if username and username.lower() in password.lower():
        raise PasswordPolicyError("password must not contain the user name")


def hash_password(password: str) -> str:
    """argon2id hash of a password."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when the password matches the stored argon2 hash."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Verified against when the user does not exist, so an unknown name costs the same time as a wrong password.
DUMMY_HASH = _HASHER.hash("no-such-user-placeholder")


def new_token() -> str:
    """A fresh URL-safe random token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 hex digest under which a bearer/session token is stored (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time string equality, False when either is missing."""
    # as UTF-8 bytes: compare_digest refuses str with non-ASCII characters (a TypeError, once an HTTP 500)
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode("utf-8", "surrogatepass"), str(b).encode("utf-8", "surrogatepass"))
