"""``send --finished-stream`` without an emulator: the ride_finished events it builds from
TLC trips (schema, ride ids, times), the time-scale rule, the schedule that interleaves
started and finished events, and the sender that follows it."""

from __future__ import annotations

import json
import math
import time

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from streaming.tools import finished, produce
from streaming.training import tlc
from tests.conftest import DATA
from tests.schemas import assert_valid


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """The first 400 rows of February 2023 (a real TLC file, named by its month),
    its clean trips, and the file's own drop-off times by row."""
    raw = pq.read_table(tlc.month_path(DATA, "2023-02")).slice(0, 400)
    path = tmp_path_factory.mktemp("finished") / "green_tripdata_2023-02.parquet"
    pq.write_table(raw, path)
    trips, _ = tlc.load_trips(path)
    return trips, raw.to_pandas()["lpep_dropoff_datetime"]


def test_each_finished_event_validates_against_its_schema(month):
    trips, _ = month
    events = finished.finished_events(produce.sample_trips(trips, 10_000))
    assert len(events) == len(trips) > 300
    for event in events:
        assert_valid("ride_finished", json.loads(json.dumps(event)))  # as sent: JSON
        assert event["event"] == "ride_finished" and event["version"] == 1


def test_finished_events_name_the_started_rides_and_carry_the_files_times(month):
    trips, dropoffs = month
    sample = produce.sample_trips(trips, 150, seed=3)
    started = tlc.ride_events(sample)
    done = finished.finished_events(sample)
    # event i of each list is one ride: the same id (the trip's row in the file)
    assert [e["ride_id"] for e in done] == [e["ride_id"] for e in started]
    assert [e["ride_id"] for e in started] == [
        e["ride_id"] for e in produce.sample_rides(trips, 150, 3)
    ]
    for s, f in zip(started, done, strict=True):
        ride_id = f["ride_id"]
        # pickup written exactly as the started event writes it (New York local, no offset)
        assert f["pickup_datetime"] == s["ride"]["pickup_datetime"]
        # drop-off: the file's own value, in the same format
        assert f["dropoff_datetime"] == dropoffs.iloc[ride_id].isoformat()
        assert f["duration_minutes"] == trips.loc[ride_id, "duration"]
        assert f["PULocationID"] == s["ride"]["PULocationID"]


def test_time_scale_is_seconds_per_minute_of_ride():
    assert finished.DEFAULT_TIME_SCALE == 0.1
    assert finished.finish_delay(10.0) == pytest.approx(1.0)  # a 10-minute ride: 1 s
    assert finished.finish_delay(60.0) == pytest.approx(6.0)  # the longest ride predicted
    assert finished.finish_delay(10.0, time_scale=60.0) == 600.0  # 60 = real time
    assert finished.finish_delay(10.0, time_scale=0.0) == 0.0  # right after its start
    # i.e. duration_seconds / speedup, with speedup = 60 / time_scale
    for minutes, scale in [(1.0, 0.1), (17.5, 0.25), (59.9, 3.0)]:
        speedup = 60 / scale
        assert finished.finish_delay(minutes, scale) == pytest.approx(minutes * 60 / speedup)
    for bad in [(-1.0, 0.1), (math.nan, 0.1), (1.0, -0.1), (1.0, math.inf)]:
        with pytest.raises(ValueError):
            finished.finish_delay(*bad)


def test_started_events_are_paced_by_the_rate():
    assert [finished.started_at(i, 50.0) for i in range(3)] == [0.0, 0.02, 0.04]
    assert finished.started_at(999, None) == 0.0  # no rate: as fast as PutRecords allows


@given(
    durations=st.lists(st.floats(0.0, 60.0), max_size=60),
    rate=st.one_of(st.none(), st.floats(0.5, 5000.0)),
    scale=st.sampled_from([0.0, 0.01, 0.1, 1.0, 60.0]),
)
def test_schedule_is_in_due_order_and_a_ride_finishes_after_it_starts(durations, rate, scale):
    due = list(finished.schedule(durations, rate=rate, time_scale=scale))
    assert len(due) == 2 * len(durations)
    assert due == sorted(due)  # by time; a started event first on a tie
    position = {(d.kind, d.index): n for n, d in enumerate(due)}
    at = {(d.kind, d.index): d.at for d in due}
    for i, minutes in enumerate(durations):
        start, end = (finished.STARTED, i), (finished.FINISHED, i)
        assert position[start] < position[end]
        assert at[start] == finished.started_at(i, rate)
        assert at[end] == pytest.approx(at[start] + minutes * scale)
    starts = [d.index for d in due if d.kind == finished.STARTED]
    assert starts == sorted(starts)  # rides start in pickup order


def test_schedule_interleaves_a_short_ride_before_a_long_one_still_going():
    # ride 0 lasts 30 min (3 s), ride 1 one minute (0.1 s); one ride a second
    due = list(finished.schedule([30.0, 1.0, 5.0], rate=1.0))
    start, end = finished.STARTED, finished.FINISHED
    assert [(d.kind, d.index) for d in due] == [
        (start, 0), (start, 1), (end, 1), (start, 2), (end, 2), (end, 0),
    ]  # fmt: skip
    assert [round(d.at, 6) for d in due] == [0.0, 1.0, 1.1, 2.0, 2.5, 3.0]


