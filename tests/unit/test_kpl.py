"""KPL-aggregated records, made by the aws-kinesis-agg package (the KPL's format)."""

from __future__ import annotations

import base64
import json
import random

from aws_kinesis_agg.aggregator import RecordAggregator

from streaming import kpl
from streaming.config import Settings
from streaming.events import Rejection, Ride, decode_record
from streaming.handler import RideDurationService
from tests.conftest import make_record
from tests.schemas import assert_valid
from tests.support.senders import ScriptedSender


def aggregate(user_records):
    """[(partition key, bytes)] -> the data of one aggregated Kinesis record."""
    agg = RecordAggregator()
    for key, data in user_records:
        assert agg.add_user_record(key, data) is None  # all fit in one record
    partition_key, _hash_key, data = agg.clear_and_get().get_contents()
    return partition_key, data


def ride(i, **extra):
    return json.dumps(
        {
            "ride": {
                "PULocationID": 70 + i,
                "DOLocationID": 80 + i,
                "trip_distance": 1.0 + i,
                **extra,
            },
            "ride_id": i,
        }
    ).encode()


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
