"""Public access tokens as the protocol defines them, shared by the server and the Python client.

Header `{"alg":"HS256"}`; claims = the environment's claims (`sub`, `pub`) + `scopes`, optional `otu`
and `realtime`, and `iss`, `aud`, `iat`, `exp`; key = the environment's root secret key string.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping
from typing import Any

import jwt

# The protocol fixes the HMAC key to the 31-byte root key string; the warning cannot be acted on.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

ISSUER = "https://id.trigger.dev"
AUDIENCE = "https://api.trigger.dev"
DEFAULT_TTL_SECONDS = 15 * 60
MAX_TTL_SECONDS = 30 * 24 * 3600
# Tolerance on `exp`, `nbf` and `iat` when verifying. PATs are signed on the customer's backend
# (`auth.createPublicToken`), so its clock, not ours, sets `iat`; an NTP-synced host is off by well
# under a second, a VM after resume by a few. The reference (jose) never rejects a future `iat`;
# we accept one up to this far ahead and refuse beyond it, because a signer a minute or more off is
# misconfigured and a clear 401 beats silently stretching every token it signs.
CLOCK_LEEWAY_SECONDS = 60

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * 86400),
}


def parse_duration(value: str) -> int:
    """`"15m"`, `"1h"`, `"2 days"` → seconds. Raises ValueError."""
    match = _DURATION_RE.match(value.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"Invalid expiration time: {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def expiry_from(expiration: str | int | float | None, now: int, default: int = DEFAULT_TTL_SECONDS) -> int:
    """Durations are relative; numbers are absolute epoch seconds (as in jose). Raises ValueError."""
    if expiration is None:
        exp = now + default
    elif isinstance(expiration, bool):
        raise ValueError("Invalid expiration time")
    elif isinstance(expiration, int | float):
        exp = int(expiration)
    else:
        exp = now + parse_duration(expiration)
    if exp <= now:
        raise ValueError("Expiration time is in the past")
    if exp - now > MAX_TTL_SECONDS:
        raise ValueError("Expiration time exceeds 30 days")
    return exp


def flatten_scopes(scopes: Mapping[str, Any]) -> list[str]:
    """`{"read": {"sessions": "c"}, "write": {"sessions": ["a", "b"]}}` → `action:type:id` strings,
    `action:type` for `True`, `action` for `action: True`, in key order; blank ids are refused."""
    out: list[str] = []
    for action, resources in scopes.items():
        if resources is True:
            out.append(action)
            continue
        for kind, ids in dict(resources).items():
            if ids is True:
                out.append(f"{action}:{kind}")
                continue
            for one in [ids] if isinstance(ids, str) else list(ids):
                if not str(one).strip():
                    raise ValueError(f"blank id in scope {action}:{kind}")
                out.append(f"{action}:{kind}:{one}")
    return out


def sign(
    secret_key: str,
    claims: Mapping[str, Any],
    scopes: list[str],
    *,
    exp: int,
    iat: int | None = None,
    one_time_use: bool = False,
    realtime: Mapping[str, Any] | None = None,
) -> str:
    payload: dict[str, Any] = {**claims, "scopes": list(scopes)}
    if one_time_use:
        payload["otu"] = True
    if realtime is not None:
        payload["realtime"] = dict(realtime)
    payload.update(iss=ISSUER, aud=AUDIENCE, iat=iat if iat is not None else int(time.time()), exp=exp)
    return jwt.encode(payload, secret_key, algorithm="HS256", headers={"typ": None})
