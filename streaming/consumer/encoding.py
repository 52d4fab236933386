"""One JSON encoding for everything published: compact, UTF-8, strict.

``allow_nan=False``: NaN and Infinity are not JSON (RFC 8259 section 6); the
handler never lets one reach an output, and if one ever did this raises
instead of writing a record other programs cannot read.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON bytes (non-ASCII escaped, so always valid UTF-8)."""
    return _ENCODER.encode(value).encode("utf-8")
