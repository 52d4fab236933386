"""KPL-aggregated records, made by the aws-kinesis-agg package (the KPL's format)."""

from __future__ import annotations

import base64
import json
import random

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from streaming.consumer import decode, kpl
from streaming.consumer.config import Settings
from streaming.consumer.decode import decode_record
from streaming.consumer.handler import RideDurationService
from streaming.consumer.records import Reason, Rejection, Ride
from tests.conftest import make_record
from tests.schemas import assert_valid
from tests.support import kpl_build
from tests.support.rides import ride_bytes
from tests.support.senders import ScriptedSender


def aggregate(user_records):
    """[(partition key, bytes)] -> the data of one aggregated Kinesis record."""
    agg = RecordAggregator()
    for key, data in user_records:
        assert agg.add_user_record(key, data) is None  # all fit in one record
    partition_key, _hash_key, data = agg.clear_and_get().get_contents()
    return partition_key, data


def ride(i, **extra):
    """Ride ``i`` as record data, its zones and distance varying with ``i``."""
    return ride_bytes(i, 70 + i, 80 + i, 1.0 + i, **extra)


def test_reader_matches_the_package_on_random_aggregates():
    rng = random.Random(1)
    for _ in range(50):
        users = [
            (f"key-{rng.randint(0, 5)}", rng.randbytes(rng.randint(0, 300)))
            for _ in range(rng.randint(1, 40))
        ]
        _, data = aggregate(users)
        got = kpl.deaggregate(data)
        assert [(u.partition_key, u.data) for u in got] == users


def test_plain_and_damaged_data_is_not_an_aggregate():
    _, data = aggregate([("k", b"x")])
    assert kpl.deaggregate(b'{"ride": 1}') is None
    damaged = data[:-1] + bytes([data[-1] ^ 1])  # MD5 no longer matches
    assert kpl.deaggregate(damaged) is None
    truncated = data[:10] + data[-16:]
    assert kpl.deaggregate(truncated) is None


def test_each_user_record_is_decoded_with_its_sub_sequence_number():
    key, data = aggregate([("a", ride(1)), ("b", b"not json"), ("c", ride(3))])
    record = make_record(data, seq=42, raw=True, key=key)
    items = decode_record(record, 7)
    assert [type(i) for i in items] == [Ride, Rejection, Ride]
    assert [i.ref.sub_sequence_number for i in items] == [0, 1, 2]
    assert all(i.ref.index == 7 for i in items)  # failures are reported by the parent
    assert [i.ref.partition_key for i in items] == ["a", "b", "c"]
    assert items[1].reason.value == "invalid_json"
    assert base64.b64decode(items[1].data) == b"not json"  # the user record, replayable
    assert items[0].ref.source() == {"eventID": record["eventID"], "subSequenceNumber": 0}


def test_damaged_aggregate_is_handled_as_a_plain_record():
    _, data = aggregate([("a", ride(1))])
    [item] = decode_record(make_record(data[:-1] + b"\x00", raw=True), 0)
    assert isinstance(item, Rejection) and item.reason.value == "invalid_utf8"


def test_handler_predicts_every_user_record_and_reports_the_parent(shipped_model):
    key, data = aggregate([(str(i), ride(i)) for i in range(5)] + [("bad", b"[]")])
    parent = make_record(data, seq=9, raw=True, key=key)
    plain = make_record(json.loads(ride(10)), seq=10)
    # the prediction of user record 3 cannot be published: the parent is reported
    sender = ScriptedSender(
        fail=lambda stream, call, e: (
            "InternalFailure"
            if stream == "preds" and json.loads(e.data)["prediction"]["ride_id"] == 3
            else None
        )
    )
    svc = RideDurationService(
        shipped_model,
        Settings(predictions_stream="preds", dead_letter_stream="dlq"),
        sender=sender,
        sleep=lambda s: None,
    )
    response = svc.handle({"Records": [parent, plain]})
    assert response["batchItemFailures"] == [
        {"itemIdentifier": parent["kinesis"]["sequenceNumber"]}
    ]
    written = sender.written["preds"]
    assert sorted(p["prediction"]["ride_id"] for p in written) == [0, 1, 2, 4, 10]
    for p in written:
        assert_valid("prediction_event", p)
        if p["prediction"]["ride_id"] != 10:
            assert p["source"]["subSequenceNumber"] == p["prediction"]["ride_id"]
    [letter] = sender.written["dlq"]
    assert letter["source"] == {"eventID": parent["eventID"], "subSequenceNumber": 5}
    assert base64.b64decode(letter["data"]) == b"[]"
    assert_valid("dead_letter", letter)


# -- hostile aggregates: every input accounted for, the work bounded, keys valid --


def kpl_service(shipped_model, sender):
    return RideDurationService(
        shipped_model,
        Settings(predictions_stream="preds", dead_letter_stream="dlq"),
        sender=sender,
        sleep=lambda s: None,
    )


