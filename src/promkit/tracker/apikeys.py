"""API keys: ``mk_`` + 32 random bytes in hex, shown once, stored as SHA-256 plus a prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "mk_"
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8


@dataclass(frozen=True)
class NewKey:
    raw: str
    hash: str
    prefix: str


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> NewKey:
    raw = KEY_PREFIX + secrets.token_hex(32)
    return NewKey(raw=raw, hash=key_hash(raw), prefix=raw[:DISPLAY_PREFIX_LENGTH])


def masked(prefix: str) -> str:
    return prefix + "…"


def looks_like_key(raw: str) -> bool:
    return len(raw) == len(KEY_PREFIX) + 64 and raw.startswith(KEY_PREFIX)


__all__ = ["NewKey", "generate_key", "key_hash", "looks_like_key", "masked"]
