"""JSON codecs for the Lambda handler: stdlib ``json`` vs orjson vs msgspec -> bench/JSON.md.

    .venv/bin/pip install orjson              # not a project dependency (msgspec is one)
    .venv/bin/python -m bench.json_codecs [--records 10000] [--rounds 9] [--no-tests]
    .venv/bin/pip uninstall -y orjson

Would a faster codec lower the handler's decode + encode time without raising its
cold start or the zip more than it saves? On one batch of real 2023-02 rides
(bench/common.py), codecs alternating round by round, medians:

1. decode: the payloads (bytes) with each codec; the project's whole decode path
   (``decode_records``) and handler batch with each codec in place of
   ``decode_payload``; the share of JSON in that path (pyinstrument);
2. encode: the handler's prediction events with each codec;
3. semantics the poison-proof rules rest on (integers beyond 64 bits, NaN,
   duplicate keys, lone surrogates, deep nesting, invalid UTF-8): each codec
   alone, the handler with each codec swapped in, and the consumer's tests re-run
   with it (this module is also a pytest plugin: ``BENCH_JSON_SWAP=orjson:guarded
   pytest -p bench.json_codecs ...``);
4. cold start: the import in a fresh interpreter, after the function's own init,
   and ``-X importtime``;
5. size: the Lambda's wheels (``pip download`` for manylinux x86_64) vs the zip.

A codec that is not installed is reported as such; the standard library is always
measured. Nothing under streaming/ is changed: swaps are made in memory.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import gc
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common

REPO = common.REPO
OUT = REPO / "bench" / "JSON.md"
WHEELS = common.CACHE / "json-wheels"
FUNCTION_ZIP = REPO / "dist" / "ride-duration-x86_64.zip"
SWAP_ENV = "BENCH_JSON_SWAP"
#: the invocation time given to decode_records (the handler passes its clock)
NOW = 1_675_000_000.0
PROFILE_REPEATS = 5
#: (Python version, platform): what the issue names, and what `make package` builds
#: (Makefile: LAMBDA_PYTHON 3.12, manylinux_2_28; template.yaml: python3.12).
WHEEL_TARGETS = (("3.11", "manylinux2014_x86_64"), ("3.12", "manylinux_2_28_x86_64"))
LEGACY_PLATFORM = "manylinux2014_x86_64"
#: the consumer's tests re-run with each codec swapped in
TEST_FILES = (
    "tests/unit/test_events.py",
    "tests/unit/test_handler.py",
    "tests/unit/test_hostile_handler.py",
    "tests/unit/test_deadletter.py",
    "tests/unit/test_publish.py",
    "tests/unit/test_publish_hostile.py",
    "tests/unit/test_lambda_entry.py",
)
TEST_SWAPS = (
    "stdlib",
    "orjson:dropin",
    "orjson:guarded",
    "orjson:dropin:encode",
    "msgspec:dropin",
    "msgspec:guarded",
)
HANDLER_SWAPS = (
    "stdlib",
    "orjson:dropin",
    "orjson:guarded",
    "orjson:dropin:encode",
    "msgspec:dropin",
    "msgspec:guarded",
)


# -- codecs and swaps ----------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    name: str
    version: str
    loads: Callable[[bytes], Any]
    dumps: Callable[[Any], bytes]
    #: what ``loads`` raises on input it refuses
    errors: tuple[type[BaseException], ...]


@functools.cache
def originals() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """The project's ``decode_payload`` and ``compact_json``, before any swap."""
    # Only these two (standard library only): other interpreters import them too.
    # Modules that import the functions later (handler, deadletter) get the swap.
    from streaming.consumer.decode import decode_payload_stdlib
    from streaming.consumer.encoding import compact_json

    return decode_payload_stdlib, compact_json


@functools.cache
def load_codecs() -> tuple[dict[str, Codec], dict[str, str]]:
    """The codecs importable here, and why the others are missing."""
    _, compact_json = originals()
    codecs = {
        "stdlib": Codec(
            "stdlib",
            f"json {json.__version__} (Python {platform.python_version()})",
            json.loads,
            compact_json,
            (ValueError, RecursionError),
        )
    }
    missing: dict[str, str] = {}
    try:
        import orjson
    except ImportError:
        missing["orjson"] = "not installed"
    else:
        codecs["orjson"] = Codec(
            "orjson",
            orjson.__version__,
            orjson.loads,
            orjson.dumps,
            (orjson.JSONDecodeError, RecursionError),
        )
    try:
        import msgspec
    except ImportError:
        missing["msgspec"] = "not installed"
    else:
        codecs["msgspec"] = Codec(
            "msgspec",
            msgspec.__version__,
            msgspec.json.Decoder().decode,
            msgspec.json.Encoder().encode,
            (msgspec.DecodeError, ValueError, RecursionError),
        )
    return codecs, missing


@dataclass(frozen=True)
class Variant:
    """``codec[:mode[:parts]]``: how a codec would replace the stdlib in the consumer.

    * ``dropin``: the codec alone; a decode error is ``invalid_json``, an encode
      error propagates (as ``compact_json``'s would);
    * ``guarded``: the codec first, the stdlib on anything the codec refuses (the
      stdlib then gives the same reason and words as today, or raises as today);
    * ``parts``: ``both`` (default), ``decode`` or ``encode`` only.
    """

    codec: str
    mode: str = "dropin"
    parts: str = "both"

    @classmethod
    def parse(cls, spec: str) -> Variant:
        given = spec.split(":")
        name, mode, parts = [*given, *("dropin", "both")[len(given) - 1 :]][:3]
        if mode not in {"dropin", "guarded"} or parts not in {"both", "decode", "encode"}:
            raise ValueError(f"bad swap {spec!r}: codec[:dropin|guarded[:both|decode|encode]]")
        return cls(name, mode, parts)

    @property
    def label(self) -> str:
        if self.codec == "stdlib":
            return "stdlib"
        only = "" if self.parts == "both" else f", {self.parts} only"
        return f"{self.codec} {self.mode.replace('dropin', 'drop-in')}{only}"


def _decoder(codec: Codec, fallback: Callable[[bytes], Any], guarded: bool) -> Callable:
    from streaming.consumer.records import InvalidEvent, Reason

    loads, errors = codec.loads, codec.errors

    def guarded_decode(raw: bytes) -> Any:
        try:
            return loads(raw)
        except errors:
            return fallback(raw)  # the stdlib decides every refusal: same reason, same words

    def dropin_decode(raw: bytes) -> Any:
        try:
            return loads(raw)
        except errors as exc:
            raise InvalidEvent(Reason.INVALID_JSON, f"the event is not JSON: {exc}") from None

    return guarded_decode if guarded else dropin_decode


def _encoder(codec: Codec, fallback: Callable[[Any], bytes], guarded: bool) -> Callable:
    dumps = codec.dumps

    def guarded_encode(value: Any) -> bytes:
        try:
            return dumps(value)
        except (TypeError, ValueError, OverflowError):
            return fallback(value)  # big integers, surrogates: the stdlib writes or raises

    return guarded_encode if guarded else dumps


