"""Passwords (argon2id via argon2-cffi), API keys and roles."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.server.errors import ApiError
from hub.server.store import User

ROLE_RANK = {"user": 0, "moderator": 1, "admin": 2}
KEY_PREFIX = "atl_"


def password_hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """API keys are random 256-bit secrets, so a plain SHA256 is a safe, fast lookup key."""
    return hashlib.sha256(key.encode()).hexdigest()


def token_from(authorization: str | None, query_token: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return query_token or None


def require_user(user: User | None) -> User:
    if user is None:
        raise ApiError(
            401, "Unauthorized: this route needs an API key (Authorization: Bearer KEY or ?token=KEY)"
        )
    return user


def require_role(user: User | None, role: str) -> User:
    user = require_user(user)
    if ROLE_RANK[user.role] < ROLE_RANK[role]:
        raise ApiError(403, f"Forbidden: needs the {role} role")
    return user


def can_edit(user: User, owner_id: int) -> bool:
    return user.id == owner_id or ROLE_RANK[user.role] >= ROLE_RANK["moderator"]
