"""API key format and hashing: `po_<prefix>_<secret>`, stored as the prefix plus an HMAC with a pepper."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "po"
PREFIX_LENGTH = 10


@dataclass(frozen=True)
class GeneratedKey:
    prefix: str
    raw_key: str


def generate_key() -> GeneratedKey:
    # token_hex keeps the prefix free of the '_' separator; the secret carries 256 bits.
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return GeneratedKey(prefix=prefix, raw_key=f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}")


def hash_key(raw_key: str, *, pepper: str) -> str:
    """HMAC-SHA256 with a server-side pepper: a stolen database alone cannot verify guesses."""
    return hmac.new(pepper.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


def prefix_of(raw_key: str) -> str | None:
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != PREFIX_LENGTH or not parts[2]:
        return None
    return parts[1]


def key_matches(raw_key: str, stored_hash: str, *, pepper: str) -> bool:
    return hmac.compare_digest(hash_key(raw_key, pepper=pepper), stored_hash)
