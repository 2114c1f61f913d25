"""Parse the keys in ``TOKENAUTH``: which algorithms exist, what each needs (E004-E006)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "ALGORITHMS",
    "HMAC_ALGORITHMS",
    "VerifyingKeySetting",
    "check_key",
    "parse_verifying_keys",
]

HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 §3.2 minimum key bytes
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})
ALGORITHMS = frozenset(HMAC_ALGORITHMS) | ASYMMETRIC_ALGORITHMS

_VERIFYING_KEY_KEYS = frozenset({"kid", "key", "algorithm"})

Problem = Callable[[str, str], None]  # (check id, message)


@dataclass(frozen=True)
class VerifyingKeySetting:
    kid: str
    key: str | bytes
    algorithm: str


def _is_kid(value: object) -> bool:
    return isinstance(value, str) and value != ""


def check_key(problem: Problem, algorithm: str, key: object, label: str, *, required: bool) -> None:
    """E004 for a missing key, E005 for an HMAC secret shorter than its hash."""
    if algorithm in HMAC_ALGORITHMS:
        if key is None:
            if required:
                problem("E004", f"{label} needs a secret for {algorithm}.")
            return
        secret = key.encode() if isinstance(key, str) else key
        size = len(secret) if isinstance(secret, bytes) else 0
        if size < HMAC_ALGORITHMS[algorithm]:
            problem(
                "E005",
                f"{label} is {size} bytes; {algorithm} needs at least "
                f"{HMAC_ALGORITHMS[algorithm]} (RFC 7518 §3.2).",
            )
    elif key is None:
        problem("E004", f"{label} needs a PEM private key for {algorithm}.")


def parse_verifying_keys(
    raw: object, default_algorithm: str, problem: Problem
) -> tuple[VerifyingKeySetting, ...]:
    """The keys still accepted during a rotation; each malformed entry is E006."""
    if not isinstance(raw, (list, tuple)):
        problem("E002", f"TOKENAUTH['VERIFYING_KEYS'] must be a list of dicts, not {raw!r}.")
        return ()
    keys: list[VerifyingKeySetting] = []
    for index, entry in enumerate(raw):
        label = f"TOKENAUTH['VERIFYING_KEYS'][{index}]"
        if not isinstance(entry, Mapping) or set(entry) - _VERIFYING_KEY_KEYS:
            problem("E006", f"{label} must be a dict with keys {sorted(_VERIFYING_KEY_KEYS)}.")
            continue
        if not _is_kid(entry.get("kid")) or entry["kid"] in {k.kid for k in keys}:
            problem("E006", f"{label} needs a 'kid' string of its own.")
            continue
        algorithm = entry.get("algorithm", default_algorithm)
        key = entry.get("key")
        if algorithm not in ALGORITHMS or not isinstance(key, (str, bytes)):
            problem("E006", f"{label} needs a 'key' and a supported 'algorithm'.")
            continue
        check_key(problem, algorithm, key, label, required=True)
        keys.append(VerifyingKeySetting(kid=entry["kid"], key=key, algorithm=algorithm))
    return tuple(keys)
