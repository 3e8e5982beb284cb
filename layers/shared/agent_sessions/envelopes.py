"""Record envelopes `{"data": ..., "id": ...}`: pure JSON, shared by the server, the worker and the client.

Also the UTF-8 text helpers every size limit leans on: sizes are UTF-8 bytes of JSON written the way
`JSON.stringify` writes it (non-ASCII kept as is, not `\\uXXXX`-escaped), so a CJK or emoji record
costs what the client sent, and splitting is by bytes on character boundaries.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON with non-ASCII kept as is (as `JSON.stringify` writes it).

    Falls back to `\\u` escapes when the value holds a lone surrogate, which UTF-8 cannot encode,
    so the result always encodes to UTF-8.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """`text` cut into pieces of at most `max_bytes` UTF-8 bytes, never inside a character.

    `"".join(pieces) == text`; an empty text gives `[""]`. `max_bytes` must be at least 4.
    """
    data = text.encode()
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: back off
            end -= 1
        pieces.append(data[start:end].decode())
        start = end
    return pieces or [""]


def parse_envelope(body: str) -> dict[str, Any] | None:
    """The envelope of a record body; None for control records (empty body)."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # nested deeper than the decoder recurses: kept as text
        return {"data": body, "id": ""}
    return parsed if isinstance(parsed, dict) else {"data": parsed, "id": ""}


def _not_json(name: str) -> Any:
    """`NaN` / `Infinity` are Python's extensions, not JSON: decoded, they would be echoed into a
    response no JSON parser reads, so such data stays text."""
    raise ValueError(f"{name} is not JSON")


def decode_data(data: Any) -> Any:
    """An envelope's payload, JSON-decoded when it was appended as a JSON string (HTTP appends are)."""
    if isinstance(data, str):
        try:
            return json.loads(data, parse_constant=_not_json)
        except (ValueError, RecursionError):  # an append nested 100,000 deep stays text, not a 500
            return data
    return data


def envelope_data(body: str) -> Any:
    envelope = parse_envelope(body)
    return decode_data(envelope.get("data") if envelope else None)