def test_a_ride_started_late_finishes_late_by_as_much():
    """The rule counts from when the started event went out, not from when it was due:
    a sender that fell behind (a slow first call) keeps each ride's duration."""
    plan = finished.Schedule([10.0, 2.0], rate=10.0)  # due at 0 s and 0.1 s
    first = plan.pop()
    assert first == finished.Due(0.0, finished.STARTED, 0)
    plan.started(0, 0.25)  # went out 0.25 s late
    second = plan.pop()
    assert second == finished.Due(0.1, finished.STARTED, 1)  # overdue: next anyway
    plan.started(1, 0.3)
    assert len(plan) == 2
    assert [plan.pop() for _ in range(2)] == [
        finished.Due(pytest.approx(0.5), finished.FINISHED, 1),  # 0.3 + 2 min x 0.1
        finished.Due(pytest.approx(1.25), finished.FINISHED, 0),  # 0.25 + 10 min x 0.1
    ]
    assert plan.peek() is None and len(plan) == 0
    with pytest.raises(IndexError):
        plan.pop()


# -- the sender that follows the schedule ------------------------------------------


class RecordingKinesis:
    """put_records writes every entry (or refuses every call to ``refuse``), in order."""

    def __init__(self, refuse: str | None = None, slow: dict[str, float] | None = None) -> None:
        self.refuse = refuse
        self.slow = slow or {}  # seconds each call to a stream takes before it writes
        self.written: list[tuple[str, str, float]] = []  # (stream, key, monotonic time)
        self.calls = 0

    def put_records(self, StreamName, Records):  # noqa: N803 (boto3's names)
        self.calls += 1
        if StreamName == self.refuse:
            raise ClientError(
                {
                    "Error": {"Code": "ResourceNotFoundException", "Message": "not found"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "PutRecords",
            )
        time.sleep(self.slow.get(StreamName, 0.0))
        now = time.monotonic()
        self.written += [(StreamName, r["PartitionKey"], now) for r in Records]
        return {
            "FailedRecordCount": 0,
            "Records": [{"SequenceNumber": str(n), "ShardId": "s"} for n in range(len(Records))],
        }


def payloads(events):
    return [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]


def test_send_scheduled_sends_each_finished_event_after_its_started_one_and_on_time(month):
    trips, _ = month
    sample = produce.sample_trips(trips, 40, seed=1)
    started, done = tlc.ride_events(sample), finished.finished_events(sample)
    client = RecordingKinesis()
    scale = 0.005  # a 10-minute ride finishes 50 ms after it started
    plan = finished.Schedule([e["duration_minutes"] for e in done], rate=200.0, time_scale=scale)
    t0 = time.monotonic()
    stats, fin = produce.send_scheduled(
        client, ("in", "fin"), (payloads(started), payloads(done)), plan
    )
    assert (stats.sent, fin.sent, stats.failed, fin.failed) == (40, 40, 0, 0)
    assert stats.error is None and fin.error is None
    order = {(stream, key): n for n, (stream, key, _) in enumerate(client.written)}
    when = {(stream, key): t - t0 for stream, key, t in client.written}
    for n, e in enumerate(done):
        key = str(e["ride_id"])
        assert order[("in", key)] < order[("fin", key)]
        # each ride starts when due or later; it finishes its scaled duration after that
        assert when[("in", key)] >= n / 200.0 - 1e-3
        assert when[("fin", key)] - when[("in", key)] >= e["duration_minutes"] * scale - 1e-3
    # the run lasts about as long as the last event is due, not longer
    last = max(n / 200.0 + e["duration_minutes"] * scale for n, e in enumerate(done))
    assert last <= stats.seconds < last + 2.0


def test_a_slow_started_call_does_not_bring_a_rides_finish_closer(month):
    # Each call to the started stream takes 30 ms before it writes; the rides last 2-20 ms
    # at this scale. Timing a finish from when the step was taken, rather than from the
    # call's return, would send it right after its started event (CI once saw 9.9 ms for
    # a 13.75 ms ride on a loaded machine).
    trips, _ = month
    sample = produce.sample_trips(trips, 12, seed=3)
    started, done = tlc.ride_events(sample), finished.finished_events(sample)
    client = RecordingKinesis(slow={"in": 0.03})
    scale = 0.001
    plan = finished.Schedule([e["duration_minutes"] for e in done], rate=100.0, time_scale=scale)
    stats, fin = produce.send_scheduled(
        client, ("in", "fin"), (payloads(started), payloads(done)), plan
    )
    assert (stats.sent, fin.sent) == (12, 12)
    when = {(stream, key): t for stream, key, t in client.written}
    gaps = [
        when[("fin", str(e["ride_id"]))]
        - when[("in", str(e["ride_id"]))]
        - finished.finish_delay(e["duration_minutes"], scale)
        for e in done
    ]
    assert min(gaps) >= -1e-6, gaps  # float rounding of the clocks, not milliseconds


def test_send_scheduled_stops_at_the_first_error_of_the_finished_stream(month):
    trips, _ = month
    sample = produce.sample_trips(trips, 30)
    started, done = tlc.ride_events(sample), finished.finished_events(sample)
    client = RecordingKinesis(refuse="fin")
    plan = finished.Schedule([e["duration_minutes"] for e in done], rate=None, time_scale=0.001)
    stats, fin = produce.send_scheduled(
        client, ("in", "fin"), (payloads(started), payloads(done)), plan
    )
    assert stats.sent == 30  # rate 0: every ride starts at once, before any finishes
    assert fin.sent == 0 and "ResourceNotFoundException" in fin.error and "fin" in fin.error
    assert client.calls == 2  # one call that wrote the rides, one refused: then it stopped


def test_help_names_the_rule_and_the_refused_combination():
    text = " ".join(produce.build_parser().format_help().split())
    assert "--finished-stream STREAM" in text and "--time-scale SECONDS" in text
    assert "a 10-minute ride finishes 1 s after it started" in text
    assert "not with --generate" in text
