"""``streaming serve`` against hostile bodies and clients.

Over real HTTP (gunicorn on loopback, as deployed) and in process (the ASGI app
driven directly: fast, for the bulk of the generated bodies). The promises:

* bad input is a 400 with the stream's reason code - the same bytes get the same
  answer (duration or reason) from the web service as from the stream;
* only a bug is a 500: logged as one JSON line, and the server keeps serving;
  a non-finite duration is never answered (NaN is not JSON);
* a body is read whole (Content-Length or chunked), at most 64 KiB, and within
  the body timeout; slow clients cost a socket each, never ``/health``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import socket
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from streaming.consumer import kpl
from streaming.consumer.config import Settings
from streaming.consumer.decode import decode_payload
from streaming.consumer.features import feature_matrix
from streaming.consumer.handler import RideDurationService
from streaming.consumer.observability import logger
from streaming.consumer.records import RecordRef
from streaming.consumer.validate import validate_event
from streaming.serving.serve import BODY_TIMEOUT_SECONDS, MAX_BODY_BYTES, OPENAPI, PredictionApp
from tests.conftest import decode_one, make_record
from tests.support.budget import examples
from tests.support.strategies import encode, json_values, payload_bytes, ride_payloads
from tests.support.web import (
    asgi_call,
    call,
    chunked,
    raw_request,
    read_response,
    server_log,
    start_server,
)

RIDE = {
    "PULocationID": 130,
    "DOLocationID": 205,
    "trip_distance": 3.66,
    "pickup_datetime": "2023-02-01T08:15:00",
}
#: The event time of in-process comparisons with the stream (its arrival time).
NOW = 1_676_000_000.0
#: What a request may be answered, whatever its body: never a 500.
BODY_STATUSES = {200, 400, 413}


@pytest.fixture(scope="module")
def served():
    """Its own server (module scope): the slow-client tests must not share it."""
    proc, port = start_server()
    yield proc, port
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def port(served):
    return served[1]


@pytest.fixture(scope="module")
def app(shipped_model):
    return PredictionApp(shipped_model)


@pytest.fixture(scope="module")
def stream(shipped_model):
    return RideDurationService(shipped_model, Settings(test_run=True))


def expected(shipped_model, ride) -> float:
    item = validate_event({"ride": ride, "ride_id": 1}, RecordRef.standalone(0))
    return float(shipped_model.predictor.predict(feature_matrix([item]))[0])


def assert_serving(port, shipped_model):
    """The server still answers /health, and a good ride exactly."""
    assert call("GET", "/health", port=port)[0] == 200
    status, answer = call("POST", "/predict", RIDE, port=port)
    assert status == 200 and answer["duration"] == expected(shipped_model, RIDE)


def post(body: bytes, headers: str = "") -> bytes:
    """A raw POST /predict with a Content-Length."""
    return (
        f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def post_chunked(body: bytes, size: int = 7) -> bytes:
    head = b"POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + chunked(body, size)


# -- 1. a body that breaks the parser is a 400, not a 500 -------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 60_000,  # RecursionError in json.loads before
        b'{"a":' * 13_000,
        b"[" * 30_000 + b"]" * 30_000,  # balanced, still too deep
        b'{"ride": ' * 7_000,
    ],
    ids=["open-arrays", "open-objects", "balanced-arrays", "nested-rides"],
)
def test_json_nested_too_deep_is_invalid_json_and_the_server_serves_on(port, shipped_model, body):
    status, answer = call("POST", "/predict", raw=body, port=port)
    assert status == 400 and answer["error"] == "invalid_json", answer
    assert_serving(port, shipped_model)


# -- 4. the bytes are read as the stream reads them: UTF-8 only -------------------------


@pytest.mark.parametrize(
    "encoding,reason",
    [
        ("utf-16", "invalid_utf8"),  # with a BOM: json.loads(bytes) used to accept it
        ("utf-32", "invalid_utf8"),
        ("utf-16-le", "invalid_json"),  # ASCII JSON without a BOM: valid UTF-8 with NULs
        ("utf-16-be", "invalid_json"),
        ("utf-8-sig", "invalid_json"),  # the BOM is U+FEFF, not JSON whitespace
    ],
)
def test_only_utf8_is_json_as_in_the_stream(port, encoding, reason):
    event = {"ride": RIDE, "ride_id": 7}
    for payload in (RIDE, event):
        status, answer = call(
            "POST", "/predict", raw=json.dumps(payload).encode(encoding), port=port
        )
        assert status == 400 and answer["error"] == reason, (payload, answer)
    # the stream, on the same bytes of the event, gives the same reason and wording
    data = json.dumps(event).encode(encoding)
    rejection = decode_one(make_record(data, raw=True))
    status, answer = call("POST", "/predict", raw=data, port=port)
    assert (answer["error"], answer["detail"]) == (rejection.reason.value, rejection.detail)


def test_numbers_are_validated_as_written_not_as_re_encoded(app):
    """The course body is wrapped as decoded: 1e400 stays an overflowing distance (a
    re-encoded body would have said Infinity: invalid_json) and 3 stays an int."""
    body = b'{"PULocationID": 1, "DOLocationID": 2, "trip_distance": 1e400}'
    status, _, answer = asgi_call(app, "POST", "/predict", body)
    assert status == 400 and answer["error"] == "invalid_trip_distance"
    body = b'{"PULocationID": 1, "DOLocationID": 2, "trip_distance": 3}'
    assert asgi_call(app, "POST", "/predict", body)[0] == 200


# -- 5. values the features cannot take are 400s (events bounds them) -------------------


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("PULocationID", 10**400, "invalid_location_id"),
        ("DOLocationID", -(10**400), "invalid_location_id"),
        ("PULocationID", 2**31, "invalid_location_id"),
        ("DOLocationID", 0, "invalid_location_id"),
        ("PULocationID", -5, "invalid_location_id"),
        ("pickup_datetime", "0001-01-01T00:00:00+00:00", "invalid_pickup_datetime"),
        ("pickup_datetime", "0001-01-01T00:00:00+14:00", "invalid_pickup_datetime"),
        ("pickup_datetime", "9999-12-31T23:59:59-01:00", "invalid_pickup_datetime"),
        ("pickup_datetime", "9999-12-31T20:00:00-05:00", "invalid_pickup_datetime"),
        ("pickup_datetime", "0001-01-01", "invalid_pickup_datetime"),
    ],
)
def test_out_of_range_values_are_400_with_the_reason(port, shipped_model, field, value, reason):
    for body in ({**RIDE, field: value}, {"ride": {**RIDE, field: value}, "ride_id": 3}):
        status, answer = call("POST", "/predict", body, port=port)
        assert status == 400 and answer["error"] == reason, (body, answer)
    assert_serving(port, shipped_model)


# -- 2. bodies are read whole, with or without Content-Length, at most 64 KiB -----------


def test_a_chunked_body_is_read_whole(port, shipped_model):
    data = json.dumps({"ride": RIDE, "ride_id": "c-1"}).encode()
    status, _, answer = raw_request(port, post_chunked(data))
    assert status == 200 and answer["ride_id"] == "c-1"
    assert answer["duration"] == expected(shipped_model, RIDE)
    # http.client's own chunked encoding (no Content-Length), one piece per key
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    pieces = [json.dumps(RIDE)[i : i + 9].encode() for i in range(0, len(json.dumps(RIDE)), 9)]
    conn.request("POST", "/predict", body=iter(pieces), encode_chunked=True)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    assert response.status == 200 and answer["duration"] == expected(shipped_model, RIDE)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_64_kib_is_read_and_one_byte_more_is_413(port, shipped_model, framing):
    ride = json.dumps(RIDE).encode()
    frame = post if framing == "length" else post_chunked
    fits = ride + b" " * (MAX_BODY_BYTES - len(ride))
    status, _, answer = raw_request(port, frame(fits) if framing == "length" else frame(fits, 4096))
    assert status == 200 and answer["duration"] == expected(shipped_model, RIDE)
    over = fits + b" "
    status, headers, answer = raw_request(
        port, frame(over) if framing == "length" else frame(over, 4096)
    )
    assert status == 413 and answer["error"] == "body_too_large"
    assert headers["connection"] == "close"
    assert_serving(port, shipped_model)


def test_a_huge_chunked_body_is_cut_at_64_kib(port, shipped_model):
    """The client keeps sending; the server stops reading at 64 KiB + 1 and answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
        try:
            for _ in range(64):  # 1 MiB, if the server read it all
                s.sendall(block)
        except OSError:
            pass  # the server answered and closed: what we want
        status, _, answer = read_response(s)
    assert status == 413 and answer["error"] == "body_too_large"
    assert_serving(port, shipped_model)


