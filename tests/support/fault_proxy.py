"""A fault-injecting HTTP proxy in front of a Kinesis emulator (loopback only).

Kinesis speaks JSON over HTTP (``X-Amz-Target: Kinesis_20131202.<Op>``), so a
proxy can fail PutRecords the way Kinesis does without touching the client:

* ``throttle_share``: that share of PutRecords entries is answered with
  ``ProvisionedThroughputExceededException`` and *not written* (they are
  removed from the forwarded request, as a throttled entry is not stored);
* ``error_500_share``: that share of PutRecords calls gets HTTP 500
  ``InternalFailure`` and nothing is written;
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


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.throttle_share = 0.0
        self.error_500_share = 0.0
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
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.refuse:
                    self.close_connection = True
                    self.connection.close()
                    return
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".GetRecords"):
                    with proxy.lock:
                        proxy.get_records_calls += 1
                        expire = proxy.expire_get_records > 0
                        if expire:
                            proxy.expire_get_records -= 1
                            proxy.iterators_expired += 1
                    if expire:
                        payload = json.dumps(
                            {
                                "__type": "ExpiredIteratorException",
                                "message": "Iterator expired (fault proxy)",
                            }
                        )
                        self._reply(
                            400, {"Content-Type": "application/x-amz-json-1.1"}, payload.encode()
                        )
                        return
                    self._reply(*proxy._forward(self.command, self.path, self.headers, body))
                elif target.endswith(".PutRecords"):
                    self._put_records(body)
                else:
                    self._reply(*proxy._forward(self.command, self.path, self.headers, body))

            def _put_records(self, body: bytes) -> None:
                request = json.loads(body)
                records = request["Records"]
                with proxy.lock:
                    proxy.put_calls += 1
                    proxy.entries_seen += len(records)
                    stall = proxy.stall_next > 0
                    if stall:
                        proxy.stall_next -= 1
                        proxy.calls_stalled += 1
                    fail_call = not stall and proxy.rng.random() < proxy.error_500_share
                    if fail_call:
                        proxy.calls_failed_500 += 1
                    throttled = []
                    if not (stall or fail_call):
                        throttled = [proxy.rng.random() < proxy.throttle_share for _ in records]
                        proxy.entries_throttled += sum(throttled)
                if stall:
                    status, headers, data = proxy._forward(
                        self.command, self.path, self.headers, body
                    )
                    time.sleep(proxy.stall_s)  # the write happened; the answer comes too late
                    self._reply(status, headers, data)
                    return
                if fail_call:
                    payload = json.dumps({"__type": "InternalFailure", "message": "injected"})
                    self._reply(
                        500, {"Content-Type": "application/x-amz-json-1.1"}, payload.encode()
                    )
                    return
                keep = [r for r, t in zip(records, throttled, strict=False) if not t]
                results: list[dict] = []
                failed = 0
                if keep:
                    status, headers, data = proxy._forward(
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
                self._reply(
                    200,
                    {"Content-Type": "application/x-amz-json-1.1"},
                    json.dumps(response).encode(),
                )

            def _reply(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "date",
                        "server",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

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
