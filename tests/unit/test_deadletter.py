"""Dead letters keep the reason, the source position and the data (or its digest)."""

from __future__ import annotations

import base64
import hashlib

from streaming.consumer.deadletter import dead_letter_event, partition_key
from streaming.consumer.encoding import compact_json as encode
from streaming.consumer.kinesis_limits import MAX_BYTES_PER_RECORD
from streaming.consumer.records import Rejection
from tests.conftest import decode_one, make_record
from tests.schemas import assert_valid


def test_small_record_keeps_its_data():
    record = make_record(b"not json at all", seq=12, raw=True, key="pk-1", arrival=1.5e9)
    rejection = decode_one(record, 0)
    assert isinstance(rejection, Rejection)
    letter = dead_letter_event(rejection, version="v1")
    assert letter["reason"] == "invalid_json"
    assert letter["data"] == record["kinesis"]["data"]
    assert base64.b64decode(letter["data"]) == b"not json at all"
    assert letter["source"] == {"eventID": record["eventID"]}
    assert letter["sequenceNumber"] == record["kinesis"]["sequenceNumber"]
    assert letter["approximateArrivalTimestamp"] == 1.5e9
    assert partition_key(rejection) == "pk-1"
    assert_valid("dead_letter", letter)


def test_record_too_large_to_carry_keeps_size_and_sha256():
    raw = b"[" + b"1," * 400_000 + b"1]"  # ~800 kB of JSON: base64 ~1.07 MB
    rejection = decode_one(make_record(raw, raw=True), 0)
    assert isinstance(rejection, Rejection) and rejection.reason.value == "not_an_object"
    letter = dead_letter_event(rejection, version="v1")
    assert "data" not in letter
    assert letter["size"] == len(raw)
    assert letter["sha256"] == hashlib.sha256(raw).hexdigest()
    assert len(encode(letter)) < MAX_BYTES_PER_RECORD
    assert_valid("dead_letter", letter)


def test_largest_record_that_still_fits_keeps_its_data():
    raw = b"[" + b"1," * 300_000 + b"1]"  # base64 ~800 kB: fits
    letter = dead_letter_event(decode_one(make_record(raw, raw=True), 0), version="v1")
    assert "data" in letter and "size" not in letter
    assert len(encode(letter)) <= MAX_BYTES_PER_RECORD


def test_malformed_lambda_record_still_gets_a_dead_letter():
    rejection = decode_one({"eventID": "shardId-000000000001:5"}, 0)
    letter = dead_letter_event(rejection, version="v1")
    assert letter["reason"] == "not_a_kinesis_record" and "data" not in letter
    assert partition_key(rejection) == "shardId-000000000001:5"
    assert_valid("dead_letter", letter)
