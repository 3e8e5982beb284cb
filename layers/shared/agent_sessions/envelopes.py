"""Record envelopes `{"data": ..., "id": ...}`: pure JSON, shared by the server, the worker and the client."""

from __future__ import annotations

import json
from typing import Any


def parse_envelope(body: str) -> dict[str, Any] | None:
    """The envelope of a record body; None for control records (empty body)."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"data": body, "id": ""}
    return parsed if isinstance(parsed, dict) else {"data": parsed, "id": ""}


def decode_data(data: Any) -> Any:
    """An envelope's payload, JSON-decoded when it was appended as a JSON string (HTTP appends are)."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def envelope_data(body: str) -> Any:
    envelope = parse_envelope(body)
    return decode_data(envelope.get("data") if envelope else None)