def swapped_functions(variant: Variant) -> tuple[Callable, Callable]:
    """``(decode_payload, compact_json)`` for ``variant``."""
    decode, encode = originals()
    if variant.codec == "stdlib":
        return decode, encode
    codecs, missing = load_codecs()
    if variant.codec not in codecs:
        raise LookupError(f"{variant.codec}: {missing.get(variant.codec, 'unknown codec')}")
    codec, guarded = codecs[variant.codec], variant.mode == "guarded"
    if variant.parts != "encode":
        decode = _decoder(codec, decode, guarded)
    if variant.parts != "decode":
        encode = _encoder(codec, encode, guarded)
    return decode, encode


def _patch(variant: Variant) -> list[tuple[Any, str, Any]]:
    """Replace every reference to the two functions in ``streaming.*``; the undo list."""
    pairs = list(zip(originals(), swapped_functions(variant), strict=True))
    undo = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "streaming" or name.startswith("streaming.")):
            continue
        for attr, value in list(vars(module).items()):
            for old, new in pairs:
                if value is old and new is not old:
                    undo.append((module, attr, value))
                    setattr(module, attr, new)
    return undo


@contextlib.contextmanager
def swap(variant: Variant) -> Iterator[None]:
    undo = _patch(variant)
    try:
        yield
    finally:
        for module, attr, value in undo:
            setattr(module, attr, value)


def pytest_configure(config: Any) -> None:
    """``-p bench.json_codecs``: swap ``$BENCH_JSON_SWAP`` in for the whole test session."""
    spec = os.environ.get(SWAP_ENV)
    if spec:
        _patch(Variant.parse(spec))


def pytest_report_header(config: Any) -> str | None:
    spec = os.environ.get(SWAP_ENV)
    return (
        f"bench.json_codecs: {spec} swapped in for decode_payload, compact_json" if spec else None
    )


# -- timing --------------------------------------------------------------------------


