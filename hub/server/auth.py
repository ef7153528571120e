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


def presented_key(authorization: str | None, query_token: str | None) -> tuple[str | None, str | None]:
    """(the API key a request presents, or None; why it presents none although it tried).

    A key comes as `Authorization: Bearer KEY` or `?token=KEY` (as on Civitai). The reason is
    "empty key" for `Bearer ` or `?token=`, "not a Bearer key" for another scheme, else None.
    """
    reason = None
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            reason = "not a Bearer key"
        elif value.strip():
            return value.strip(), None
        else:
            reason = "empty key"
    if query_token:
        return query_token, None
    if query_token == "":
        reason = reason or "empty key"
    return None, reason


def require_user(user: User | None, anonymous_because: str | None = None) -> User:
    """The caller, or a 401: this route needs an identity (`anonymous_because`: why there is none)."""
    if user is None:
        why = f" ({anonymous_because})" if anonymous_because else ""
        raise ApiError(
            401,
            f"Unauthorized{why}: this route needs an API key this server issued "
            "(Authorization: Bearer KEY or ?token=KEY)",
        )
    return user


def require_role(user: User, role: str) -> User:
    if ROLE_RANK[user.role] < ROLE_RANK[role]:
        raise ApiError(403, f"Forbidden: needs the {role} role")
    return user


def can_edit(user: User, owner_id: int) -> bool:
    return user.id == owner_id or ROLE_RANK[user.role] >= ROLE_RANK["moderator"]
