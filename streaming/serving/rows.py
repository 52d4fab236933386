"""One input row, as the readers (TLC parquet, JSON lines) hand it to scoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streaming.consumer.records import Reason


@dataclass
class Row:
    """One input row: its position, the ride event (or raw line) and, for TLC, the truth."""

    source_row: int
    payload: Any  # a dict (TLC row) or bytes (a JSON line)
    actual_duration: float | None = None
    #: A problem found while reading the file (reason, detail): the row is rejected as is.
    problem: tuple[Reason, str] | None = None
