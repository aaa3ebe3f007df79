"""Stable content hashes of resolved specs (and anything JSON-like)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same content always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def content_hash(value: Any, length: int = 16) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``, shortened to ``length`` characters."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]
