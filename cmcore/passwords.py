"""Passwords and secrets: the rules a new password must meet (NIST SP 800-63B), bcrypt hashing,
and the strength estimate that refuses a weak cookie key.

A password is compared exactly as typed, on both sides: nothing is stripped; it is only put in
Unicode NFKC form (NIST's advice), so the same characters typed on two keyboards match. Any
character counts, spaces and emoji included. bcrypt reads at most 72 bytes: a longer password is
refused with a clear message rather than cut (no pre-hash: one scheme, no "shucking" of a
pre-hash found in another breach, and 72 bytes is 72 Latin letters or 18 emoji).
"""
from __future__ import annotations

import math
import os
import re
import secrets
import unicodedata
from functools import cache
from pathlib import Path

import bcrypt
import zxcvbn

from cmcore.refusal import Refusal

MIN_LENGTH = 12  # characters (Unicode code points)
MAX_BYTES = 72  # bcrypt's limit, in UTF-8
# zxcvbn's "safely unguessable" line: at least 10^8 guesses (moderate protection offline).
MIN_GUESSES = 10**8
# bcrypt's work factor; the test suite lowers it (CM_BCRYPT_ROUNDS=4) to stay fast.
BCRYPT_ROUNDS = max(4, int(os.environ.get("CM_BCRYPT_ROUNDS", "12")))
COMMON = Path(__file__).parent / "data" / "common-passwords.txt"
# Words of this app that make a password guessable by anyone who sees the sign-in page.
_CONTEXT = ["community", "console", "communaute", "communauté", "manager", "sponsor"]


class PasswordRefused(Refusal):
    """A new password breaks a rule (shown translated: cmcore.refusal)."""


def normalised(password: str) -> bytes:
    """The bytes bcrypt sees: the password in NFKC form, UTF-8, nothing stripped."""
    return unicodedata.normalize("NFKC", password).encode()


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))


def check(password: str, *context: str) -> None:
    """Refuse a new password that is too short, too long for bcrypt, a common password, or easy to
    guess from a pattern, a repetition or the user's own names (`context`)."""
    text = unicodedata.normalize("NFKC", password)
    if len(text) < MIN_LENGTH:
        raise PasswordRefused("a password needs at least {min} characters", min=MIN_LENGTH)
    if len(text.encode()) > MAX_BYTES:
        raise PasswordRefused("a password can hold at most {max} bytes: {max} plain letters, fewer with "
                              "accented letters (2 bytes each) or emoji (4 bytes each)", max=MAX_BYTES)
    if text.casefold() in common_passwords() or "".join(text.split()).casefold() in common_passwords():
        raise PasswordRefused("this password is one of the most common ones: choose another")
    names = [word for c in context if c for word in (c, *c.split())] + _CONTEXT
    if zxcvbn.zxcvbn(text, user_inputs=names)["guesses"] < MIN_GUESSES:
        raise PasswordRefused("this password is easy to guess (a common word, a name, a keyboard pattern "
                              "or a repetition): a few unrelated words make a good one")


def hashed(password: str, *context: str) -> str:
    """The bcrypt hash of a new password, once it meets the rules."""
    check(password, *context)
    return bcrypt.hashpw(normalised(password), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


@cache
def _decoy(rounds: int) -> bytes:
    """A hash no password matches, as slow to check as a real one of `rounds`."""
    return bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(rounds))


def matches(password: str, stored: str | None) -> bool:
    """Whether `password` is the one `stored` was made from. Costs one bcrypt check whatever
    happens (no stored hash, a password longer than bcrypt reads): timing tells nothing."""
    typed = normalised(password)
    target = stored.encode() if stored else _decoy(BCRYPT_ROUNDS)
    if len(typed) > MAX_BYTES:
        bcrypt.checkpw(typed[:MAX_BYTES], target)
        return False
    return bcrypt.checkpw(typed, target) and stored is not None


def new_password() -> str:
    """A random password to hand out once (16 characters, 96 bits)."""
    return secrets.token_urlsafe(12)


def new_secret() -> str:
    """A random key for signing cookies (64 characters, 384 bits)."""
    return secrets.token_urlsafe(48)


def estimated_bits(secret: str) -> float:
    """A secret's strength in bits as an attacker would guess it: zxcvbn's estimate of its first
    128 characters, taken also with separators removed (zxcvbn takes the spaces and dashes of
    `correct horse` for random characters and misses the words)."""
    variants = {secret[:128], re.sub(r"[\W_]+", "", secret)[:128]} - {""}
    return min((math.log2(zxcvbn.zxcvbn(v, max_length=128)["guesses"]) for v in variants), default=0.0)
