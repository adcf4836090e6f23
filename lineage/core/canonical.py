"""Canonical JSON: the one byte encoding that content IDs are computed over.

Keys sorted, no insignificant whitespace, UTF-8, no NaN or infinities. Two
machines serialising the same value always produce the same bytes.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> bytes:
    """Serialise ``value`` canonically (sorted keys, compact, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return json.loads(data)
