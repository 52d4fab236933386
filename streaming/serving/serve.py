"""``streaming serve``: the model as a web service, on gunicorn (a production server).

    streaming serve --port 9696
    curl -s localhost:9696/predict \\
        -d '{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}'

``POST /predict`` takes one ride: the course web service's body
(``{"PULocationID", "DOLocationID", "trip_distance"}``) or the stream's event
(``{"ride": {...}, "ride_id": ...}``), with an optional ``pickup_datetime``
(else the ride starts now). It answers ``{"duration": minutes,
"model_version": ...}`` (plus ``ride_id`` when sent). The body is read as the
stream reads a record - UTF-8 JSON only, by ``consumer.decode.decode_payload`` - and
validated by the handler's own code, so bad input gets a 400 with the same
reason code and wording as the dead-letter stream, and the web service and the
stream agree to the last bit. ``GET /health`` and ``GET /openapi.json``
describe the service.

The app is ASGI, served by gunicorn's asyncio worker: a client that sends its
body slowly (or never) holds a socket, not a thread, so it cannot starve
``/health``; the whole body must arrive within ``--body-timeout`` seconds
(408) and fit in 64 KiB (413), with or without ``Content-Length``. A request
that makes the server fail (a bug, never bad input) gets a 500 and one JSON
error line in the log; the worker keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from streaming.commandline.parser import CommandParser, port_number, positive_int, seconds_up_to
from streaming.consumer.decode import decode_payload
from streaming.consumer.features import feature_matrix
from streaming.consumer.observability import logger
from streaming.consumer.records import InvalidEvent, Reason, RecordRef, Rejection, Ride
from streaming.consumer.validate import as_ride_event, validate_event
from streaming.model import LoadedModel
from streaming.serving.errors import ServeError, report
from streaming.serving.openapi import build_openapi
from streaming.serving.server import GUNICORN_TIMEOUT, check_listen, gunicorn_options, run_gunicorn

MAX_BODY_BYTES = 64 * 1024
#: The whole body must arrive within this many seconds of the request's headers: a
#: 64 KiB body needs ~105 kbit/s, a usual one (~100 bytes) comes with the headers.
BODY_TIMEOUT_SECONDS = 5.0


#: Generated at import from the JSON Schemas (streaming/serving/openapi.py).
OPENAPI: dict[str, Any] = build_openapi(
    max_body_bytes=MAX_BODY_BYTES, body_timeout=BODY_TIMEOUT_SECONDS
)

Headers = list[tuple[bytes, bytes]]
#: status, body, extra headers
Reply = tuple[int, bytes, Headers]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: After an answer given before the whole body was read: the rest of the body
#: would be taken for the next request, so the connection ends here.
_CLOSE: Headers = [(b"connection", b"close")]


class PredictionApp:
    """The ASGI application: a few routes, no framework.

    ``respond`` and ``predict`` are the synchronous core (no I/O); ``__call__``
    adds the HTTP part: reading the body within its bounds, and the answer.
    """

    def __init__(
        self,
        model: LoadedModel,
        version: str | None = None,
        *,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.model = model
        self.version = version or model.version
        self.body_timeout = body_timeout
        self._openapi = json.dumps(OPENAPI).encode()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await _not_http(scope, receive, send)
            return
        try:
            status, body, headers = await self._respond(scope, receive)
        except Exception as exc:  # a bug here: one request fails, the worker serves on
            logger.exception(
                "streaming serve: request failed",
                extra={"path": scope.get("path"), "error": type(exc).__name__},
            )
            status, body, headers = _error(
                500, "internal_error", "the server failed on this request (logged)", _CLOSE
            )
        start = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": start})
        head = scope.get("method") == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _respond(self, scope: dict[str, Any], receive: Receive) -> Reply:
        method, path = scope["method"], scope["path"]
        if path == "/predict" and method == "POST":
            body = await self._read_body(scope, receive)
            return body if isinstance(body, tuple) else self.predict(body)
        return self.respond(method, path)

    def respond(self, method: str, path: str) -> Reply:
        """Every route but a POST to /predict (which needs the body)."""
        if path == "/predict":
            return _error(405, "method_not_allowed", "use POST", [(b"allow", b"POST")])
        if path == "/health" and method in ("GET", "HEAD"):
            health = {"status": "ok", "model": self.model.name, "model_version": self.version}
            return _reply(200, health)
        if path == "/openapi.json" and method in ("GET", "HEAD"):
            return 200, self._openapi, []
        return _error(404, "not_found", path)

    async def _read_body(self, scope: dict[str, Any], receive: Receive) -> bytes | Reply:
        """The whole body (Content-Length or chunked), or the 408/413 that ends the request.

        Bounded in size and in time: a slow client costs a socket for at most
        ``body_timeout`` seconds, never a thread or a worker.
        """
        declared = _content_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            return _too_large()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        # http.disconnect: the client left, or gunicorn gave up waiting
                        return self._timed_out()
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        return _too_large()
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            return self._timed_out()

    def _timed_out(self) -> Reply:
        detail = f"the request body did not arrive within {self.body_timeout:g} s"
        return _error(408, "body_timeout", detail, _CLOSE)

    def predict(self, body: bytes, now: float | None = None) -> Reply:
        """A whole body -> 200 with the duration, 400 with the stream's reason, or 500.

        Only a bug gives a 500 (validation bounds every value, so the features and
        the model are total on what it lets through); the reason codes are the
        stream's, which dead-letters such a ride: ``prediction_failed`` and
        ``prediction_not_finite`` (NaN is not JSON: never answered).
        """
        try:
            item = self.parse(body, now)
        except Exception as exc:
            logger.exception(
                "streaming serve: validation failed", extra={"error": type(exc).__name__}
            )
            return _error(500, "internal_error", "the server failed on this request (logged)")
        if isinstance(item, Rejection):
            return _error(400, item.reason.value, item.detail)
        try:
            minutes = float(self.model.predictor.predict(feature_matrix([item]))[0])
        except Exception as exc:
            detail = f"the model raised {type(exc).__name__} for this ride: {exc}"[:500]
            logger.exception("streaming serve: prediction failed", extra={"detail": detail})
            return _error(500, Reason.PREDICTION_FAILED.value, detail)
        if not math.isfinite(minutes):
            detail = f"the model answered {minutes} for this ride; only finite minutes are sent"
            logger.error("streaming serve: prediction not finite", extra={"detail": detail})
            return _error(500, Reason.PREDICTION_NOT_FINITE.value, detail)
        answer: dict[str, Any] = {"duration": minutes, "model_version": self.version}
        if item.ride_id != _NO_RIDE_ID:
            answer["ride_id"] = item.ride_id
        if item.pickup_datetime is None:  # the ride starts now: say so, as the stream does
            answer["pickup_time"] = {"source": "invocation", "epoch": item.ref.invocation_time}
        return _reply(200, answer)

    @staticmethod
    def parse(body: bytes, now: float | None = None) -> Ride | Rejection:
        """Either body shape -> a validated ride; the ride starts ``now`` unless it says when.

        The bytes are decoded exactly as the stream decodes a record (UTF-8 JSON:
        no UTF-16/32 detection, no NaN, the same depth limit), then the course
        shape is wrapped into the event shape as the decoded value - never
        re-encoded, which would change what is validated.
        """
        ref = RecordRef.standalone(0, invocation_time=time.time() if now is None else now)
        try:
            payload = decode_payload(body)
        except InvalidEvent as exc:  # invalid_utf8, invalid_json
            return Rejection(exc.reason, exc.detail, ref, None)
        return validate_event(as_ride_event(payload, _NO_RIDE_ID), ref)


#: stands in for the course body's missing ride_id (a valid partition key, never echoed)
_NO_RIDE_ID = "-"


def _reply(status: int, payload: dict[str, Any], headers: Headers | None = None) -> Reply:
    return status, json.dumps(payload, allow_nan=False).encode(), headers or []


def _error(status: int, error: str, detail: str, headers: Headers | None = None) -> Reply:
    return _reply(status, {"error": error, "detail": detail}, headers)


def _too_large() -> Reply:
    return _error(413, "body_too_large", f"at most {MAX_BODY_BYTES} bytes", _CLOSE)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # gunicorn refuses these before the app is called
    return None


async def _not_http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Lifespan events are acknowledged (for servers that send them); WebSockets refused."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})


def create_app(body_timeout: float = BODY_TIMEOUT_SECONDS) -> PredictionApp:
    """Load the model from the environment, as the Lambda function does."""
    from streaming.consumer.config import Settings
    from streaming.model import load_model

    settings = Settings.from_env()
    return PredictionApp(
        load_model(settings.model_location),
        settings.model_version_override,
        body_timeout=body_timeout,
    )


PROG = "streaming serve"

#: The --help text (plain text: argparse prints it as written).
DESCRIPTION = f"""\
The model as a web service, on gunicorn (a production server).

  streaming serve --port 9696
  curl -s localhost:9696/predict \\
      -d '{{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}'