def test_an_empty_aggregate_is_dead_lettered_not_dropped(shipped_model):
    record = make_record(kpl_build.wrap(b""), seq=3, raw=True, key="parent")
    [item] = decode_record(record, 0)
    assert isinstance(item, Rejection) and item.reason is Reason.EMPTY_AGGREGATE
    assert item.data == record["kinesis"]["data"]
    sender = ScriptedSender()
    response = kpl_service(shipped_model, sender).handle({"Records": [record]})
    assert response["batchItemFailures"] == []
    [letter] = sender.written["dlq"]
    assert letter["reason"] == "empty_aggregate" and letter["data"] == item.data
    assert_valid("dead_letter", letter)


@pytest.mark.parametrize("bad_key", ["k" * 300, "\U0001f695" * 200, ""])
def test_a_user_record_key_kinesis_refuses_never_keys_its_dead_letter(shipped_model, bad_key):
    data = kpl_build.aggregate([bad_key, "good"], [(0, b"not json"), (1, ride(1))])
    record = make_record(data, seq=5, raw=True, key="parent-key")
    sender = ScriptedSender()
    response = kpl_service(shipped_model, sender).handle({"Records": [record]})
    assert response["batchItemFailures"] == []  # the shard moves on
    [letter] = sender.written["dlq"]
    assert letter["reason"] == "invalid_json"
    assert sender.keys["dlq"] == ["parent-key"]  # the Kinesis record's own key
    assert [p["prediction"]["ride_id"] for p in sender.written["preds"]] == [1]


def test_without_any_valid_key_the_dead_letter_key_falls_back():
    from streaming.consumer.deadletter import partition_key
    from streaming.consumer.kinesis_limits import is_valid_partition_key

    data = kpl_build.aggregate(["k" * 300], [(0, b"x")])
    record = make_record(data, raw=True, key="p")
    record["kinesis"]["partitionKey"] = "\ud800"  # not Unicode
    record["eventID"] = "e" * 1000
    record["kinesis"]["sequenceNumber"] = None
    [item] = decode_record(record, 0)
    key = partition_key(item)
    assert is_valid_partition_key(key)


def test_an_aggregate_over_the_record_cap_is_one_dead_letter(shipped_model):
    cap = decode.MAX_USER_RECORDS_PER_AGGREGATE
    at_cap = kpl_build.aggregate(["k"], [(0, ride(i % 50)) for i in range(cap)])
    assert len(decode_record(make_record(at_cap, raw=True), 0)) == cap
    # one record under 1 MiB holding ~150,000 tiny user records (here: bad ones)
    huge = kpl_build.aggregate(["k"], [(0, b"x")] * 149_000)
    assert len(huge) < 1024 * 1024
    record = make_record(huge, seq=8, raw=True, key="k")
    [item] = decode_record(record, 0)
    assert item.reason is Reason.AGGREGATE_TOO_LARGE
    assert item.ref.sub_sequence_number is None  # the parent, whole
    sender = ScriptedSender()
    response = kpl_service(shipped_model, sender).handle({"Records": [record]})
    assert response["batchItemFailures"] == []
    assert len(sender.calls) == 1  # one PutRecords call, not 340
    [letter] = sender.written["dlq"]
    assert letter["reason"] == "aggregate_too_large" and "data" not in letter  # > 1 MiB
    assert letter["size"] == len(huge)
    assert_valid("dead_letter", letter)


def test_many_rejected_user_records_become_one_summary_dead_letter(shipped_model):
    cap = decode.MAX_DEAD_LETTERS_PER_AGGREGATE
    bad = [(0, b"nope")] * (cap + 1) + [(0, b"[]")] * 3
    data = kpl_build.aggregate(["k"], [(0, ride(1)), *bad, (0, ride(2))])
    record = make_record(data, seq=4, raw=True, key="k")
    sender = ScriptedSender()
    response = kpl_service(shipped_model, sender).handle({"Records": [record]})
    assert response["batchItemFailures"] == []
    assert sorted(p["prediction"]["ride_id"] for p in sender.written["preds"]) == [1, 2]
    [letter] = sender.written["dlq"]
    assert letter["reason"] == "aggregate_too_many_rejects"
    assert letter["rejected"] == {
        "count": cap + 4,
        "reasons": {"invalid_json": cap + 1, "not_an_object": 3},
    }
    assert letter["source"] == {"eventID": record["eventID"]}  # the parent
    assert letter["data"] == record["kinesis"]["data"]  # replayable as a whole
    assert_valid("dead_letter", letter)
    # exactly at the cap, each rejected user record keeps its own dead letter
    data = kpl_build.aggregate(["k"], [(0, b"nope")] * cap)
    items = decode_record(make_record(data, raw=True), 0)
    assert len(items) == cap and all(i.reason is Reason.INVALID_JSON for i in items)
