"""KPL aggregates of any shape, written field by field (the protobuf wire format).

aws-kinesis-agg makes only well-formed aggregates within its own limits; tests
of hostile input also need empty ones, huge ones, overlong keys, wrong indexes
and stray fields, so this writes the bytes directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from streaming.consumer.kpl import MAGIC


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def varint_field(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def user_record(key_index: int, data: bytes) -> bytes:
    return varint_field(1, key_index) + length_delimited(3, data)


def message(keys: Sequence[str], records: Iterable[tuple[int, bytes]]) -> bytes:
    """The AggregatedRecord protobuf: partition key table, then the user records."""
    parts = [length_delimited(1, k.encode("utf-8")) for k in keys]
    parts += [length_delimited(3, user_record(i, d)) for i, d in records]
    return b"".join(parts)


def wrap(msg: bytes) -> bytes:
    """Magic + message + MD5: what the KPL puts in the Kinesis record's data."""
    return MAGIC + msg + hashlib.md5(msg).digest()


def aggregate(keys: Sequence[str], records: Iterable[tuple[int, bytes]]) -> bytes:
    return wrap(message(keys, records))