POST /predict takes one ride: the course web service's body
{{"PULocationID", "DOLocationID", "trip_distance"}} or the stream's event
{{"ride": {{...}}, "ride_id": ...}}, with an optional pickup_datetime (else the ride
starts now, and the answer's pickup_time says so). It answers
{{"duration": minutes, "model_version": ...}} (plus ride_id when sent); bad input
gets a 400 with the stream's dead-letter reason code. GET /health and
GET /openapi.json describe the service. A body must fit in {MAX_BODY_BYTES // 1024} KiB and
arrive within --body-timeout seconds.

The model is loaded as the Lambda function loads it: MODEL_LOCATION, else the
shipped models/. A mistake (a bad option, a port in use, no model) is one line
on stderr and exit status 2, before anything starts.
"""


def parser() -> CommandParser:
    p = CommandParser(PROG, DESCRIPTION)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the interface to listen on: 127.0.0.1 this machine only, 0.0.0.0 every "
        "interface (in a container)",
    )
    p.add_argument("--port", type=port_number, default=9696, help="TCP port, 1-65535")
    p.add_argument(
        "--workers", type=positive_int, default=2, help="processes, each serving the model"
    )
    p.add_argument(
        "--body-timeout",
        type=seconds_up_to(GUNICORN_TIMEOUT),
        default=BODY_TIMEOUT_SECONDS,
        help="seconds for a whole request body to arrive, else 408 (at most "
        f"{GUNICORN_TIMEOUT}, gunicorn's worker timeout)",
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p


def main(argv: list[str] | None = None) -> int:
    """``streaming serve``: check the options and the port, load the model, run gunicorn."""
    from streaming.model import ModelLoadError

    args = parser().parse_args(argv)
    try:
        check_listen(args.host, args.port)  # before the model loads: fail fast
        app = create_app(args.body_timeout)  # before forking: workers share the loaded model
    except (ServeError, ModelLoadError) as exc:
        return report(PROG, exc, args.verbose)
    run_gunicorn(app, gunicorn_options(args.host, args.port, args.workers, args.access_log))
    return 0


if __name__ == "__main__":  # the web image runs `python -m streaming.serving.serve`
    raise SystemExit(main())
