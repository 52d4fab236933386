"""Property-based search for records that crash a batch, block a shard or get lost.

For generated batches of hostile records (tests/support/strategies.py) the
handler must never raise, must account for every input record, and must never
report bad input in ``batchItemFailures``: with a Kinesis that accepts every
valid request nothing is reported, and with one that fails entries at random
only records whose outputs were not all written are reported.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from tests.support.budget import examples
from tests.support.senders import KinesisRulesSender
from tests.support.strategies import batches

pytestmark = pytest.mark.slow  # hundreds of generated batches per test: seconds each


def _service(model, sender=None, test_run=False):
    settings = Settings(predictions_stream="preds", dead_letter_stream="dlq", test_run=test_run)
    return RideDurationService(model, settings, sender=sender, sleep=lambda s: None)


def _index(event_id):
    return int(event_id.rsplit(":", 1)[1])


def _outputs_per_record(result):
    """Input position -> how many outputs (predictions + dead letters) it should give."""
    counts: dict[int, int] = {}
    for p in result.predictions:
        i = _index(p["source"]["eventID"])
        counts[i] = counts.get(i, 0) + 1
    for r in result.rejections:
        counts[r.ref.index] = counts.get(r.ref.index, 0) + 1
    return counts


@examples(200)
@given(records=batches())
def test_test_run_accounts_for_every_record_and_never_raises(shipped_model, records):
    svc = _service(shipped_model, test_run=True)
    result = svc.process({"Records": records})
    assert set(_outputs_per_record(result)) == set(range(len(records)))
    response = result.response()
    assert response["batchItemFailures"] == []
    json.dumps(response, allow_nan=False)
    assert len(response["predictions"]) + len(response["rejected"]) >= len(records)


@examples(200)
@given(records=batches())
def test_bad_input_is_never_reported(shipped_model, records):
    sender = KinesisRulesSender()
    response = _service(shipped_model, sender).handle({"Records": records})
    assert response["batchItemFailures"] == []  # no record can block the shard
    written: dict[int, int] = {}
    for stream in ("preds", "dlq"):
        for output in sender.written[stream]:
            i = _index(output["source"]["eventID"])
            written[i] = written.get(i, 0) + 1
    assert set(written) == set(range(len(records)))  # every record has its output
    assert sender.not_json == []  # no NaN or Infinity ever published


@examples(200)
@given(records=batches(), data=st.data())
def test_only_records_with_unwritten_outputs_are_reported(shipped_model, records, data):
    expected = _outputs_per_record(
        _service(shipped_model, test_run=True).process({"Records": records})
    )
    codes = st.sampled_from([None, None, None, "InternalFailure", "KMSAccessDeniedException"])
    script = data.draw(st.lists(codes, min_size=1, max_size=64))
    sender = KinesisRulesSender(
        fail=lambda stream, call, entry: script[(call * 7 + entry.ref) % len(script)]
    )
    response = _service(shipped_model, sender).handle({"Records": records})
    reported = {int(f["itemIdentifier"]) - 1 for f in response["batchItemFailures"]}
    written: dict[int, int] = {}
    for stream in ("preds", "dlq"):
        for output in sender.written[stream]:
            i = _index(output["source"]["eventID"])
            written[i] = written.get(i, 0) + 1
    for i, count in expected.items():
        if i in reported:
            assert written.get(i, 0) < count  # reported only if something is missing
        else:
            assert written.get(i, 0) == count  # else everything was written
