"""A stand-in Kinesis endpoint for benchmarks: real round-trip latency, per-shard capacity.

Why it exists. Publishing is timed against something, and what that something
costs decides what the benchmark measures:

* the emulators (moto server, LocalStack) answer a PutRecords in about 1 ms on
  loopback, so concurrency and batching look pointless against them;
* moto in the benchmark's own process shares its GIL, and its put cost grows
  with the stream it keeps, so the benchmark times the emulator;
* AWS answers a PutRecords after a network round trip of tens of milliseconds,
  and throttles entries beyond each shard's write capacity.

This server runs in its own process (``start_standin``), so neither its CPU
nor its GIL is timed, and answers the way the benchmark needs:

* **Latency**: each write (PutRecords, PutRecord) is answered after a delay,
  fixed (``--delay-ms 30``) or heavy-tailed (``--latency p50=20,p99=120``: a
  lognormal through the two quantiles, drawn from a generator seeded with
  ``--seed``, in the order calls arrive). The delay is slept in the thread
  handling the connection, so concurrent calls overlap as they do on AWS.
* **Per-shard write capacity** (``--shards N``, ``--capacity on|off``): a
  partition key goes to the shard whose hash-key range holds the MD5 of the
  key read as a 128-bit integer (``ExplicitHashKey`` if given), the ranges
  split evenly as CreateStream splits them. Each shard takes 1,000 records/s
  and 1 MiB/s (data plus key bytes): one token bucket per shard for each,
  refilled continuously, holding at most one second of capacity (the burst).
  An entry beyond it fails with ``ProvisionedThroughputExceededException``
  while the call itself succeeds, as Kinesis does; capacity is judged when a
  call arrives, before its delay.
* **Counts**: calls, entries received, accepted and throttled, bytes;
  ``GET /stats`` returns them as JSON, ``POST /reset`` zeroes them and refills
  the buckets (a benchmark reads and resets between runs).

What it does not model: nothing is stored (no GetRecords, no iterators, no
persistence), every stream name exists with ``--shards`` open shards, there is
no resharding, no stream-level limits (e.g. the 5 MiB/s of GetRecords) and no
authentication (the SigV4 signature is not checked). It speaks the Kinesis
JSON protocol (``X-Amz-Target: Kinesis_20131202.<Operation>``, content type
``application/x-amz-json-1.1``), which is what botocore sends for Kinesis (its
service model lists ``"protocols": ["json"]``); a CBOR body, as the Java SDK
can send, is refused with a ``SerializationException``. Operations:
PutRecords, PutRecord, DescribeStreamSummary, ListShards.

    .venv/bin/python -m bench.standin --port 0 --delay-ms 30 --shards 2
    standin listening on http://127.0.0.1:40123
"""

from __future__ import annotations

import argparse
import binascii
import bisect
import contextlib
import hashlib
import json
import math
import random
import select
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import NormalDist
from typing import Any

REPO = Path(__file__).resolve().parent.parent

TARGET_PREFIX = "Kinesis_20131202."
JSON_TYPE = "application/x-amz-json-1.1"
#: a request body larger than this is refused (413) unread; PutRecords takes 5 MiB
MAX_BODY_BYTES = 6 * 1024 * 1024
MAX_RECORDS_PER_CALL = 500
#: how many partition keys ``ShardMap`` remembers the shard of
KEY_CACHE_SIZE = 200_000
MAX_KEY_CHARS = 256
MAX_RECORD_BYTES = 1024 * 1024
#: per-shard write capacity (Kinesis Data Streams quotas, provisioned mode)
RECORDS_PER_SHARD_S = 1000
BYTES_PER_SHARD_S = 1024 * 1024
HASH_SPACE = 1 << 128
#: an idle keep-alive connection's thread ends after this (also bounds a stalled read)
IDLE_TIMEOUT_S = 120
ACCOUNT = "000000000000"
REGION = "us-east-1"
#: sequence numbers look like Kinesis's (56 decimal digits), increasing
SEQUENCE_BASE = 49 * 10**54
THROTTLED = "ProvisionedThroughputExceededException"
_Z99 = NormalDist().inv_cdf(0.99)


