"""One JSON encoding for everything published: compact, UTF-8, strict.

``allow_nan=False``: NaN and Infinity are not JSON (RFC 8259 section 6); the
handler never lets one reach an output, and if one ever did this raises
instead of writing a record other programs cannot read.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

#: The C encoder ``JSONEncoder.encode`` builds on every call, built once: a batch
#: encodes 10,000 small events, and making the encoder was about a third of each
#: (bench/PUBLISH.md). Same output; no circular-reference check, as the events
#: are plain dicts the handler builds. ``None`` where CPython's ``_json`` is absent.
_C_ENCODE = (
    json.encoder.c_make_encoder(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
    if json.encoder.c_make_encoder is not None
    else None
)


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON bytes (non-ASCII escaped, so always valid UTF-8)."""
    if _C_ENCODE is not None and isinstance(value, dict):
        return "".join(_C_ENCODE(value, 0)).encode("utf-8")
    return _ENCODER.encode(value).encode("utf-8")