def test_a_declared_body_over_64_kib_is_refused_before_it_is_sent(port):
    """``Expect: 100-continue`` with a Content-Length over the limit: 413 at once, no
    100 Continue, and nothing read."""
    head = (
        b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    started = time.monotonic()
    status, headers, answer = raw_request(port, head, timeout=5)
    assert status == 413 and answer["error"] == "body_too_large"
    assert headers["connection"] == "close" and time.monotonic() - started < 2


def test_a_request_with_neither_length_nor_chunks_has_an_empty_body(port):
    """RFC 9112 section 6.3: such a request has no body; an empty body is not JSON."""
    status, _, answer = raw_request(port, b"POST /predict HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 400 and answer["error"] == "invalid_json"


# -- 3. slow clients cost a socket each, never /health ----------------------------------

SLOW_CLIENTS = 64  # far more than any thread pool would have had (2 workers x 4 threads)


def _slow_client(port: int, kind: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_SECONDS + 5)
    if kind == "length":  # headers and one byte of the body, then silence
        s.sendall(post(b" " * 60)[:-60] + b"{")
    elif kind == "chunked":
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{")
    else:  # headers that never end
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\n")
    return s


def test_slow_clients_do_not_starve_health_and_get_408(port, shipped_model):
    kinds = ["length", "chunked"]
    slow = [(_slow_client(port, kinds[i % 2]), time.monotonic()) for i in range(SLOW_CLIENTS)]
    endless_headers = [_slow_client(port, "headers") for _ in range(8)]
    try:
        time.sleep(0.3)  # every slow request is now waiting for its body
        waits = []
        for _ in range(5):
            started = time.monotonic()
            assert call("GET", "/health", port=port)[0] == 200
            waits.append(time.monotonic() - started)
        assert max(waits) < 2.0, waits
        assert_serving(port, shipped_model)
        for s, opened in slow:
            status, headers, answer = read_response(s)
            assert status == 408 and answer["error"] == "body_timeout"
            assert headers["connection"] == "close"
            assert s.recv(1) == b""  # and the connection is closed
            assert time.monotonic() - opened < BODY_TIMEOUT_SECONDS + 3
    finally:
        for s, _ in slow:
            s.close()
        for s in endless_headers:
            s.close()
    assert_serving(port, shipped_model)


def test_a_trickling_body_is_cut_at_the_deadline_not_per_read(port):
    """One byte every 0.4 s never lets a read time out; the whole body still must
    arrive within the body timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=0.4)
    opened = time.monotonic()
    s.sendall(post(b" " * 1000)[:-1000])
    with s:
        while time.monotonic() - opened < BODY_TIMEOUT_SECONDS + 3:
            try:
                data = s.recv(1, socket.MSG_PEEK)
            except TimeoutError:
                s.sendall(b" ")
                continue
            assert data
            break
        s.settimeout(5)
        status, _, answer = read_response(s)
    assert status == 408 and answer["error"] == "body_timeout"
    assert time.monotonic() - opened < BODY_TIMEOUT_SECONDS + 2


# -- 1. only a bug is a 500: logged, never a non-finite duration, the server serves on ---


class _Predictor:
    def __init__(self, answers):
        self.answers = list(answers)

    def predict(self, x):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return np.full(len(x), answer)


def _logged_errors(caplog) -> list[dict[str, Any]]:
    """The ERROR records, each as the JSON line the service's logger writes to stdout."""
    return [
        json.loads(logger.registered_formatter.format(r))
        for r in caplog.records
        if r.levelname == "ERROR"
    ]


def test_a_model_that_raises_is_a_logged_500_and_the_next_ride_is_answered(shipped_model, caplog):
    model = replace(shipped_model, predictor=_Predictor([OverflowError("boom"), 12.5]))
    app = PredictionApp(model)
    body = json.dumps(RIDE).encode()
    status, _, answer = asgi_call(app, "POST", "/predict", body)
    assert status == 500 and answer["error"] == "prediction_failed"
    assert "OverflowError" in answer["detail"]
    [line] = _logged_errors(caplog)
    assert line["level"] == "ERROR" and "OverflowError" in line["exception"]
    assert asgi_call(app, "POST", "/predict", body)[2]["duration"] == 12.5


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_duration_is_never_answered(shipped_model, caplog, value):
    app = PredictionApp(replace(shipped_model, predictor=_Predictor([value])))
    status, _, answer = asgi_call(app, "POST", "/predict", json.dumps(RIDE).encode())
    assert status == 500 and answer["error"] == "prediction_not_finite"
    assert _logged_errors(caplog)[0]["level"] == "ERROR"


def test_a_server_bug_is_a_500_internal_error_that_closes_the_connection(app, caplog):
    async def receive():
        raise RuntimeError("a bug while reading")

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 500
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"] == "internal_error"
    assert "RuntimeError" in _logged_errors(caplog)[0]["exception"]


def test_a_validation_bug_is_a_500_internal_error(app, monkeypatch, caplog):
    def broken(body, now=None):
        raise KeyError("a bug in validation")

    monkeypatch.setattr(app, "parse", broken)
    status, _, answer = asgi_call(app, "POST", "/predict", b"{}")
    assert status == 500 and answer["error"] == "internal_error"
    assert "KeyError" in _logged_errors(caplog)[0]["exception"]


def test_the_openapi_document_lists_every_status_the_app_answers():
    responses = OPENAPI["paths"]["/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "405", "408", "413", "500"}


# -- 6. properties: any body, any framing ------------------------------------------------


def _course(event: Any, keep_id: bool) -> Any:
    """The course's shape of a generated event: the ride's fields at the top level."""
    if not isinstance(event, dict) or not isinstance(event.get("ride"), dict):
        return event
    ride = dict(event["ride"])
    if keep_id and "ride_id" in event:
        ride["ride_id"] = event["ride_id"]
    return ride


#: Bodies of every kind: event-shaped and course-shaped rides with odd fields, any
#: JSON value, any bytes, and the sizes and depths at the limits.
bodies = st.one_of(
    payload_bytes,
    st.builds(_course, ride_payloads(), st.booleans()).map(encode),
    json_values.map(encode),
    st.binary(max_size=300),
    st.integers(1, 70_000).map(lambda n: b"[" * n),
    st.integers(MAX_BODY_BYTES - 200, MAX_BODY_BYTES + 200).map(
        lambda n: json.dumps(RIDE).encode().ljust(n)
    ),
)


def _check_answer(status: int, answer: Any) -> None:
    assert status in BODY_STATUSES, answer
    if status == 200:
        assert type(answer["duration"]) is float and math.isfinite(answer["duration"])
    else:
        assert isinstance(answer["error"], str) and isinstance(answer["detail"], str)


@examples(300)
@given(body=bodies, pieces=st.integers(1, 4))
def test_any_body_in_any_pieces_gets_a_json_answer_in_process(app, body, pieces):
    status, headers, answer = asgi_call(app, "POST", "/predict", body, pieces=pieces)
    _check_answer(status, answer)
    assert headers["content-type"] == "application/json"


@examples(40)
@given(body=bodies, framing=st.sampled_from(["length", "chunked"]))
def test_any_body_over_http_gets_a_json_answer_and_health_answers(port, body, framing):
    request = post(body) if framing == "length" else post_chunked(body, 1000)
    status, _, answer = raw_request(port, request)
    _check_answer(status, answer)
    assert call("GET", "/health", port=port)[0] == 200


def _stream_answer(stream, data: bytes):
    """The handler's answer to these bytes as one Kinesis record arriving at NOW."""
    result = stream.process({"Records": [make_record(data, raw=True, arrival=NOW)]})
    if result.predictions:
        return 200, result.predictions[0]["prediction"]["ride_duration"], None
    [rejection] = result.rejections
    return 400, rejection.reason.value, rejection.detail


def _serve_answer(app, body: bytes):
    status, data, _ = app.predict(body, NOW)
    answer = json.loads(data)
    if status == 200:
        return 200, answer["duration"], None
    return status, answer["error"], answer["detail"]


def _is_course_shaped(body: bytes) -> bool:
    try:
        value = decode_payload(body)
    except Exception:
        return False
    return type(value) is dict and "ride" not in value


@examples(150)
@given(data=payload_bytes.filter(lambda b: not b.startswith(kpl.MAGIC)))
def test_the_same_bytes_get_the_streams_answer(app, stream, data):
    """An event body: the duration bit for bit, or the same reason and wording."""
    assume(not _is_course_shaped(data))
    assert _serve_answer(app, data) == _stream_answer(stream, data)


@examples(100)
@given(event=ride_payloads(), keep_id=st.booleans())
def test_a_course_body_gets_the_streams_answer_to_its_event(app, stream, event, keep_id):
    """A course body (the ride's fields at the top level) gets what the stream answers
    to the same ride inside an event (ride_id "-" when the body has none)."""
    ride = _course(event, keep_id)
    assume(type(ride) is dict and "ride" not in ride)
    ride_id = encode(ride["ride_id"]) if "ride_id" in ride else b'"-"'
    wrapped = b'{"ride": ' + encode(ride) + b', "ride_id": ' + ride_id + b"}"
    served, streamed = _serve_answer(app, encode(ride)), _stream_answer(stream, wrapped)
    if served[1] == "invalid_json":  # NaN/Infinity written: the positions differ
        assert streamed[1] == "invalid_json"
    else:
        assert served == streamed


def test_after_all_of_it_no_worker_died_or_failed(served, shipped_model):
    """Every test above used this server: its two workers are the ones that booted,
    and nothing raised (a 500 would have logged a traceback)."""
    proc, port = served
    assert_serving(port, shipped_model)
    log = server_log(proc)
    assert log.count("Booting worker") == 2, log
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, log