def alternate(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """CPU seconds per call of each case, the cases taking turns (rotated) in every round.

    ``time.process_time``, not wall time: the work is single-threaded and CPU-bound,
    and on a shared machine wall time also counts the time other processes hold the
    core (it swung 2x between rounds here). The cyclic GC is off while a case runs,
    as the handler has it during a batch; the result is freed after the clock stops.
    """
    for _ in range(2):  # warm-up (allocator too: orjson's output buffers are not pymalloc's)
        for run in cases.values():
            run()
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            gc.disable()
            try:
                t0 = time.process_time()
                out = cases[name]()
                times[name].append(time.process_time() - t0)
            finally:
                gc.enable()
            del out
    return times


def _each(fn: Callable[[Any], Any], items: list[Any]) -> Callable[[], list[Any]]:
    def run() -> list[Any]:
        return [fn(x) for x in items]

    return run


def _with_decode(fn: Callable[[bytes], Any], body: Callable[[], Any]) -> Callable[[], Any]:
    """``body`` with ``fn`` as ``decode.decode_payload`` (what decode_records calls)."""
    from streaming.consumer import decode

    def run() -> Any:
        saved = decode.decode_payload
        decode.decode_payload = fn
        try:
            return body()
        finally:
            decode.decode_payload = saved

    return run


def med_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def saving_ms(base: list[float], other: list[float]) -> float:
    """Median of the per-round differences (each round times both): drifts cancel."""
    return statistics.median(b - o for b, o in zip(base, other, strict=True)) * 1000.0


def timing_cell(samples: list[float]) -> str:
    return f"{med_ms(samples):.2f} ({min(samples) * 1e3:.2f}-{max(samples) * 1e3:.2f})"


def typed_decoder() -> Callable[[bytes], Any] | None:
    """msgspec with the ride event as a Struct (it type-checks as it parses)."""
    try:
        import msgspec
    except ImportError:
        return None

    # defstruct: this module's annotations are strings (__future__), a local class's
    # field types could not be resolved
    fields = [("PULocationID", int), ("DOLocationID", int), ("trip_distance", float)]
    ride = msgspec.defstruct("RideFields", [*fields, ("pickup_datetime", str | None, None)])
    RideEvent = msgspec.defstruct("RideEvent", [("ride", ride), ("ride_id", int | str)])  # noqa: N806

    return msgspec.json.Decoder(RideEvent).decode


def _plain(value: Any) -> Any:
    if type(value).__module__ == "builtins":
        return value
    import msgspec

    return msgspec.to_builtins(value)


def measure_decode(raws: list[bytes], rounds: int) -> dict[str, Any]:
    codecs, _ = load_codecs()
    project_decode, _ = originals()
    decoders: dict[str, Callable[[bytes], Any]] = {
        "stdlib `json.loads(bytes)`": json.loads,
        "stdlib, the project's `decode_payload` (UTF-8 decode + C scanner)": project_decode,
    }
    if "orjson" in codecs:
        decoders["orjson `loads`"] = codecs["orjson"].loads
    if "msgspec" in codecs:
        decoders["msgspec `json.Decoder().decode` (untyped)"] = codecs["msgspec"].loads
        typed = typed_decoder()
        if typed is not None:
            decoders["msgspec `json.Decoder(RideEvent)` (typed Struct) *"] = typed
    cases = {k: _each(f, raws) for k, f in decoders.items()}
    cases.update({f"drop:{k}": _drop(f, raws) for k, f in decoders.items()})
    times = alternate(cases, rounds)
    reference = [repr(json.loads(r)) for r in raws]
    identical = {
        k: sum(repr(_plain(f(r))) == ref for r, ref in zip(raws, reference, strict=True))
        for k, f in decoders.items()
    }
    return {
        "times": times,
        "identical": identical,
        "decoders": list(decoders),
        "baseline": list(decoders)[1],
    }


def measure_path(event: dict[str, Any], service: Any, rounds: int) -> dict[str, Any]:
    """decode_records and the whole TEST_RUN batch with each codec as ``decode_payload``."""
    from streaming.consumer.decode import decode_records

    codecs, _ = load_codecs()
    records = event["Records"]
    cases: dict[str, Callable[[], Any]] = {}
    for name in codecs:
        fn, _ = swapped_functions(Variant(name, "guarded"))
        cases[f"path:{name}"] = _with_decode(fn, lambda: decode_records(records, NOW))
        cases[f"batch:{name}"] = _with_decode(fn, lambda: service.process(event))
    # a parser that costs nothing: each payload's value looked up (the ablation)
    parsed = {raw: json.loads(raw) for raw in _payload_bytes(records)}
    cases["path:no-json"] = _with_decode(parsed.__getitem__, lambda: decode_records(records, NOW))
    return {"times": alternate(cases, rounds), "codecs": list(codecs)}


def _payload_bytes(records: list[Any]) -> list[bytes]:
    return [base64.b64decode(r["kinesis"]["data"]) for r in records]


def json_share(records: list[Any]) -> dict[str, float] | None:
    """Where decode_records spends its time, by pyinstrument (sampling, 0.1 ms)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    from streaming.consumer.decode import decode_records

    profiler = Profiler(interval=0.0001, async_mode="disabled")
    gc.disable()
    try:
        profiler.start()
        for _ in range(PROFILE_REPEATS):
            decode_records(records, NOW)
        profiler.stop()
    finally:
        gc.enable()
    totals: dict[str, float] = {}
    wanted = {"decode_records", "decode_payload", "validate_ride", "__init__"}
    _outermost(profiler.last_session.root_frame(), wanted, set(), totals)
    return totals


def _outermost(frame: Any, wanted: set[str], above: set[str], totals: dict[str, float]) -> None:
    if frame is None:
        return
    name = frame.function
    if name in wanted and name not in above:
        totals[name] = totals.get(name, 0.0) + frame.time
        above = above | {name}
    for child in frame.children:
        _outermost(child, wanted, above, totals)


def measure_encode(predictions: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    codecs, _ = load_codecs()
    _, compact_json = originals()
    encoders = {
        "stdlib `compact_json` (JSONEncoder, separators, allow_nan=False)": compact_json,
    }
    if "orjson" in codecs:
        encoders["orjson `dumps`"] = codecs["orjson"].dumps
    if "msgspec" in codecs:
        encoders["msgspec `json.Encoder().encode`"] = codecs["msgspec"].dumps
    cases = {k: _each(f, predictions) for k, f in encoders.items()}
    cases.update({f"drop:{k}": _drop(f, predictions) for k, f in encoders.items()})
    times = alternate(cases, rounds)
    reference = [compact_json(p) for p in predictions]
    identical = {
        k: sum(f(p) == ref for p, ref in zip(predictions, reference, strict=True))
        for k, f in encoders.items()
    }
    return {
        "times": times,
        "identical": identical,
        "held": {k: _held_bytes(f, predictions) for k, f in encoders.items()},
        "encoders": list(encoders),
        "baseline": next(iter(encoders)),
    }


def _drop(fn: Callable[[Any], Any], items: list[Any]) -> Callable[[], None]:
    """Each result freed at once (not the handler's pattern: it keeps every entry)."""

    def run() -> None:
        for x in items:
            fn(x)

    return run


def _held_bytes(fn: Callable[[Any], Any], items: list[Any]) -> int:
    """Memory the outputs hold while kept (tracemalloc: what was allocated for them)."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        out = [fn(x) for x in items]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return held


# -- semantics -----------------------------------------------------------------------


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


DECODE_PROBES: list[tuple[str, bytes]] = [
    ("integer 2**63 (beyond int64, within uint64)", b'{"v": 9223372036854775808}'),
    ("integer 2**64", b'{"v": 18446744073709551616}'),
    ("integer 10**30", b'{"v": 1' + b"0" * 30 + b"}"),
    ("integer -(10**30)", b'{"v": -1' + b"0" * 30 + b"}"),
    ("integer 10**254 (255 digits)", b'{"v": 1' + b"0" * 254 + b"}"),
    ("integer, 400 digits", b'{"v": 1' + b"0" * 399 + b"}"),
    ("`NaN`", b'{"v": NaN}'),
    ("`Infinity`", b'{"v": Infinity}'),
    ("`1e400` (beyond a double)", b'{"v": 1e400}'),
    ('duplicate keys `{"v": 1, "v": 2}`', b'{"v": 1, "v": 2}'),
    ('lone surrogate `"\\ud800"`', b'{"v": "\\ud800"}'),
    ("invalid UTF-8 (`\\xff` in a string)", b'{"v": "\xff"}'),
    ("UTF-8-encoded surrogate (`\\xed\\xa0\\x80`)", b'{"v": "\xed\xa0\x80"}'),
    ("raw control character in a string", b'{"v": "a\x01"}'),
    ("UTF-8 byte order mark", b'\xef\xbb\xbf{"v": 1}'),
    ("arrays nested 1,000 deep", _deep(1000)),
    ("arrays nested 100,000 deep", _deep(100_000)),
]


def describe(value: Any) -> str:
    """A short, type-revealing rendering of a decoded value (never a deep repr)."""
    if isinstance(value, dict) and set(value) == {"v"}:
        value = value["v"]
    if type(value) is int:
        digits = len(str(abs(value)))
        return f"int ({digits} digits)" if digits > 19 else f"int {value}"
    if type(value) is float:
        return f"float {value!r}"
    if type(value) is str:
        return f"str {value!r}"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _error(exc: BaseException) -> str:
    from streaming.consumer.records import InvalidEvent

    if isinstance(exc, InvalidEvent):
        return f"refused: {exc.reason.value}"
    text = str(exc).split(":")[0][:40]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def decode_semantics() -> dict[str, list[str]]:
    """Per probe: stdlib json.loads, the project's decode_payload, each codec alone."""
    codecs, _ = load_codecs()
    project_decode, _ = originals()
    columns: dict[str, Callable[[bytes], Any]] = {
        "stdlib `json.loads`": json.loads,
        "project `decode_payload`": project_decode,
    }
    columns.update({f"{c.name} alone": c.loads for n, c in codecs.items() if n != "stdlib"})
    table: dict[str, list[str]] = {"probe": [label for label, _ in DECODE_PROBES]}
    for column, fn in columns.items():
        cells = []
        for _, raw in DECODE_PROBES:
            try:
                cells.append(describe(fn(raw)))
            except Exception as exc:
                cells.append(_error(exc))
        table[column] = cells
    return table


ENCODE_PROBES: list[tuple[str, Any]] = [
    ("int 2**63", 2**63),
    ("int 2**64", 2**64),
    ("int 10**30", 10**30),
    ("int -(10**30)", -(10**30)),
    ("int 10**254", 10**254),
    ("float NaN", float("nan")),
    ("float inf", float("inf")),
    ('str "é"', "é"),
    ('str "\\ud800" (lone surrogate)', "\ud800"),
    ("float 1e16", 1e16),
    ("float 1e-07", 1e-07),
    ("dict with an int key `{1: 2}`", {1: 2}),
]


def encode_semantics() -> dict[str, list[str]]:
    codecs, _ = load_codecs()
    table: dict[str, list[str]] = {"value": [label for label, _ in ENCODE_PROBES]}
    for name, codec in codecs.items():
        cells = []
        for _, value in ENCODE_PROBES:
            try:
                out = codec.dumps(value)
            except Exception as exc:
                cells.append(_error(exc))
                continue
            cells.append(f"`{out[:24]!r}`" + "..." * (len(out) > 24))
        table["stdlib `compact_json`" if name == "stdlib" else f"{name}"] = cells
    return table


def _ride(ride_id: bytes, distance: bytes = b"3.66") -> bytes:
    return (
        b'{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": '
        + distance
        + b', "pickup_datetime": "2023-02-01T08:15:00"}, "ride_id": '
        + ride_id
        + b"}"
    )


HANDLER_PROBES: list[tuple[str, bytes]] = [
    ("ride_id 2**63", _ride(b"9223372036854775808")),
    ("ride_id 2**64", _ride(b"18446744073709551616")),
    ("ride_id 10**30", _ride(b"1" + b"0" * 30)),
    ("ride_id -(10**30)", _ride(b"-1" + b"0" * 30)),
    ("ride_id 10**254 (largest accepted)", _ride(b"1" + b"0" * 254)),
    ("ride_id, 400 digits", _ride(b"1" + b"0" * 399)),
    ("trip_distance `NaN`", _ride(b"1", b"NaN")),
    ("trip_distance `Infinity`", _ride(b"1", b"Infinity")),
    ("trip_distance `1e400`", _ride(b"1", b"1e400")),
    ("duplicate ride_id (1, then 2)", _ride(b'1, "ride_id": 2')),
    ('ride_id `"\\ud800"`', _ride(b'"\\ud800"')),
    ('ride_id `"é"`', _ride('"é"'.encode())),
    ("invalid UTF-8 in ride_id", _ride(b'"\xff"')),
    ("ride nested 1,000 deep", _ride(b"1").replace(b"130", _deep(1000), 1)),
    ("100,000 nested arrays", _deep(100_000)),
]


class _Sink:
    """A Sender that writes everything: per stream, the bytes written."""

    def __init__(self) -> None:
        self.written: dict[str, list[bytes]] = {}

    def __call__(self, stream: str, entries: Any) -> list[str | None]:
        self.written.setdefault(stream, []).extend(e.data for e in entries)
        return [None] * len(entries)


def _handler_outcome(model: Any, payload: bytes) -> tuple[str, bytes | None]:
    from streaming.consumer.config import Settings
    from streaming.consumer.handler import RideDurationService

    sink = _Sink()
    settings = Settings(predictions_stream="preds", dead_letter_stream="dlq")
    service = RideDurationService(model, settings, sender=sink, sleep=lambda s: None)
    event = common.lambda_event([(payload, "k")])
    try:
        result = service.process(event)
    except Exception as exc:
        return f"**raises {type(exc).__name__}**: the whole batch fails", None
    if result.failed_refs:
        return "**reported in batchItemFailures**", None
    if sink.written.get("preds"):
        body = sink.written["preds"][0]
        return f"prediction, ride_id {describe(json.loads(body)['prediction']['ride_id'])}", body
    if sink.written.get("dlq"):
        return f"dead letter: {json.loads(sink.written['dlq'][0])['reason']}", None
    return "**no output**", None


def handler_semantics(model: Any) -> dict[str, list[str]]:
    """Per probe and variant: what the handler publishes (or whether it raises)."""
    codecs, _ = load_codecs()
    table: dict[str, list[str]] = {"record data": [label for label, _ in HANDLER_PROBES]}
    reference: list[tuple[str, bytes | None]] = []
    for spec in HANDLER_SWAPS:
        variant = Variant.parse(spec)
        if variant.codec not in codecs:
            continue
        with swap(variant):
            outcomes = [_handler_outcome(model, raw) for _, raw in HANDLER_PROBES]
        reference = reference or outcomes
        cells = []
        for (text, body), (ref_text, ref_body) in zip(outcomes, reference, strict=True):
            cell = text
            if text != ref_text:
                cell = text if text.startswith("**") else f"**{text}**"
            elif body != ref_body:
                cell = f"{text} (other bytes)"
            cells.append(cell)
        table[variant.label] = cells
    return table


#: nesting depths tried: around every CPython's limit (3.11: ~1000 frames; 3.12: C
#: recursion 1500; orjson: 1024 whatever the stack)
DEPTHS = range(500, 2100)
DEPTH_SPECS = ("stdlib", "orjson:guarded", "msgspec:guarded")


def _nested_ride_record(depth: int) -> dict[str, Any]:
    payload = _ride(b"1").replace(b"130", _deep(depth), 1)
    return {
        "kinesis": {
            "data": base64.b64encode(payload).decode("ascii"),
            "partitionKey": "k",
            "sequenceNumber": "1",
            "approximateArrivalTimestamp": NOW,
        },
        "eventID": "shardId-000000000000:1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events",
    }


def depth_scan(spec: str = "stdlib") -> dict[str, Any]:
    """Nesting depths (of ``ride.PULocationID``) at which a RecursionError escapes
    ``decode_records``, failing the whole batch; and the deepest value it parses.
    Again with ``validate._short`` made recursion-safe in memory (``raises_safe``).

    Needs only the standard library for ``stdlib``: other interpreters run it too.
    """
    context = contextlib.nullcontext() if spec == "stdlib" else swap(Variant.parse(spec))
    with context:
        raises, deepest = _scan_depths()
        with _recursion_safe_short():
            raises_safe, _ = _scan_depths()
    return {
        "python": platform.python_version(),
        "spec": spec,
        "raises": raises,
        "deepest": deepest,
        "raises_safe": raises_safe,
    }


def _scan_depths() -> tuple[list[int], int]:
    from streaming.consumer.decode import decode_records

    raises, deepest = [], 0
    for depth in DEPTHS:
        try:
            item = decode_records([_nested_ride_record(depth)], NOW)[0]
        except RecursionError:
            raises.append(depth)
            continue
        if item.reason.value != "invalid_json":
            deepest = depth
    return raises, deepest


@contextlib.contextmanager
def _recursion_safe_short() -> Iterator[None]:
    """``validate._short`` with ``reprlib.repr`` (nesting cut at 6 levels) for ``repr``:
    what a fix in streaming/consumer/validate.py could do, tried here in memory."""
    import reprlib

    from streaming.consumer import validate

    def short(value: Any, limit: int = 40) -> str:
        text = reprlib.repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    saved = validate._short
    validate._short = short
    try:
        yield
    finally:
        validate._short = saved


def local_depth_scans() -> list[dict[str, Any]]:
    """``depth_scan`` of every variant whose codec this interpreter has."""
    codecs, _ = load_codecs()
    return [depth_scan(s) for s in DEPTH_SPECS if Variant.parse(s).codec in codecs]


def depth_scans(pythons: list[str]) -> list[dict[str, Any]]:
    rows = local_depth_scans()
    code = (
        "import json\nfrom bench.json_codecs import local_depth_scans as s\nprint(json.dumps(s()))"
    )
    for python in pythons:
        proc = subprocess.run(
            [python, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            rows.extend(json.loads(proc.stdout))
        else:
            rows.append({"python": python, "spec": "stdlib", "error": proc.stderr[-200:]})
    return rows


def spans(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs) or "none"


def run_tests(spec: str) -> dict[str, Any]:
    """The consumer's tests with ``spec`` swapped in (a fresh pytest process)."""
    env = {**os.environ, SWAP_ENV: "" if spec == "stdlib" else spec}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["-p", "bench.json_codecs", *TEST_FILES]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    summary = next((ln.strip("= ") for ln in reversed(lines) if " in " in ln), "no summary")
    failed = Counter(
        re.sub(r"\[.*", "", m.group(1).split("::")[-1])
        for ln in lines
        if (m := re.match(r"FAILED (\S+)", ln))
    )
    return {
        "spec": spec,
        "ok": proc.returncode == 0,
        "summary": re.sub(r" in [\d.]+s.*", "", summary),
        "failed": [f"{k} (x{n})" if n > 1 else k for k, n in sorted(failed.items())],
        "seconds": time.perf_counter() - t0,
    }


# -- cold start and size -------------------------------------------------------------

IMPORTS = {"json (stdlib)": "json", "orjson": "orjson", "msgspec.json": "msgspec.json"}
TIMED_IMPORT = "import time\nt = time.perf_counter()\nimport {0}\nprint(time.perf_counter() - t)"
#: the codec is kept out of the function's init (``decode`` imports msgspec when it
#: is there: blocked, it falls back to the stdlib), then imported and timed
AFTER_INIT = (
    "import sys, time\nsys.modules[{1!r}] = None\nt0 = time.perf_counter()\n"
    "import lambda_function\nt1 = time.perf_counter()\ndel sys.modules[{1!r}]\n"
    "t2 = time.perf_counter()\nimport {0}\nprint(time.perf_counter() - t2, t1 - t0)"
)


def _python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **common.FAKE_AWS}
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def _importtime_s(stderr: str, module: str) -> float:
    """Cumulative seconds of the outermost line of ``module`` (or its package)."""
    top = module.split(".", maxsplit=1)[0]
    best = 0
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in {module, top}:
            with contextlib.suppress(ValueError):
                best = max(best, int(parts[1]))
    return best / 1e6


def measure_imports(runs: int) -> dict[str, dict[str, list[float]]]:
    codecs, _ = load_codecs()
    modules = {k: m for k, m in IMPORTS.items() if m == "json" or m.split(".")[0] in codecs}
    out: dict[str, dict[str, list[float]]] = {
        k: {"fresh": [], "importtime": [], "after_init": [], "wall": []} for k in modules
    }
    out["(nothing)"] = {"wall": [], "init": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        _python("pass")
        out["(nothing)"]["wall"].append(time.perf_counter() - t0)
        for label, module in modules.items():
            t0 = time.perf_counter()
            fresh = _python(TIMED_IMPORT.format(module))
            out[label]["wall"].append(time.perf_counter() - t0)
            out[label]["fresh"].append(float(fresh.stdout))
            stderr = _python(f"import {module}", "-X", "importtime").stderr
            out[label]["importtime"].append(_importtime_s(stderr, module))
            top = module.split(".")[0]
            if top == "json":  # the init imports it whatever the codec: nothing to block
                code = AFTER_INIT.replace("sys.modules[{1!r}] = None", "").replace(
                    "del sys.modules[{1!r}]", ""
                )
            else:
                code = AFTER_INIT
            after, init = _python(code.format(module, top)).stdout.split()
            out[label]["after_init"].append(float(after))
            out["(nothing)"]["init"].append(float(init))
    return out


def _wheel_file(folder: Path, name: str, version: str | None) -> Path | None:
    stem = f"{name}-{version}-" if version else f"{name}-"
    found = sorted(folder.glob(f"{stem}*.whl")) if folder.is_dir() else []
    return found[-1] if found else None


def measure_wheels(download: bool) -> list[dict[str, Any]]:
    """The Lambda wheels of each codec: file, unpacked and re-deflated (as the zip) sizes."""
    versions = {}
    for name in ("orjson", "msgspec"):
        with contextlib.suppress(Exception):
            versions[name] = metadata_version(name)
    rows = []
    for pyver, plat in WHEEL_TARGETS:
        folder = WHEELS / f"cp{pyver.replace('.', '')}-{plat}"
        for name in ("orjson", "msgspec"):
            version = versions.get(name)
            wheel = _wheel_file(folder, name, version)
            note = ""
            if wheel is None and download:
                note = _pip_download(folder, name, version, pyver, [plat])
                if note and plat != LEGACY_PLATFORM:  # pip takes --platform literally
                    note = _pip_download(folder, name, version, pyver, [plat, LEGACY_PLATFORM])
                wheel = _wheel_file(folder, name, version)
            row = {"name": name, "target": f"cp{pyver.replace('.', '')} {plat}", "note": note}
            if wheel is not None:
                row.update(_wheel_sizes(wheel))
                if plat not in wheel.name:
                    row["note"] = (
                        f"`{wheel.name}` is not tagged {plat}: `pip download --platform "
                        f"{plat}` alone (the Makefile's) does not find it; the Makefile "
                        f"would need `--platform {LEGACY_PLATFORM}` too"
                    )
            rows.append(row)
    return rows


def metadata_version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def _pip_download(
    folder: Path, name: str, version: str | None, pyver: str, platforms: list[str]
) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    cmd += ["--no-deps", "--only-binary=:all:", "--implementation", "cp"]
    for plat in platforms:
        cmd += ["--platform", plat]
    cmd += ["--python-version", pyver, "-d", str(folder)]
    cmd.append(f"{name}=={version}" if version else name)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return "pip download timed out"
    return "" if proc.returncode == 0 else f"pip download failed: {proc.stderr.strip()[-120:]}"


def _wheel_sizes(wheel: Path) -> dict[str, Any]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        infos = src.infolist()
        for info in infos:
            dst.writestr(info.filename, src.read(info))  # as `python -m zipfile -c` would
    return {
        "wheel": wheel.name,
        "whl_bytes": wheel.stat().st_size,
        "unpacked_bytes": sum(i.file_size for i in infos),
        "zip_bytes": len(buffer.getvalue()),
    }


def function_zip() -> dict[str, int] | None:
    if not FUNCTION_ZIP.is_file():
        return None
    with zipfile.ZipFile(FUNCTION_ZIP) as z:
        unpacked = sum(i.file_size for i in z.infolist())
    return {"zip_bytes": FUNCTION_ZIP.stat().st_size, "unpacked_bytes": unpacked}


# -- report --------------------------------------------------------------------------


def md_table(columns: dict[str, list[str]]) -> str:
    heads = list(columns)
    rows = zip(*columns.values(), strict=True)
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


@dataclass
class Results:
    records: int
    rounds: int
    decode: dict[str, Any]
    path: dict[str, Any]
    share: dict[str, float] | None
    encode: dict[str, Any]
    decode_table: dict[str, list[str]]
    encode_table: dict[str, list[str]]
    handler_table: dict[str, list[str]]
    depths: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    imports: dict[str, dict[str, list[float]]]
    wheels: list[dict[str, Any]]
    current_zip: dict[str, int] | None


def decode_section(res: Results) -> str:
    times, identical = res.decode["times"], res.decode["identical"]
    names = res.decode["decoders"]
    base = med_ms(times[res.decode["baseline"]])
    table = {
        "decoder": names,
        f"ms per {res.records:,}, values kept": [timing_cell(times[k]) for k in names],
        "µs per record": [f"{med_ms(times[k]) * 1000 / res.records:.2f}" for k in names],
        "speed vs the project's `decode_payload`": [
            f"{base / med_ms(times[k]):.2f}x" for k in names
        ],
        "ms, each value dropped at once": [timing_cell(times[f"drop:{k}"]) for k in names],
        "values identical to stdlib": [f"{identical[k]:,}/{res.records:,}" for k in names],
    }
    path = res.path["times"]
    codecs = res.path["codecs"]
    path_table = {
        "": [
            "`decode_records` (base64, UTF-8, JSON, validation)",
            "saving vs stdlib (median of per-round differences)",
            "handler batch, TEST_RUN (decode, features, predict, response)",
            "saving vs stdlib (median of per-round differences)",
        ]
    }
    p0, b0 = med_ms(path["path:stdlib"]), med_ms(path["batch:stdlib"])
    for c in codecs:
        ps = saving_ms(path["path:stdlib"], path[f"path:{c}"])
        bs = saving_ms(path["batch:stdlib"], path[f"batch:{c}"])
        path_table[c] = [
            timing_cell(path[f"path:{c}"]),
            "-" if c == "stdlib" else f"{ps:.2f} ms ({ps / p0:.0%})",
            timing_cell(path[f"batch:{c}"]),
            "-" if c == "stdlib" else f"{bs:.2f} ms ({bs / b0:.0%})",
        ]
    return f"""## 1. Decode ({res.records:,} real payloads, bytes)

Median times, min-max in brackets; "kept": the {res.records:,} values in a list,
"dropped": each freed at once (the handler validates each value and drops it).

{md_table(table)}

\\* typed: parses into a `Struct` (ride_id `int | str`, trip_distance `float`, ...),
type-checking as it goes, so it also does part of `validate_ride`'s work, but answers
with msgspec's errors, not the project's reasons and words, and turns an integer
trip_distance into a float: not a drop-in, shown as the ceiling of what msgspec can do.

The project's whole decode path and the handler's batch, with each codec as
`decode_payload` ("guarded": the codec, then the stdlib for whatever it refuses;
on these valid payloads the stdlib is never called):

{md_table(path_table)}

{share_text(res)}
"""


def share_text(res: Results) -> str:
    path = res.path["times"]
    whole = med_ms(path["path:stdlib"])
    free = med_ms(path["path:no-json"])
    json_ms = saving_ms(path["path:stdlib"], path["path:no-json"])
    alone = med_ms(res.decode["times"][res.decode["baseline"]])
    lines = [
        "The share of JSON (`decode_payload`: UTF-8 decode + parse) in `decode_records`:",
        "",
        f"- **ablation: {json_ms / whole:.0%}** ({json_ms:.2f} ms, median of per-round "
        f"differences): the path takes {free:.2f} ms when `decode_payload` is a "
        "dictionary look-up of each payload's value (a parser that costs nothing), "
        f"against {whole:.2f} ms with the stdlib;",
        f"- standalone: {alone / whole:.0%}: the project's `decode_payload` over the "
        f"payloads alone, {alone:.2f} ms with every value kept "
        f"({med_ms(res.decode['times']['drop:' + res.decode['baseline']]):.2f} ms "
        "freeing each at once, as the path does after validation): more than the "
        "ablation finds, so the in-path savings, not the standalone ones, are what the "
        "handler gains;",
    ]
    if res.share and res.share.get("decode_records"):
        total = res.share["decode_records"]
        parts = ", ".join(
            f"`{name}` {res.share.get(name, 0.0) / total:.0%}"
            for name in ("decode_payload", "validate_ride", "__init__")
        )
        lines.append(
            f"- pyinstrument ({PROFILE_REPEATS} batches, 0.1 ms interval): {parts} "
            "(`__init__`: RecordRef and Ride construction); the rest is base64, the "
            "per-record wrappers and list building. Its hook runs on every Python call, "
            "so it inflates call-heavy Python code (validation) against the one C call "
            "that parses: it understates the JSON share."
        )
    else:
        lines.append("- pyinstrument not installed: no profile.")
    return "\n".join(lines)


def encode_section(res: Results) -> str:
    times, identical, held = res.encode["times"], res.encode["identical"], res.encode["held"]
    names = res.encode["encoders"]
    base = med_ms(times[res.encode["baseline"]])
    table = {
        "encoder": names,
        f"ms per {res.records:,}, outputs kept (as `_publish`)": [
            timing_cell(times[k]) for k in names
        ],
        "µs per record": [f"{med_ms(times[k]) * 1000 / res.records:.2f}" for k in names],
        "vs stdlib": [f"{base / med_ms(times[k]):.2f}x" for k in names],
        "ms, each output dropped at once": [timing_cell(times[f"drop:{k}"]) for k in names],
        f"memory held by the {res.records:,} outputs": [mib(held[k]) for k in names],
        "bytes identical to stdlib": [f"{identical[k]:,}/{res.records:,}" for k in names],
    }
    return f"""## 2. Encode ({res.records:,} prediction events)

The events the handler publishes for this batch (`RideDurationService.process(...)
.predictions`: `model`, `version`, `prediction{{ride_duration, ride_id}}`,
`source{{eventID}}`), each encoded as `_publish` does, one `compact_json` per event.
Only a publishing invocation encodes (TEST_RUN does not); dead letters use the same
function but are rare. `_publish` keeps every encoded event (in its `Entry`) until
the PutRecords calls are done, so the kept figure is the handler's; "dropped" frees
each output at once, for comparison. Memory: what tracemalloc counts as allocated
for the outputs while they are all kept. Median times, min-max in brackets.

{md_table(table)}
"""


def semantics_section(res: Results) -> str:
    tests = {
        "swapped in": [Variant.parse(t["spec"]).label for t in res.tests],
        "result": [("pass: " if t["ok"] else "**FAIL**: ") + t["summary"] for t in res.tests],
        "failing tests": [", ".join(t["failed"]) or "-" for t in res.tests],
    }
    files = ", ".join(Path(f).stem for f in TEST_FILES)
    tests_text = (
        f"{md_table(tests)}\n\nTests: {files} (the property tests run the `ci` "
        "profile: derandomised, each test's own budget)."
        if res.tests
        else "Not run (`--no-tests`, or no codec installed)."
    )
    return f"""## 3. Semantics the poison-proof rules rest on

Each decoder on its own (the project's `decode_payload` is the stdlib with
`parse_constant` refusing NaN/Infinity and RecursionError caught: it has no depth
limit of its own, the interpreter's recursion limit is it):

{md_table(res.decode_table)}

Each encoder on its own (the project's `compact_json` has `allow_nan=False` and
escapes non-ASCII):

{md_table(res.encode_table)}

What the handler publishes for one record, each codec swapped in for both
`decode_payload` and `compact_json` (or as named). **Bold**: not what the shipped
handler does; "(other bytes)": same outcome, different bytes published.

{md_table(res.handler_table)}

{depth_text(res)}

The consumer's unit and property tests, unchanged, with each codec swapped in
(`BENCH_JSON_SWAP=<variant> pytest -p bench.json_codecs ...`):

{tests_text}
"""


def depth_text(res: Results) -> str:
    still = [d for d in res.depths if d.get("raises_safe")]
    safe_text = (
        "no depth fails the batch any more, whatever the codec: the fix belongs in "
        "validate.py, not in the choice of codec."
        if not still
        else "some depths still fail: "
        + "; ".join(f"{d['python']} {d['spec']}: {spans(d['raises_safe'])}" for d in still)
    )
    table = {
        "Python": [d["python"] for d in res.depths],
        "decode_payload": [Variant.parse(d["spec"]).label for d in res.depths],
        "deepest value parsed": [str(d.get("deepest", "?")) for d in res.depths],
        "depths at which RecursionError escapes `decode_records`": [
            spans(d["raises"]) if "raises" in d else f"not run: {d['error'][-80:]}"
            for d in res.depths
        ],
        "same, `_short` recursion-safe": [spans(d.get("raises_safe", [])) for d in res.depths],
    }
    return f"""### Nesting that fails the whole batch

`{{"ride": {{"PULocationID": [[...]]}}, ...}}` nested {DEPTHS.start:,} to {DEPTHS.stop - 1:,}
deep, one record per batch, through `decode_records` (the handler does not catch what
escapes it: the invocation fails, and the event source mapping retries and bisects the
batch until the record goes to the on-failure queue, bypassing the dead-letter stream):

{md_table(table)}

The parser refuses what is too deep for the stack left (`invalid_json`), but a value
nested just below that limit parses with only a few frames to spare; the validator
then describes the bad field with `_short(value)` (streaming/consumer/validate.py).
Until a703bf5 that was a plain `repr(value)`, which needed more frames and raised
RecursionError: on Python 3.11 a poison pill whatever the codec, which a codec whose
depth limit does not follow the stack (orjson: 1024) widened to every depth from the
stdlib's limit to its own. `_short` now cuts nesting at 6 levels (`reprlib`), and the
first depth column is what this build does. The exact depths shift with the caller's
stack depth (the Lambda runtime and Powertools add frames). The last column: `_short`
with `reprlib.repr` swapped in memory (what the shipped one does since a703bf5):
{safe_text}"""


def imports_section(res: Results) -> str:
    imp = res.imports
    labels = [k for k in imp if k != "(nothing)"]
    base_wall = med_ms(imp["(nothing)"]["wall"])
    table = {
        "module": labels,
        "import, fresh interpreter": [f"{med_ms(imp[k]['fresh']):.1f} ms" for k in labels],
        "`-X importtime` cumulative": [f"{med_ms(imp[k]['importtime']):.1f} ms" for k in labels],
        "process wall vs `python -c pass`": [
            f"+{med_ms(imp[k]['wall']) - base_wall:.1f} ms" for k in labels
        ],
        "**import after the function's init** (`import lambda_function` first)": [
            f"**{med_ms(imp[k]['after_init']):.2f} ms**" for k in labels
        ],
    }
    runs = len(imp["(nothing)"]["wall"])
    return f"""## 4. Cold start (medians of {runs} fresh interpreters each, alternating)

{md_table(table)}

A fresh interpreter pays for what the codec imports besides itself (orjson
imports `json`, `datetime`, `uuid`, `dataclasses`; msgspec all of its formats).
The function's init (`import lambda_function`: settings, model, Kinesis client,
Powertools; median {med_ms(imp["(nothing)"]["init"]):.0f} ms here, the codec kept out of
it) has imported those already, so the last column is what the codec adds to the
cold start.
`json` is imported by the handler's own modules, boto3 and Powertools: it costs
the function nothing more. Local page cache is warm; a cold Lambda also reads
the extension module from its code storage.
"""


def size_section(res: Results) -> str:
    rows = [r for r in res.wheels if "wheel" in r]
    notes = [f"{r['name']} {r['target']}: {r['note']}" for r in res.wheels if r.get("note")]
    current = res.current_zip
    zip_text = (
        f"The current function zip (`{FUNCTION_ZIP.relative_to(REPO)}`, `make package`): "
        f"{mb(current['zip_bytes'])} zipped, {mb(current['unpacked_bytes'])} unpacked."
        if current
        else "No function zip here (`make package` builds it; the README says ~36 MB)."
    )
    if not rows:
        return f"## 5. Size\n\nNo wheels measured. {'; '.join(notes)}\n\n{zip_text}\n"
    table = {
        "wheel": [f"`{r['wheel']}`" for r in rows],
        ".whl": [mb(r["whl_bytes"]) for r in rows],
        "unpacked": [mb(r["unpacked_bytes"]) for r in rows],
        "added to the zip (deflated)": [mb(r["zip_bytes"]) for r in rows],
        "of the current zip": [
            f"+{r['zip_bytes'] / current['zip_bytes']:.1%}" if current else "?" for r in rows
        ],
    }
    extra = f"\n\n{'; '.join(notes)}" if notes else ""
    return f"""## 5. Size (Lambda wheels, `pip download --only-binary=:all: --platform ...`)

{md_table(table)}{extra}

{zip_text} `make package` builds for python3.12, manylinux_2_28 (Makefile,
template.yaml): the cp312 rows.
"""


def verdicts(res: Results) -> list[dict[str, Any]]:
    out = []
    path = res.path["times"]
    enc = res.encode["times"]
    enc_base = enc[res.encode["baseline"]]
    for codec in res.path["codecs"]:
        if codec == "stdlib":
            continue
        decode_saving = saving_ms(path["path:stdlib"], path[f"path:{codec}"])
        enc_key = next(k for k in enc if k.startswith(codec))
        encode_saving = saving_ms(enc_base, enc[enc_key])
        label = next(k for k in res.imports if k.startswith(codec))
        cold = med_ms(res.imports[label]["after_init"])
        built = [r for r in res.wheels if r["name"] == codec and "wheel" in r]
        wheel = next((r for r in built if "2_28" in r["target"]), None)
        tests = {t["spec"]: t["ok"] for t in res.tests if t["spec"].startswith(codec)}
        probes = {
            mode: sum("**" in c for c in res.handler_table.get(Variant(codec, mode).label, []))
            for mode in ("dropin", "guarded")
        }
        worse, fixable = _depth_verdict(res.depths, codec)
        out.append(
            {
                "codec": codec,
                "records": res.records,
                "depths_worse": worse,
                "depths_fixable": fixable,
                "decode": decode_saving,
                "encode": encode_saving,
                "total": decode_saving + encode_saving,
                "cold": cold,
                "zip": wheel["zip_bytes"] if wheel else None,
                "held": res.encode["held"].get(enc_key),
                "held_base": res.encode["held"][res.encode["baseline"]],
                "tests": tests,
                "probes": probes,
            }
        )
    return out


def _depth_verdict(depths: list[dict[str, Any]], codec: str) -> tuple[list[str], bool]:
    """Interpreters on which the guarded codec fails more batches than the stdlib, and
    whether a recursion-safe ``_short`` removes every such failure."""
    by_python: dict[str, dict[str, dict[str, Any]]] = {}
    for d in depths:
        if "raises" in d:
            by_python.setdefault(d["python"], {})[Variant.parse(d["spec"]).codec] = d
    worse = [
        python
        for python, scans in by_python.items()
        if codec in scans and len(scans[codec]["raises"]) > len(scans["stdlib"]["raises"])
    ]
    fixable = all(not s[codec]["raises_safe"] for s in by_python.values() if codec in s)
    return worse, fixable


def verdict_section(res: Results) -> str:
    rows = verdicts(res)
    if not rows:
        return "## Verdict\n\nNo other codec installed: nothing to compare.\n"
    zip_now = res.current_zip["zip_bytes"] if res.current_zip else None
    table = {
        "codec": [r["codec"] for r in rows],
        f"decode saving, ms per {res.records:,}": [f"{r['decode']:.2f}" for r in rows],
        f"encode saving, ms per {res.records:,}": [f"{r['encode']:.2f}" for r in rows],
        "**per-batch saving**": [f"**{r['total']:.2f} ms**" for r in rows],
        "**cold-start cost** (import after init)": [f"**{r['cold']:.2f} ms**" for r in rows],
        "zip growth": [
            (mb(r["zip"]) + (f" (+{r['zip'] / zip_now:.1%})" if zip_now else ""))
            if r["zip"]
            else "?"
            for r in rows
        ],
        f"memory held by {res.records:,} encoded events (stdlib: {mib(rows[0]['held_base'])})": [
            mib(r["held"]) for r in rows
        ],
        "tests pass (drop-in / guarded)": [
            " / ".join(
                "yes" if r["tests"].get(f"{r['codec']}:{m}") else "**no**"
                for m in ("dropin", "guarded")
            )
            if r["tests"]
            else "not run"
            for r in rows
        ],
        "handler probes unlike stdlib (drop-in / guarded)": [
            f"{r['probes']['dropin']} / {r['probes']['guarded']}" for r in rows
        ],
        "more nesting depths fail the batch than with stdlib (guarded)": [
            ("on Python " + ", ".join(r["depths_worse"])) if r["depths_worse"] else "no"
            for r in rows
        ],
        "adopt?": [_adopt(r) for r in rows],
    }
    return f"""## Verdict

The issue's rule: adopt a codec only if it wins on both decode + encode time and
cold start / zip size net, and the poison-proof property tests pass unchanged.

{md_table(table)}

{verdict_text(rows)}

{memory_text(rows)}

{gap_text(res)}

Not in the table: both write NaN and infinities as `null` where `compact_json`
raises (unreachable from the handler today: a non-finite prediction is dead-lettered
as `prediction_not_finite` before anything is encoded), and both write non-ASCII
as raw UTF-8 where `compact_json` escapes it (other bytes, same JSON value). The
zip growth is not converted into milliseconds: what +0.1-0.2 MB on a 36 MB package
adds to a Lambda's code download cannot be measured here.
"""


def _adopt(row: dict[str, Any]) -> str:
    faster = row["total"] > 0
    repays = row["total"] >= row["cold"]
    tests_pass = bool(row["tests"].get(f"{row['codec']}:guarded"))
    same = row["probes"]["guarded"] == 0
    deeper = bool(row["depths_worse"])
    if faster and repays and tests_pass and same and not deeper:
        return (
            "**yes, for decoding** (`decode_payload`, the stdlib deciding every refusal); "
            "the handler's events keep the template encoder, byte-identical to "
            "`compact_json`"
        )
    if faster and repays and tests_pass and same and row["depths_fixable"]:
        return (
            "**not yet**: only once validate's `_short` is recursion-safe (it widens a "
            "Python 3.11 poison pill the shipped handler already has, section 3)"
        )
    why = []
    if not faster:
        why.append("not faster")
    elif not repays:
        why.append("import costs more than a batch saves")
    if not tests_pass:
        why.append("tests fail" if row["tests"] else "tests not run")
    if not same:
        why.append("publishes differently")
    if deeper:
        why.append("more nesting depths fail the batch")
    return "**no**: " + ", ".join(why)


def verdict_text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        batches = r["cold"] / r["total"] if r["total"] > 0 else float("inf")
        lines.append(
            f"- **{r['codec']}**: saves {r['total']:.2f} ms per {r['records']:,}-record batch "
            f"({r['decode']:.2f} decode + {r['encode']:.2f} encode) for a cold-start "
            f"import of {r['cold']:.2f} ms (repaid after {batches:.2f} batches) and "
            + (f"{mb(r['zip'])} more zip" if r["zip"] else "an unmeasured zip growth")
            + f"; verdict: {_adopt(r)}."
        )
    return "\n".join(lines)


def memory_text(rows: list[dict[str, Any]]) -> str:
    heavy = [r for r in rows if r["held"] and r["held"] > 2 * r["held_base"]]
    return " ".join(
        f"{r['codec']}'s {r['records']:,} encoded events hold {mib(r['held'])} against the "
        f"stdlib's {mib(r['held_base'])} (each output keeps more memory than its length) "
        f"while `_publish` holds them: about {mib(r['held'] - r['held_base'])} more peak "
        "memory per batch (bench/RESULTS.md: 93 MiB peak RSS for a published 10,000-record "
        "batch; target <= 150 MiB)."
        for r in heavy
    )


def gap_text(res: Results) -> str:
    """Variants whose tests pass although the handler publishes otherwise."""
    passed = {Variant.parse(t["spec"]).label for t in res.tests if t["ok"]}
    gaps = []
    for label, cells in res.handler_table.items():
        probes = res.handler_table["record data"]
        bold = [probe for probe, c in zip(probes, cells, strict=True) if "**" in c]
        if label in passed and bold and not label.startswith("stdlib"):
            gaps.append(f"{label} ({', '.join(bold)})")
    if not gaps:
        return ""
    return (
        "The property tests do not decide it alone: they pass unchanged with "
        + "; ".join(gaps)
        + ", although the handler then publishes otherwise for those records (section 3)."
    )


def render(res: Results, seconds: float, argv: list[str]) -> str:
    codecs, missing = load_codecs()
    m = common.machine()
    versions = "; ".join(
        [f"{c.name} {c.version}" for c in codecs.values()]
        + [f"{n} {why}" for n, why in missing.items()]
    )
    return f"""# JSON codecs for the Lambda handler: stdlib `json` vs orjson vs msgspec

Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} in {seconds:.0f} s. Codecs: {versions}.
One batch of {res.records:,} real rides (NYC green taxi, 2023-02, `bench/common.py`);
every time is the median of {res.rounds} rounds, the variants alternating within
each round, cyclic GC off while timed (as in the handler), in CPU time of the
process (`time.process_time`: this 2-core machine is shared, and wall times swung
2x between rounds); a saving is the median of the per-round differences. Times are
this machine's (below); a Lambda's CPU share depends on its memory size.

{verdict_section(res)}
{decode_section(res)}
{encode_section(res)}
{semantics_section(res)}
{imports_section(res)}
{size_section(res)}
## Reproduce

```
.venv/bin/pip install orjson msgspec         # not project dependencies: measure, then
# optional, the nesting scan on other interpreters (the Lambda runs 3.12):
python3.12 -m venv /tmp/py312 && /tmp/py312/bin/pip install orjson msgspec
.venv/bin/python -m bench.json_codecs --depth-pythons /tmp/py312/bin/python
.venv/bin/pip uninstall -y orjson msgspec
```

This report: `python -m bench.json_codecs {" ".join(argv)}` (`--records`, `--rounds`,
`--import-runs`, `--no-tests`, `--no-download`, `--depth-pythons`).

Machine: {m["cpu"]}, {m["cores"]} cores, {m["memory"]}; {m["os"]}; Python {m["python"]};
{m["versions"]}.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--import-runs", type=int, default=10)
    ap.add_argument("--no-tests", action="store_true", help="skip the swapped test runs")
    ap.add_argument("--no-download", action="store_true", help="no pip download of wheels")
    ap.add_argument(
        "--depth-pythons",
        nargs="*",
        default=[],
        metavar="PYTHON",
        help="other interpreters to run the nesting-depth scan with (stdlib only)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.rounds < 7:
        ap.error("--rounds must be at least 7")
    started = time.perf_counter()
    common.ensure_path()
    from streaming.consumer.config import Settings
    from streaming.consumer.handler import RideDurationService
    from streaming.model import load_model

    codecs, _ = load_codecs()
    payloads = common.ride_payloads(args.records)
    event = common.lambda_event(payloads)
    model = load_model(REPO / "models")
    service = RideDurationService(model, Settings(test_run=True))
    predictions = service.process(event).predictions
    assert len(predictions) == args.records, "every real ride must be predicted"
    with_codecs = len(codecs) > 1
    res = Results(
        records=args.records,
        rounds=args.rounds,
        decode=measure_decode([d for d, _ in payloads], args.rounds),
        path=measure_path(event, service, args.rounds),
        share=json_share(event["Records"]),
        encode=measure_encode(predictions, args.rounds),
        decode_table=decode_semantics(),
        encode_table=encode_semantics(),
        handler_table=handler_semantics(model),
        depths=depth_scans(args.depth_pythons),
        tests=[]
        if args.no_tests or not with_codecs
        else [run_tests(s) for s in TEST_SWAPS if Variant.parse(s).codec in {"stdlib", *codecs}],
        imports=measure_imports(args.import_runs),
        wheels=measure_wheels(download=not args.no_download),
        current_zip=function_zip(),
    )
    given = sys.argv[1:] if argv is None else argv
    text = render(res, time.perf_counter() - started, given)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
