"""De-aggregation of Kinesis Producer Library (KPL) aggregated records. Pure, no protobuf runtime.

Lambda hands an aggregated record over as one record ("Lambda does not
de-aggregate"); its data is, per the KPL aggregation format
(awslabs/amazon-kinesis-producer, *aggregation-format.md*)::

    4-byte magic F3 89 9A C2 | protobuf AggregatedRecord | 16-byte MD5 of the protobuf

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;
    }

As the KCL does, data that starts with the magic but fails the MD5 check (or
does not parse) is treated as an ordinary record. The user records' order is
their sub-sequence number. A tiny protobuf reader is enough for this schema and
keeps the ``protobuf`` package (and its import time) out of the Lambda init.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16


@dataclass(frozen=True, slots=True)
class UserRecord:
    partition_key: str
    explicit_hash_key: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class TooManyRecords:
    """A valid-looking aggregate holding more than ``limit`` user records; parsing
    stopped there, so the cost of reading it is bounded too."""

    limit: int


class _ProtobufError(ValueError):
    pass


def is_aggregated(raw: bytes) -> bool:
    return raw[:4] == MAGIC


def deaggregate(
    raw: bytes, *, max_records: int | None = None
) -> list[UserRecord] | TooManyRecords | None:
    """The user records of a KPL aggregate, or None if ``raw`` is not a valid one.

    With ``max_records``, an aggregate holding more user records gives
    ``TooManyRecords`` as soon as that is known.
    """
    if len(raw) < len(MAGIC) + DIGEST_SIZE or not is_aggregated(raw):
        return None
    message, digest = raw[len(MAGIC) : -DIGEST_SIZE], raw[-DIGEST_SIZE:]
    if hashlib.md5(message).digest() != digest:
        return None
    try:
        return _parse_aggregated(message, max_records)
    except (_ProtobufError, IndexError, UnicodeDecodeError):
        return None


def _parse_aggregated(message: bytes, max_records: int | None) -> list[UserRecord] | TooManyRecords:
    """Two passes: the tables (bounded by ``max_records``), then the Records against them."""
    tables = _read_tables(message, max_records)
    if isinstance(tables, TooManyRecords):
        return tables
    return _user_records(*tables)


def _read_tables(
    message: bytes, max_records: int | None
) -> tuple[list[str], list[str], list[bytes]] | TooManyRecords:
    """The AggregatedRecord's partition keys, explicit hash keys and still-encoded Records.

    A first pass of its own because a Record may name a key that comes after it
    in the message; reading stops at record ``max_records + 1``, so an oversized
    aggregate costs no more than the limit."""
    keys: list[str] = []
    hash_keys: list[str] = []
    raw_records: list[bytes] = []
    for field, value in _fields(message):
        if field == 1:
            keys.append(_bytes(value).decode("utf-8"))
        elif field == 2:
            hash_keys.append(_bytes(value).decode("utf-8"))
        elif field == 3:
            raw_records.append(_bytes(value))
            if max_records is not None and len(raw_records) > max_records:
                return TooManyRecords(max_records)
    return keys, hash_keys, raw_records


def _user_records(
    keys: list[str], hash_keys: list[str], raw_records: list[bytes]
) -> list[UserRecord]:
    """Each Record decoded and its key indexes resolved against the tables.

    One loop for all records, not a function per record: this is the per-record
    cost of the hot path, and a call per record would add to it."""
    out = []
    for raw in raw_records:
        key_index: int | None = None
        hash_index: int | None = None
        data: bytes | None = None
        for field, value in _fields(raw):
            if field == 1:
                key_index = _int(value)
            elif field == 2:
                hash_index = _int(value)
            elif field == 3:
                data = _bytes(value)
        if key_index is None or data is None or key_index >= len(keys):
            raise _ProtobufError("record lacks a valid partition key index or data")
        hash_key = hash_keys[hash_index] if hash_index is not None else None
        out.append(UserRecord(keys[key_index], hash_key, data))
    return out


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise _ProtobufError("expected a length-delimited field")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise _ProtobufError("expected a varint field")
    return value


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _ProtobufError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field: varints as int, length-delimited as bytes.

    A generator, so a caller can stop early; a malformed message raises when the
    reader reaches the problem."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield field, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise _ProtobufError("truncated field")
            start = pos
            pos += size
            yield field, buf[start:pos]
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _ProtobufError(f"unsupported wire type {wire}")
    if pos != len(buf):
        raise _ProtobufError("truncated message")