class KinesisError(Exception):
    """An error answer: HTTP status, Kinesis ``__type`` and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _invalid(message: str) -> KinesisError:
    return KinesisError("ValidationException", message)


# -- latency --------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Seconds before a write is answered: fixed, or lognormal through its p50 and p99."""

    median_s: float = 0.0
    #: log-space standard deviation; 0 = always ``median_s``
    sigma: float = 0.0

    @classmethod
    def fixed(cls, ms: float) -> Latency:
        if not ms >= 0 or math.isinf(ms):
            raise ValueError(f"delay must be a finite number of ms >= 0, got {ms}")
        return cls(ms / 1000.0, 0.0)

    @classmethod
    def parse(cls, spec: str) -> Latency:
        """``"p50=20,p99=120"`` (ms) -> the lognormal with that median and 99th percentile."""
        quantiles: dict[str, float] = {}
        for part in spec.split(","):
            name, sep, value = part.strip().partition("=")
            if not sep or name not in {"p50", "p99"}:
                raise ValueError(f"latency {spec!r}: expected p50=MS,p99=MS")
            quantiles[name] = float(value)
        p50, p99 = quantiles.get("p50"), quantiles.get("p99")
        if p50 is None or p99 is None or not 0 < p50 <= p99 or math.isinf(p99):
            raise ValueError(f"latency {spec!r}: need 0 < p50 <= p99, both finite")
        return cls(p50 / 1000.0, math.log(p99 / p50) / _Z99)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile in seconds (what the draws follow)."""
        return self.median_s * math.exp(self.sigma * NormalDist().inv_cdf(q))

    def draw(self, rng: random.Random) -> float:
        if self.sigma == 0.0 or self.median_s == 0.0:
            return self.median_s
        return rng.lognormvariate(math.log(self.median_s), self.sigma)


# -- shards and their capacity ---------------------------------------------------------


class ShardMap:
    """``n`` shards over the 128-bit hash-key space, split evenly as CreateStream does."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"need at least one shard, got {n}")
        self.starts = [(i * HASH_SPACE) // n for i in range(n)]
        #: partition key -> shard, so a benchmark resending its keys costs the server
        #: one lookup each, not an MD5 (this process shares the machine's two cores
        #: with the handler it answers); bounded, and cleared when full
        self._by_key: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.starts)

    def hash_range(self, shard: int) -> tuple[int, int]:
        end = self.starts[shard + 1] - 1 if shard + 1 < len(self) else HASH_SPACE - 1
        return self.starts[shard], end

    def shard_of_hash(self, hash_key: int) -> int:
        return bisect.bisect_right(self.starts, hash_key) - 1

    def shard_of_key(self, partition_key: str) -> int:
        shard = self._by_key.get(partition_key)
        if shard is None:
            digest = hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest()
            shard = self.shard_of_hash(int.from_bytes(digest, "big"))
            if len(self._by_key) >= KEY_CACHE_SIZE:
                self._by_key.clear()
            self._by_key[partition_key] = shard
        return shard


def shard_id(shard: int) -> str:
    return f"shardId-{shard:012d}"


class Bucket:
    """One shard's write capacity: records and bytes, refilled continuously, 1 s of burst."""

    __slots__ = ("at", "bytes", "records")

    def __init__(self, now: float) -> None:
        self.records = float(RECORDS_PER_SHARD_S)
        self.bytes = float(BYTES_PER_SHARD_S)
        self.at = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.at)
        self.at = now
        self.records = min(RECORDS_PER_SHARD_S, self.records + elapsed * RECORDS_PER_SHARD_S)
        self.bytes = min(BYTES_PER_SHARD_S, self.bytes + elapsed * BYTES_PER_SHARD_S)

    def take(self, size: int) -> bool:
        """Spend one record and ``size`` bytes if both are there; False = throttled."""
        if self.records >= 1.0 and self.bytes >= size:
            self.records -= 1.0
            self.bytes -= size
            return True
        return False


# -- requests ---------------------------------------------------------------------------


#: one entry to write: (data plus partition key bytes, as the quotas count them; shard)
_Record = tuple[int, int]


def _stream_name(request: Mapping[str, Any]) -> str:
    name, arn = request.get("StreamName"), request.get("StreamARN")
    if isinstance(name, str) and name:
        return name
    if isinstance(arn, str) and "stream/" in arn:
        return arn.rsplit("stream/", 1)[1]
    raise _invalid("Either StreamName or StreamARN should be provided.")


