"""Kinesis API limits that decide whether a record can ever be written, named once.

Kinesis API reference, *PutRecords* / *PutRecordsRequestEntry*: at most 500
records and 5 MiB per request; each record's data plus partition key at most
1 MiB; "Partition keys are Unicode strings, with a maximum length limit of 256
characters for each key". The service counts characters as Java does (UTF-16
code units), so a key of 200 emoji is 400 characters there: keys are measured
the same way here, which errs on the safe side. A key that breaks these rules
fails its whole PutRecords call, every retry: validation and the publisher
both use ``is_valid_partition_key`` so such a key never reaches a request.
"""

from __future__ import annotations

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256


def partition_key_length(key: str) -> int:
    """Length as Kinesis counts it: UTF-16 code units (an astral character counts 2)."""
    if key.isascii():
        return len(key)
    return len(key.encode("utf-16-le", "surrogatepass")) // 2


def is_valid_partition_key(key: object) -> bool:
    """1-256 characters (UTF-16 units) of valid Unicode (no lone surrogates)."""
    if not isinstance(key, str) or not key:
        return False
    if key.isascii():
        return len(key) <= MAX_PARTITION_KEY_CHARS
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return partition_key_length(key) <= MAX_PARTITION_KEY_CHARS
