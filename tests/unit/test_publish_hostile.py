"""The publisher against hostile answers and hostile senders.

Two levels. A real boto3 client talks to a tiny local HTTP server that answers
PutRecords with whatever a broken or hostile endpoint might send (never a mock
of boto3: botocore's own parser is part of what is tested). Then a property
test drives ``publish`` with arbitrary sender behaviour on a fake clock and
checks that every entry is accounted for exactly once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.consumer.bounded_call import CallTimedOut
from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.consumer.kinesis_limits import MAX_BYTES_PER_RECORD
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.lambda_context import LocalContext
from streaming.consumer.publish import Entry, RetryPolicy, SendError, one_at_a_time, publish
from tests.conftest import COURSE_RIDE, make_record
from tests.support.budget import examples

JSON = "application/x-amz-json-1.1"


def written(count: int) -> bytes:
    """What Kinesis (and moto) answer when every record was written."""
    return json.dumps(
        {
            "FailedRecordCount": 0,
            "Records": [
                {"SequenceNumber": f"{i:056d}", "ShardId": "shardId-000000000000"}
                for i in range(count)
            ],
        }
    ).encode()


@dataclass
class Reply:
    """One scripted answer: ``body`` (bytes, or made from the request's record count)."""

    body: bytes | Callable[[int], bytes] = written
    status: int = 200
    #: send the body a byte at a time, this many seconds apart (a trickling server)
    trickle_s: float = 0.0


@dataclass
class HostileKinesis:
    """A loopback HTTP server answering PutRecords from a script (then: all written)."""

    replies: deque[Reply] = field(default_factory=deque)
    #: record count of each PutRecords request received
    requests: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                count = len(json.loads(body)["Records"])
                fake.requests.append(count)
                reply = fake.replies.popleft() if fake.replies else Reply()
                data = reply.body(count) if callable(reply.body) else reply.body
                self.send_response(reply.status)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not reply.trickle_s:
                    self.wfile.write(data)
                    return
                self.close_connection = True
                stop = fake.stop  # this test's: set at its teardown
                for i in range(len(data)):
                    if stop.wait(reply.trickle_s):
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()

        return Handler


@pytest.fixture(scope="module")
def hostile_kinesis() -> Iterator[HostileKinesis]:
    fake = HostileKinesis()
    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    fake.server.daemon_threads = True
    thread = threading.Thread(
        target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield fake
    fake.stop.set()
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def endpoint(hostile_kinesis: HostileKinesis) -> Iterator[HostileKinesis]:
    """The module's server with an empty script; a trickling answer stops at teardown."""
    hostile_kinesis.replies.clear()
    hostile_kinesis.requests.clear()
    hostile_kinesis.stop = threading.Event()
    yield hostile_kinesis
    hostile_kinesis.stop.set()


@functools.cache
def client_for(url: str, *, read_timeout: float = 5.0, hot_path: bool = False):
    """A real boto3 Kinesis client (dummy credentials), retries off as in the handler;
    ``hot_path``: the handler's own (no parameter validation, the one-pass PutRecords
    body and records of ``put_records_wire``)."""
    if hot_path:
        from streaming.consumer.kinesis_client import make_kinesis_client

        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        return make_kinesis_client(url, session=session)
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=read_timeout,
        ),
    )


def items(n: int) -> list[Entry]:
    return [Entry(b'{"x":1}', f"k{i}", i) for i in range(n)]


def no_sleep(_s: float) -> None:
    pass


# -- malformed answers become a retryable SendError ---------------------------------------

MALFORMED_OK_BODIES = [
    b"",
    b"not json",
    b"\xff\xfe",
    b"null",
    b"[]",
    b"5",
    b'"Records"',
    b"[1, 2]",
    b"{}",
    b'{"FailedRecordCount": 0}',
    b'{"Records": null}',
    b'{"Records": 5}',
    b'{"Records": true}',
    b'{"Records": 1e400}',
    b'{"Records": "ab"}',
    b'{"Records": {"a": 1}}',
    b'{"Records": [null, null]}',
    b'{"Records": [5, "x"]}',
    b'{"Records": [[1], {}]}',
    b'{"Records": [{"SequenceNumber": 5}, {"SequenceNumber": "1"}]}',
    b'{"Records": [{"ErrorCode": 5}, {"SequenceNumber": "1"}]}',
    b'{"Records": [{"SequenceNumber": {"a": 1}}, {"ErrorCode": {}}]}',
    b'{"Records": [{"SequenceNumber": "1"}]}',  # one result for two records
    b'{"Records": [{"SequenceNumber": "1"}, {"SequenceNumber": "2"}, {}]}',
    b"[" * 100_000,
    b'{"Records": ' + b"[" * 100_000,
]


@pytest.mark.parametrize("hot_path", [False, True], ids=["boto3", "hot-path"])
@pytest.mark.parametrize("body", MALFORMED_OK_BODIES, ids=lambda b: repr(b[:40]))
def test_a_malformed_answer_is_a_retryable_send_error(endpoint, body, hot_path):
    endpoint.replies.append(Reply(body))
    send = kinesis_sender(client_for(endpoint.url, hot_path=hot_path))
    with pytest.raises(SendError) as info:
        send("s", items(2))
    assert info.value.code == "MalformedResponse" and info.value.retryable