def _record(entry: object, shards: ShardMap) -> _Record:
    """One PutRecords entry (or a PutRecord request) checked and placed on its shard."""
    if not isinstance(entry, dict):
        raise KinesisError("SerializationException", "a record must be an object")
    data, key = entry.get("Data"), entry.get("PartitionKey")
    if not isinstance(data, str) or not isinstance(key, str):
        raise _invalid("Data (base64) and PartitionKey (string) are required")
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise _invalid(f"PartitionKey must be 1-{MAX_KEY_CHARS} characters")
    try:
        key_bytes = len(key) if key.isascii() else len(key.encode("utf-8"))
        size = len(binascii.a2b_base64(data, strict_mode=True)) + key_bytes
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise KinesisError("SerializationException", f"bad Data or key: {exc}") from None
    if size > MAX_RECORD_BYTES:
        raise _invalid(f"record of {size} bytes exceeds {MAX_RECORD_BYTES}")
    explicit = entry.get("ExplicitHashKey")
    if explicit is None:
        return size, shards.shard_of_key(key)
    if not isinstance(explicit, str) or not explicit.isdigit() or int(explicit) >= HASH_SPACE:
        raise _invalid("ExplicitHashKey must be a decimal integer in [0, 2^128)")
    return size, shards.shard_of_hash(int(explicit))


# -- the endpoint's state -----------------------------------------------------------------


