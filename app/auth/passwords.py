"""Argon2id password hashing and API-token secrets (pure, no DB)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PRODUCTION_HASHER = PasswordHasher()
"""argon2-cffi's defaults (RFC 9106 low-memory profile): what every deployment hashes with."""
_hasher = PRODUCTION_HASHER
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "trl_"  # noqa: S105 - a public marker, not a secret


def set_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash with `hasher` from now on; returns the one it replaces. Tests install a cheap one:
    a hash carries its own parameters, so verifying works whichever hasher made it."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random: a plain SHA-256 is enough and allows an indexed lookup.
    return hashlib.sha256(token.encode()).hexdigest()