@pytest.mark.parametrize("status", [400, 403, 500, 503])
@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b"\xff", b'{"__type": 5, "message": []}', b'{"__type": {"a": 1}}'],
    ids=repr,
)
@pytest.mark.parametrize("hot_path", [False, True], ids=["boto3", "hot-path"])
def test_a_malformed_error_answer_is_a_send_error(endpoint, status, body, hot_path):
    endpoint.replies.append(Reply(body, status=status))
    send = kinesis_sender(client_for(endpoint.url, hot_path=hot_path))
    with pytest.raises(SendError) as info:
        send("s", items(2))
    assert info.value.retryable or status < 500


def test_publish_retries_past_malformed_answers(endpoint):
    endpoint.replies.extend([Reply(b"null"), Reply(b'{"Records": [null, null, null]}')])
    out = publish(kinesis_sender(client_for(endpoint.url)), "s", items(3), sleep=no_sleep)
    assert out.published == 3 and out.failed == [] and out.calls == 3
    assert out.errors["MalformedResponse"] == 2 and endpoint.requests == [3, 3, 3]


# -- an entry is written only with a SequenceNumber ---------------------------------------


@pytest.mark.parametrize("hot_path", [False, True], ids=["boto3", "hot-path"])
def test_results_without_a_sequence_number_are_retried_not_counted(endpoint, hot_path):
    first = {
        "FailedRecordCount": 2,
        "Records": [{}, {"ErrorCode": None}, {"SequenceNumber": "7", "ShardId": "s-0"}],
    }
    endpoint.replies.append(Reply(json.dumps(first).encode()))
    client = client_for(endpoint.url, hot_path=hot_path)
    out = publish(kinesis_sender(client), "s", items(3), sleep=no_sleep)
    assert endpoint.requests == [3, 2]  # only the two unconfirmed entries went again
    assert out.published == 3 and out.failed == [] and out.retried_entries == 2
    assert out.errors["MissingSequenceNumber"] == 2


# -- the deadline bounds a call that botocore's timeouts do not ---------------------------


def test_read_timeout_bounds_each_read_not_the_call(endpoint):
    """Why ``bounded_call`` exists: a trickling answer outlives botocore's read_timeout."""
    # 20 bytes, one each 0.15 s: 3 s in all, each gap far under the 1 s read timeout
    # (a loaded CI machine stretched 0.15 s gaps past an earlier 0.5 s timeout)
    endpoint.replies.append(Reply(b"{}" + b" " * 18, trickle_s=0.15))
    client = client_for(endpoint.url, read_timeout=1.0)
    started = time.monotonic()
    client.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}])
    assert time.monotonic() - started > 2.0  # > 2x read_timeout, and no timeout raised


def test_a_trickling_answer_is_abandoned_at_the_deadline(endpoint):
    endpoint.replies.append(Reply(written, trickle_s=0.2))  # would take minutes
    send = kinesis_sender(client_for(endpoint.url, read_timeout=1.0))
    policy = RetryPolicy(min_time_for_attempt_s=0.1)
    started = time.monotonic()
    deadline = started + 1.0
    out = publish(send, "s", items(3), policy=policy, time_left=lambda: deadline - time.monotonic())
    assert time.monotonic() - started < 1.5
    assert out.failed == [0, 1, 2] and out.errors["CallTimedOut"] == 1
    assert out.gave_up_reason == "invocation deadline"


def test_an_invocation_against_a_stalled_endpoint_ends_before_its_deadline(endpoint, shipped_model):
    """The issue's case: the client's 2 s + 5 s timeouts outlived a 2 s reserve."""
    endpoint.replies.append(Reply(written, trickle_s=0.5))
    settings = Settings(predictions_stream="preds", dead_letter_stream="dlq")  # reserve: 2 s
    svc = RideDurationService(
        shipped_model, settings, sender=kinesis_sender(client_for(endpoint.url))
    )
    records = [make_record(COURSE_RIDE | {"ride_id": i}, seq=i + 1) for i in range(3)]
    started = time.monotonic()
    response = svc.handle({"Records": records}, LocalContext(timeout_s=3.0))
    assert time.monotonic() - started < 2.0  # at the reserve, well before the timeout
    assert len(response["batchItemFailures"]) == 3  # unknown outcome: Lambda retries them


# -- property: whatever a sender does, every entry is accounted for once ---------------------

CODES = [
    None,
    None,
    None,
    "ProvisionedThroughputExceededException",
    "InternalFailure",
    "MissingSequenceNumber",
    "KMSAccessDeniedException",
    "",
]
BIG = b"x" * 900_000  # shared: six make more than one 5 MiB chunk
TOO_BIG = b"x" * MAX_BYTES_PER_RECORD
KEYS = ["k", "key-1", "\u00e9t\u00e9", "", "k" * 257, "\ud800", "\U0001f600" * 129]