class Standin:
    """What the server knows: shards, capacity, latency and the counts. Thread safe."""

    def __init__(
        self, *, latency: Latency, shards: int = 2, capacity: bool = True, seed: int = 0
    ) -> None:
        self.latency = latency
        self.shards = ShardMap(shards)
        self.capacity = capacity
        self.created = time.time()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._sequence = 0
        self._shard_ids = [shard_id(i) for i in range(shards)]
        self._throttled = [
            {
                "ErrorCode": THROTTLED,
                "ErrorMessage": f"Rate exceeded for shard {shard_id(i)} in stream under "
                f"account {ACCOUNT}.",
            }
            for i in range(shards)
        ]
        self.reset()

    def reset(self) -> None:
        """Zero the counts and refill every shard's bucket."""
        now = time.monotonic()
        with self._lock:
            self._buckets = [Bucket(now) for _ in range(len(self.shards))]
            self._counts: Counter[str] = Counter()
            self._calls: Counter[str] = Counter()
            self._handling_s = 0.0
            self._since = now

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": sum(self._calls.values()),
                "calls_by_operation": dict(self._calls),
                "entries_received": self._counts["entries_received"],
                "entries_accepted": self._counts["entries_accepted"],
                "entries_throttled": self._counts["entries_throttled"],
                "bytes_received": self._counts["bytes_received"],
                "bytes_accepted": self._counts["bytes_accepted"],
                "accepted_by_shard": {
                    shard_id(s): self._counts[f"accepted:{s}"] for s in range(len(self.shards))
                },
                "seconds_since_reset": round(time.monotonic() - self._since, 3),
                #: the server's own work on Kinesis calls (parse, place, answer), delays excluded
                "handling_seconds": round(self._handling_s, 6),
                "shards": len(self.shards),
                "capacity": self.capacity,
            }

    def count_call(self, operation: str, handling_s: float) -> None:
        """One Kinesis call answered after ``handling_s`` of work (the delay not included)."""
        with self._lock:
            self._calls[operation] += 1
            self._handling_s += handling_s

    def delay(self) -> float:
        with self._lock:
            return self.latency.draw(self._rng)

    def write(self, records: list[_Record]) -> list[dict[str, str]]:
        """Accept or throttle each record, in order; one result entry per record."""
        now = time.monotonic()
        results: list[dict[str, str]] = []
        accepted = [0] * len(self.shards)
        accepted_bytes = received_bytes = 0
        with self._lock:
            if self.capacity:
                for bucket in self._buckets:
                    bucket.refill(now)
            for size, shard in records:
                received_bytes += size
                if self.capacity and not self._buckets[shard].take(size):
                    results.append(self._throttled[shard])
                    continue
                accepted[shard] += 1
                accepted_bytes += size
                self._sequence += 1
                sequence = str(SEQUENCE_BASE + self._sequence)
                results.append({"SequenceNumber": sequence, "ShardId": self._shard_ids[shard]})
            counts = self._counts
            counts["entries_received"] += len(records)
            counts["entries_accepted"] += sum(accepted)
            counts["entries_throttled"] += len(records) - sum(accepted)
            counts["bytes_received"] += received_bytes
            counts["bytes_accepted"] += accepted_bytes
            for shard, n in enumerate(accepted):
                counts[f"accepted:{shard}"] += n
        return results

    # -- operations: request -> (answer, seconds to wait before sending it) ---------------

    def put_records(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        _stream_name(request)
        entries = request.get("Records")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_RECORDS_PER_CALL:
            raise _invalid(f"Records must be a list of 1-{MAX_RECORDS_PER_CALL} records")
        results = self.write([_record(e, self.shards) for e in entries])
        failed = sum(1 for r in results if "ErrorCode" in r)
        answer = {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}
        return answer, self.delay()

    def put_record(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        _stream_name(request)
        (result,) = self.write([_record(request, self.shards)])
        if "ErrorCode" in result:  # PutRecord fails as a whole when its shard is full
            raise KinesisError(THROTTLED, result["ErrorMessage"])
        return {**result, "EncryptionType": "NONE"}, self.delay()

    def describe_stream_summary(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        name = _stream_name(request)
        summary = {
            "StreamName": name,
            "StreamARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}",
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "RetentionPeriodHours": 24,
            "StreamCreationTimestamp": self.created,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
            "OpenShardCount": len(self.shards),
            "ConsumerCount": 0,
        }
        return {"StreamDescriptionSummary": summary}, 0.0

    def list_shards(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        if "NextToken" not in request:
            _stream_name(request)
        shards = []
        for s in range(len(self.shards)):
            start, end = self.shards.hash_range(s)
            shards.append(
                {
                    "ShardId": shard_id(s),
                    "HashKeyRange": {"StartingHashKey": str(start), "EndingHashKey": str(end)},
                    "SequenceNumberRange": {"StartingSequenceNumber": str(SEQUENCE_BASE)},
                }
            )
        return {"Shards": shards}, 0.0

    def operation(self, name: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], float]]:
        operations = {
            "PutRecords": self.put_records,
            "PutRecord": self.put_record,
            "DescribeStreamSummary": self.describe_stream_summary,
            "ListShards": self.list_shards,
        }
        if name not in operations:
            raise KinesisError("UnknownOperationException", f"operation {name!r} not supported")
        return operations[name]


# -- HTTP ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """One keep-alive connection (one thread): Kinesis JSON calls, /stats and /reset."""

    protocol_version = "HTTP/1.1"
    server_version = "kinesis-standin"
    # Nagle off (TCP_NODELAY on each accepted socket): with it on, a small write
    # that follows another unacknowledged one waits for the peer's ACK, which the
    # peer delays up to 40 ms (delayed ACK) - a stall on every call that would
    # hide the latency being modelled. Each answer is also sent in one write.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_S
    standin: Standin  # set on the subclass made by ``make_server``

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a benchmark's process, not a service

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/stats":
            self._answer(200, self.standin.stats(), "application/json")
        else:
            self._answer(404, {"message": "not found"}, "application/json")

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        target = self.headers.get("X-Amz-Target")
        if target is not None:
            self._kinesis(target, body)
        elif self.path.split("?", 1)[0] == "/reset":
            self.standin.reset()
            self._answer(200, {"reset": True}, "application/json")
        else:
            self._answer(404, {"message": "not found"}, "application/json")

    def _read_body(self) -> bytes | None:
        """The request body, at most ``MAX_BODY_BYTES``; None once an error is answered."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            message = "chunked bodies are not supported"
            self._error(KinesisError("SerializationException", message, 411), close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._error(KinesisError("SerializationException", "bad Content-Length"), close=True)
            return None
        if length > MAX_BODY_BYTES:
            message = f"body of {length} bytes exceeds {MAX_BODY_BYTES}"
            self._error(KinesisError("SerializationException", message, 413), close=True)
            return None
        return self.rfile.read(length)

    def _kinesis(self, target: str, body: bytes) -> None:
        started = time.perf_counter()
        name = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else target
        try:
            if "cbor" in self.headers.get("Content-Type", "").lower():
                raise KinesisError("SerializationException", f"only {JSON_TYPE} is spoken here")
            operation = self.standin.operation(name)
            try:
                request = json.loads(body)
            except ValueError as exc:  # UnicodeDecodeError too
                raise KinesisError("SerializationException", f"malformed JSON: {exc}") from None
            if not isinstance(request, dict):
                raise KinesisError("SerializationException", "the body must be a JSON object")
            answer, delay = operation(request)
        except KinesisError as exc:
            self.standin.count_call(name, time.perf_counter() - started)
            self._error(exc)
            return
        payload = _json_bytes(answer)
        self.standin.count_call(name, time.perf_counter() - started)
        if delay > 0:
            time.sleep(delay)  # this connection's thread only: concurrent calls overlap
        self._send(200, payload, JSON_TYPE)

    def _error(self, exc: KinesisError, *, close: bool = False) -> None:
        """A Kinesis-style error; ``close`` when the body was left unread (the
        connection's next bytes would be read as a request)."""
        self._answer(exc.status, {"__type": exc.code, "message": exc.message}, close=close)

    def _answer(
        self, status: int, payload: object, content_type: str = JSON_TYPE, *, close: bool = False
    ) -> None:
        self._send(status, _json_bytes(payload), content_type, close=close)

    def _send(self, status: int, body: bytes, content_type: str, *, close: bool = False) -> None:
        """Status line, headers and body in one write (see ``disable_nagle_algorithm``)."""
        head = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"x-amzn-RequestId: {uuid.uuid4()}",
        ]
        if close or self.close_connection:
            head.append("Connection: close")
            self.close_connection = True
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _json_bytes(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once (a pool of 16 and more)


def make_server(standin: Standin, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for ``standin`` on ``host:port`` (0 = any free port); not started."""
    handler = type("Handler", (_Handler,), {"standin": standin})
    return _Server((host, port), handler)


# -- the process and its Python API ----------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.standin", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    latency = parser.add_mutually_exclusive_group()
    latency.add_argument("--delay-ms", type=float, default=0.0, help="fixed delay per write")
    latency.add_argument("--latency", help="heavy-tailed delay per write, e.g. p50=20,p99=120")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--capacity", choices=["on", "off"], default="on")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        latency = Latency.parse(args.latency) if args.latency else Latency.fixed(args.delay_ms)
        standin = Standin(
            latency=latency, shards=args.shards, capacity=args.capacity == "on", seed=args.seed
        )
    except ValueError as exc:
        sys.exit(f"standin: {exc}")
    server = make_server(standin, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"standin listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _read_url(proc: subprocess.Popen, timeout_s: float) -> str:
    """The URL from the child's first stdout line, within ``timeout_s``."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if ready else ""
    prefix = "standin listening on "
    if not line.startswith(prefix):
        raise RuntimeError(f"stand-in did not start (exit {proc.poll()}, said {line!r})")
    return line[len(prefix) :].strip()


def _http_json(url: str, method: str) -> dict[str, Any]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def start_standin(
    delay_ms: float = 0,
    latency: str | None = None,
    shards: int = 2,
    capacity: bool = True,
    seed: int = 0,
    *,
    start_timeout_s: float = 30,
) -> Iterator[tuple[str, Callable[[], dict[str, Any]], Callable[[], None]]]:
    """The stand-in in its own process: yields ``(url, stats_fn, reset_fn)``; stops it on exit.

    ``latency`` (e.g. ``"p50=20,p99=120"``) replaces the fixed ``delay_ms``.
    ``stats_fn()`` is the dict of ``GET /stats``; ``reset_fn()`` zeroes the counts
    and refills the shards' capacity.
    """
    if latency is not None and delay_ms:
        raise ValueError("give delay_ms or latency, not both")
    command = [sys.executable, "-m", "bench.standin", "--port", "0", "--shards", str(shards)]
    command += ["--capacity", "on" if capacity else "off", "--seed", str(seed)]
    command += ["--latency", latency] if latency is not None else ["--delay-ms", str(delay_ms)]
    proc = subprocess.Popen(
        command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    try:
        url = _read_url(proc, start_timeout_s)

        def stats() -> dict[str, Any]:
            return _http_json(f"{url}/stats", "GET")

        def reset() -> None:
            _http_json(f"{url}/reset", "POST")

        yield url, stats, reset
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    main()
