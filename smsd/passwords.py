"""Passwords: the policy (等保 2.0: length and character classes), argon2 hashes, initial ones."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from smsd.i18n import _

_HASHER = PasswordHasher()
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation)


def problem(password: str, min_length: int) -> str:
    """Why a password breaks the policy ("" when it does not): min_length characters of at
    least three classes (lower case, upper case, digits, punctuation)."""
    if len(password) < min_length:
        return _("a password needs at least {n} characters").format(n=min_length)
    classes = sum(any(c in cls for c in password) for cls in CLASSES)
    if classes < 3:
        return _("a password needs three of: lower case, upper case, digits, punctuation")
    return ""


def hashed(password: str) -> str:
    return _HASHER.hash(password)


def matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def initial(length: int = 14) -> str:
    """A one-time password that meets the policy (the user changes it at the first login)."""
    alphabet = string.ascii_letters + string.digits + "-_.!"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if not problem(candidate, min(length, 8)):
            return candidate