behaviours = st.one_of(
    st.tuples(st.just("codes"), st.lists(st.sampled_from(CODES), min_size=1, max_size=5)),
    st.tuples(st.just("send_error"), st.booleans()),
    st.tuples(
        st.just("raise"), st.sampled_from([RuntimeError, KeyError, TypeError, ZeroDivisionError])
    ),
    st.tuples(st.just("wrong_length"), st.sampled_from([-2, -1, 1, 3])),
    st.tuples(st.just("not_codes"), st.sampled_from([None, 5, "x", {0: None}, [b"code"]])),
)


@dataclass
class FakeWorld:
    """A fake clock, a scripted sender and a time bound that both read the clock."""

    script: list[tuple]
    costs: list[float]
    budget: float
    now: float = 0.0
    calls: int = 0
    #: refs the sender answered ``None`` (written) for, per call
    answered_written: dict[int, list[int]] = field(default_factory=dict)
    abandoned: set[int] = field(default_factory=set)
    time_left_at_start: list[float] = field(default_factory=list)

    def time_left(self) -> float:
        return self.budget - self.now

    def sleep(self, s: float) -> None:
        assert s >= 0
        self.now += s

    def call(self, fn, timeout_s):
        """``bounded_call`` on the fake clock: a call costing more than its bound is abandoned."""
        if not timeout_s > 0:
            raise CallTimedOut("no time")
        cost = self.costs[self.calls % len(self.costs)] if self.costs else 0.0
        if cost > timeout_s:  # it still runs (and may write); its answer is never seen
            self.abandoned.add(self.calls)
            with contextlib.suppress(Exception):
                fn()
            self.now += timeout_s
            raise CallTimedOut("fake")
        try:
            return fn()
        finally:
            self.now += cost

    def send(self, stream: str, batch: list[Entry]):
        index = self.calls
        self.calls += 1
        self.time_left_at_start.append(self.time_left())
        kind, arg = self.script[index] if index < len(self.script) else ("codes", [None])
        if kind == "send_error":
            raise SendError("Injected", "scripted", retryable=arg)
        if kind == "raise":
            raise arg("scripted")
        if kind == "wrong_length":
            return [None] * max(0, len(batch) + arg)
        if kind == "not_codes":
            return arg
        codes = [arg[i % len(arg)] for i in range(len(batch))]
        self.answered_written[index] = [
            e.ref for e, c in zip(batch, codes, strict=True) if c is None
        ]
        return codes


def any_order(rng):
    """A ChunkRunner whose calls complete in a random order (results in item order)."""

    def run_all(fn, items):
        items = list(items)  # the first attempt's chunks come from a generator
        results = [None] * len(items)
        for i in rng.sample(range(len(items)), len(items)):
            results[i] = fn(items[i])
        return results

    return run_all


@pytest.mark.slow  # 200 generated sender scripts: seconds
@settings(examples(200), deadline=None)
@given(
    specs=st.lists(
        st.tuples(st.sampled_from([b"{}", b"x" * 100, BIG, TOO_BIG]), st.sampled_from(KEYS)),
        max_size=14,
    ),
    many=st.integers(0, 1100),
    script=st.lists(behaviours, max_size=12),
    costs=st.lists(st.floats(0.0, 3.0), max_size=4),
    budget=st.one_of(st.floats(0.0, 20.0), st.just(float("inf"))),
    max_attempts=st.integers(1, 6),
    jitter=st.floats(0.0, 1.0),
    order=st.one_of(st.none(), st.randoms(use_true_random=False)),
)
def test_every_entry_is_published_or_failed_exactly_once(
    specs, many, script, costs, budget, max_attempts, jitter, order
):
    """``order``: None sends an attempt's chunks one after another
    (PUBLISH_CONCURRENCY=1); a Random finishes them in any order, as calls in
    flight at once do (PUBLISH_CONCURRENCY > 1)."""
    entries = [Entry(d, k, i) for i, (d, k) in enumerate(specs)]
    entries += [Entry(b"{}", "k", len(specs) + i) for i in range(many)]  # past 500: chunks
    world = FakeWorld(script, costs, budget)
    policy = RetryPolicy(max_attempts=max_attempts, base_delay_s=0.1, max_delay_s=2.0)
    out = publish(
        world.send,
        "s",
        entries,
        policy=policy,
        time_left=world.time_left,
        sleep=world.sleep,
        rng=lambda: jitter,
        call=world.call,
        run_all=one_at_a_time if order is None else any_order(order),
    )
    published = [
        ref
        for index, refs in world.answered_written.items()
        if index not in world.abandoned
        for ref in refs
    ]
    assert out.published + len(out.failed) == len(entries)
    assert len(set(out.failed)) == len(out.failed)
    assert len(published) == out.published == len(set(published))  # never written twice
    assert not set(published) & set(out.failed)
    assert out.calls == world.calls
    # no call started without the policy's time, and none ran past the deadline
    assert all(left >= policy.min_time_for_attempt_s for left in world.time_left_at_start)
    assert world.now <= budget + 1e-9
