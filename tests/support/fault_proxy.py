"""A fault-injecting HTTP proxy in front of a Kinesis emulator (loopback only).

Kinesis speaks JSON over HTTP (``X-Amz-Target: Kinesis_20131202.<Op>``), so a
proxy can fail PutRecords the way Kinesis does without touching the client:

* ``throttle_share``: that share of PutRecords entries is answered with
  ``ProvisionedThroughputExceededException`` and *not written* (they are
  removed from the forwarded request, as a throttled entry is not stored);
  with ``throttle_streams``, only entries sent to those streams;
* ``error_500_share``: that share of PutRecords calls gets HTTP 500
  ``InternalFailure`` and nothing is written; ``error_500_next``: that many of
  the next calls (after any stall) get it for certain, so a test whose call
  count depends on timing still sees one;
* ``stall_next``: that many of the next PutRecords calls are forwarded (and
  written) but answered only after ``stall_s`` - past the client's read
  timeout, so the client cannot know they were written;
* ``refuse``: every connection is closed at once (an outage);
* ``expire_get_records``: that many of the next GetRecords calls are answered
  ``ExpiredIteratorException`` (an iterator older than five minutes).

Everything else is forwarded untouched. Counters tell the tests what was done.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

THROTTLED = {
    "ErrorCode": "ProvisionedThroughputExceededException",
    "ErrorMessage": "Rate exceeded for shard (injected by fault proxy)",
}
JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.1"}
#: headers of the upstream answer that this server sets itself
NOT_RELAYED = ("content-length", "transfer-encoding", "connection", "date", "server")


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.throttle_share = 0.0
        #: streams whose entries may be throttled (``None``: every stream)
        self.throttle_streams: set[str] | None = None
        self.error_500_share = 0.0
        self.error_500_next = 0
        self.refuse = False
        self.expire_get_records = 0
        self.stall_next = 0
        self.stall_s = 7.0
        self.calls_stalled = 0
        self.get_records_calls = 0
        self.iterators_expired = 0
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.put_calls = 0
        self.entries_seen = 0
        self.entries_throttled = 0
        self.calls_failed_500 = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        """``_FaultHandler`` bound to this proxy.

        The server makes a handler object per request from a class, so the proxy
        travels as a class attribute of a subclass of its own."""
        return type("Handler", (_FaultHandler,), {"proxy": self})

    def _expire_this_get_records(self) -> bool:
        """Count a GetRecords call; True if it is one of ``expire_get_records``."""
        with self.lock:
            self.get_records_calls += 1
            expire = self.expire_get_records > 0
            if expire:
                self.expire_get_records -= 1
                self.iterators_expired += 1
        return expire

    def _draw_put_faults(
        self, entries: int, stream: str | None = None
    ) -> tuple[bool, bool, list[bool]]:
        """Count a PutRecords call of ``entries`` entries and draw its fault:
        (stall, HTTP 500, throttled per entry).

        One lock hold for the counters and the draws, so concurrent calls neither
        lose counts nor interleave their draws (the seeded sequence stays whole).
        A stall excludes the others and a 500 excludes throttling: one kind of fault per call."""
        with self.lock:
            self.put_calls += 1
            self.entries_seen += entries
            stall = self.stall_next > 0
            if stall:
                self.stall_next -= 1
                self.calls_stalled += 1
            fail_call = not stall and (
                self.error_500_next > 0 or self.rng.random() < self.error_500_share
            )
            if fail_call:
                self.calls_failed_500 += 1
                self.error_500_next = max(0, self.error_500_next - 1)
            throttled = [False] * entries
            streams = self.throttle_streams
            draw = self.throttle_share > 0 and (streams is None or stream in streams)
            if draw and not (stall or fail_call):
                throttled = [self.rng.random() < self.throttle_share for _ in range(entries)]
                self.entries_throttled += sum(throttled)
        return stall, fail_call, throttled

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            fwd = {
                k: v
                for k, v in headers.items()  # type: ignore[attr-defined]
                if k.lower() not in ("content-length", "connection", "host")
            }
            fwd["Content-Length"] = str(len(body))
            fwd["Host"] = f"{self.upstream_host}:{self.upstream_port}"
            conn.request(method, path, body=body, headers=fwd)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()


class _FaultHandler(BaseHTTPRequestHandler):
    """One request through the proxy: refused, answered with a fault, or forwarded."""

    protocol_version = "HTTP/1.1"
    proxy: FaultProxy  # set by FaultProxy._handler_class

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.proxy.refuse:
            self.close_connection = True
            self.connection.close()
            return
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".GetRecords"):
            self._get_records(body)
        elif target.endswith(".PutRecords"):
            self._put_records(body)
        else:
            self._reply(*self.proxy._forward(self.command, self.path, self.headers, body))

    def _get_records(self, body: bytes) -> None:
        if self.proxy._expire_this_get_records():
            self._error(400, "ExpiredIteratorException", "Iterator expired (fault proxy)")
            return
        self._reply(*self.proxy._forward(self.command, self.path, self.headers, body))

    def _put_records(self, body: bytes) -> None:
        request = json.loads(body)
        stall, fail_call, throttled = self.proxy._draw_put_faults(
            len(request["Records"]), request.get("StreamName")
        )
        if stall:
            self._stall(body)
        elif fail_call:
            self._error(500, "InternalFailure", "injected")
        else:
            self._forward_unthrottled(request, throttled)

    def _stall(self, body: bytes) -> None:
        """Forward the call (the records are written) but answer only after
        ``stall_s``: past the client's read timeout, so it cannot know they were."""
        status, headers, data = self.proxy._forward(self.command, self.path, self.headers, body)
        time.sleep(self.proxy.stall_s)  # the write happened; the answer comes too late
        self._reply(status, headers, data)

    def _forward_unthrottled(self, request: dict, throttled: list[bool]) -> None:
        """Forward only the entries that are not throttled, as Kinesis stores no
        throttled entry; answer for every entry in the request's order, the
        throttled ones with Kinesis's throttling error."""
        records = request["Records"]
        keep = [r for r, t in zip(records, throttled, strict=False) if not t]
        results: list[dict] = []
        failed = 0
        if keep:
            status, headers, data = self.proxy._forward(
                "POST",
                self.path,
                self.headers,
                json.dumps({**request, "Records": keep}).encode(),
            )
            if status != 200:
                self._reply(status, headers, data)
                return
            upstream = json.loads(data)
            results = upstream["Records"]
            failed = upstream.get("FailedRecordCount", 0)
        merged, it = [], iter(results)
        for t in throttled:
            merged.append(dict(THROTTLED) if t else next(it))
        response = {"FailedRecordCount": failed + sum(throttled), "Records": merged}
        self._reply(200, JSON_HEADERS, json.dumps(response).encode())

    def _error(self, status: int, error_type: str, message: str) -> None:
        """An error answered as Kinesis does: its ``__type`` names the exception."""
        payload = json.dumps({"__type": error_type, "message": message})
        self._reply(status, JSON_HEADERS, payload.encode())

    def _reply(self, status: int, headers: dict, data: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in NOT_RELAYED:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
