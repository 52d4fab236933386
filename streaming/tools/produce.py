"""``streaming send``: play rides into the input stream as the taxi app's backend would.

Rides come from a TLC month (each with its real ``pickup_datetime``, so the
model sees the hour the ride really started; its ``ride_id`` is the trip's row
in the month's file, as ``streaming score`` and ``evaluate --month`` number it)
or are generated. They go out through PutRecords in chunks at a steady
``--rate``, with the same retry-only-the-failed-entries logic as the handler
(``publish.py``). The stream is checked first; sending stops at the first error
that no retry can clear, with its cause.

With ``--finished-stream``, each TLC ride's ``ride_finished`` event
(``schemas/ride_finished.v1.json``: the same ``ride_id``, its pickup and drop-off
times as the TLC file gives them, ``duration_minutes`` and ``PULocationID``) goes
to that stream too, ``--time-scale`` seconds per minute of the ride after its
started event: the ride's own time sped up ``60 / --time-scale`` times (600 by
default: a 10-minute ride finishes 1 s after it started, a 60-minute one 6 s,
so a demo ends at most 6 s after its last ride started; not derived from
``--rate``, which plays a month's rides in seconds and would put each finish
milliseconds after its start). The delay counts from when the started event
went out, so it holds even when sending falls behind; a finished event never
goes out before its own started one. Generated rides have no drop-off time:
``--generate`` with ``--finished-stream`` is refused rather than given invented
durations, which would make the actuals a consumer judges predictions by fiction.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import CommandParser, non_negative_float, positive_int
from streaming.consumer.kinesis_limits import MAX_RECORDS_PER_CALL
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.publish import Entry, PublishOutcome, publish
from streaming.tools import finished
from streaming.tools.common import (
    DATA_DIR_HELP,
    add_aws_options,
    kinesis_client,
    load_tlc_trips,
    month_arg,
    tlc_month_file,
    where,
)
from streaming.tools.stream_io import require_stream


@dataclass
class SendStats:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    #: ride index -> wall-clock time its PutRecords call started
    sent_at: dict[int, float] = field(default_factory=dict)
    #: why sending stopped early (a non-retryable error, or nothing got through)
    error: str | None = None
    #: error code -> entries or calls that met it, over the whole run
    errors: Counter[str] = field(default_factory=Counter)


def sample_trips(trips: Any, count: int, seed: int = 0) -> Any:
    """``count`` trips of a ``tlc.load_trips`` frame (all if fewer), in pickup order,
    still indexed by their ride id: the rides ``send`` plays, started and finished."""
    return trips.sample(n=min(count, len(trips)), random_state=seed).sort_values(
        "pickup_datetime", kind="stable"
    )


def sample_rides(trips: Any, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` trips of a ``tlc.load_trips`` frame (all if fewer), in pickup order.

    Each event's ``ride_id`` is the trip's ride id (``tlc``'s rule: its row in
    the month's file), so ``evaluate --month`` and ``score`` name it alike."""
    from streaming.training import tlc

    return tlc.ride_events(sample_trips(trips, count, seed))


def tlc_rides(path: Path, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` rides sampled from a TLC month (all if fewer), in pickup order."""
    from streaming.training import tlc

    trips, _ = tlc.load_trips(path)
    return sample_rides(trips, count, seed)


def generated_rides(count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now().replace(microsecond=0)
    return [
        {
            "ride": {
                "PULocationID": rng.randint(1, 265),
                "DOLocationID": rng.randint(1, 265),
                "trip_distance": round(rng.expovariate(1 / 3.0), 2),
                "pickup_datetime": now.isoformat(),
            },
            "ride_id": f"gen-{seed}-{i}",
        }
        for i in range(count)
    ]


def send_events(
    client: Any,
    stream: str,
    payloads: Sequence[tuple[bytes, str]],
    *,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    stop: Any = None,
    stats: SendStats | None = None,
) -> SendStats:
    """Send ``(data, partition key)`` pairs; at ``rate`` records/s if given.

    Stops at the first chunk that met a non-retryable error (no such stream,
    access denied, ...) or of which nothing got through after the retries (the
    endpoint is gone): ``stats.error`` says why, and the rest is not sent.
    ``stats`` (updated as records go out) lets another thread watch progress."""
    send = kinesis_sender(client)
    stats = stats if stats is not None else SendStats()
    started = time.monotonic()
    chunk = MAX_RECORDS_PER_CALL
    if rate:
        chunk = max(1, min(MAX_RECORDS_PER_CALL, int(rate / 10) or 1))  # ~10 calls a second
    for first in range(0, len(payloads), chunk):
        if stop is not None and stop.is_set():
            break
        if rate:
            due = started + first / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        part = payloads[first : first + chunk]
        now = time.time()
        for i in range(first, first + len(part)):
            stats.sent_at[i] = now
        outcome = publish(send, stream, [Entry(d, k, first + i) for i, (d, k) in enumerate(part)])
        stats.failed += len(outcome.failed)
        stats.sent += outcome.published
        stats.errors.update(outcome.errors)
        if progress:
            progress(len(part))
        stats.error = _stop_reason(outcome, stream)
        if stats.error:
            break
    stats.seconds = time.monotonic() - started
    return stats


def send_scheduled(
    client: Any,
    streams: tuple[str, str],
    payloads: tuple[Sequence[tuple[bytes, str]], Sequence[tuple[bytes, str]]],
    plan: finished.Schedule,
    *,
    progress: Callable[[int], None] | None = None,
    stop: Any = None,
) -> tuple[SendStats, SendStats]:
    """Send started events to ``streams[0]`` and finished ones to ``streams[1]``, each
    when ``plan`` says (``finished.Schedule``: seconds after sending starts).

    Each step sleeps until the next event is due - never past it - then sends
    every event due by then (at most one PutRecords-sized chunk), the started
    ones first, and once their call has returned tells ``plan`` that they
    started, which sets when they finish: a finished event goes out at least
    its ride's duration after its started event was written, however long that
    call took, and at a high rate the time a call takes gathers the events due
    meanwhile into one call. ``payloads`` are the ``(data, partition key)`` pairs
    of each stream, indexed by ``Due.index``. Stops at the first chunk of either stream that no
    retry can clear (as ``send_events``): that stream's ``error`` says why.
    Returns the started and the finished streams' stats."""
    send = kinesis_sender(client)
    stats = (SendStats(), SendStats())
    started = time.monotonic()
    try:
        while (nxt := plan.peek()) is not None and not (stop is not None and stop.is_set()):
            delay = started + nxt.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            step = _take_due(plan, time.monotonic() - started)
            for kind in (finished.STARTED, finished.FINISHED):
                refs = [d.index for d in step if d.kind == kind]
                if refs and _send_step(send, streams[kind], payloads[kind], refs, stats[kind]):
                    return stats  # nothing later can do better
                if kind == finished.STARTED:
                    # Timed from the call's return, not from when the step was taken: a slow
                    # call must not bring a ride's finish closer to its start.
                    went_out = time.monotonic() - started
                    for i in refs:
                        plan.started(i, went_out)
                if progress and refs:
                    progress(len(refs))
        return stats
    finally:
        for s in stats:
            s.seconds = time.monotonic() - started


def _take_due(plan: finished.Schedule, now: float) -> list[finished.Due]:
    """The events of ``plan`` due by ``now`` (the first one whatever its time: the sender
    slept until it), at most one PutRecords call's worth. The rides they start are
    reported started by the caller, once their call has returned."""
    step: list[finished.Due] = []
    while (nxt := plan.peek()) is not None and len(step) < MAX_RECORDS_PER_CALL:
        if step and nxt.at > now:
            break
        step.append(plan.pop())
    return step


def _send_step(
    send: Any, stream: str, payloads: Sequence[tuple[bytes, str]], refs: list[int], stats: SendStats
) -> bool:
    """Publish the entries ``refs`` of ``payloads``; True if sending must stop."""
    now = time.time()
    for i in refs:
        stats.sent_at[i] = now
    outcome = publish(send, stream, [Entry(*payloads[i], i) for i in refs])
    stats.failed += len(outcome.failed)
    stats.sent += outcome.published
    stats.errors.update(outcome.errors)
    stats.error = _stop_reason(outcome, stream)
    return stats.error is not None


def _stop_reason(outcome: PublishOutcome, stream: str) -> str | None:
    """Why no later chunk can do better than this one, or None to go on."""
    if not outcome.failed:
        return None
    reason = outcome.gave_up_reason or ""
    if outcome.published and not reason.startswith("non-retryable"):
        return None  # some got through: a passing throttle, go on and count the rest
    why = reason or "no entry written"
    return f"PutRecords to {stream} failed: {_codes(outcome.errors)} ({why})"


def _codes(errors: Counter[str]) -> str:
    return ", ".join(f"{code} x{n}" for code, n in errors.most_common()) or "no error code"


def build_parser() -> CommandParser:
    p = CommandParser("streaming send", __doc__ or "")
    p.add_argument("--stream", default="ride_events", help="input stream")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--month",
        type=month_arg,
        metavar="YYYY-MM",
        default="2023-02",
        help="TLC month YYYY-MM, read from --data-dir (2023-02 is unseen by the model)",
    )
    source.add_argument(
        "--file",
        type=Path,
        metavar="PARQUET",
        help="a TLC green-taxi parquet file instead of --month; its name must contain "
        "its month YYYY-MM (default: none)",
    )
    source.add_argument(
        "--generate", action="store_true", help="random rides with pickup = now, not TLC ones"
    )
    p.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument(
        "--count",
        type=positive_int,
        default=1000,
        metavar="N",
        help="rides to send; more than the month has is an error",
    )
    p.add_argument(
        "--rate",
        type=non_negative_float,
        default=0.0,
        metavar="PER_SECOND",
        help="records per second; with --finished-stream, rides started per second, their "
        "finished events on top (default: %(default)s = as fast as PutRecords allows)",
    )
    p.add_argument("--seed", type=int, default=0, help="which rides are sampled or generated")
    p.add_argument(
        "--finished-stream",
        metavar="STREAM",
        help="also send each TLC ride's ride_finished event (schemas/ride_finished.v1.json: "
        "same ride_id, pickup and drop-off time, duration_minutes) to this stream, "
        "--time-scale seconds per minute of the ride after its started event (default: "
        "none, no finished events; not with --generate, whose rides have no drop-off)",
    )
    p.add_argument(
        "--time-scale",
        type=non_negative_float,
        metavar="SECONDS",
        help="how long one minute of a ride lasts when played: its finished event is sent "
        "duration in minutes x SECONDS after its started event, the ride's time sped up "
        f"60/SECONDS times (default: {finished.DEFAULT_TIME_SCALE:g}, a 10-minute ride "
        "finishes 1 s after it started; 60 = real time, 0 = right after); only with "
        "--finished-stream",
    )
    add_aws_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.time_scale is not None and not args.finished_stream:
        raise usage_error("--time-scale times the finished events: give --finished-stream too")
    events, finished_events = _events(args)
    payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
    client = kinesis_client(args)
    require_stream(client, args.stream, "--stream", where(args))
    if args.finished_stream:
        require_stream(client, args.finished_stream, "--finished-stream", where(args))
        return _send_with_finished(args, client, events, payloads, finished_events)
    from tqdm import tqdm

    with tqdm(
        total=len(payloads),
        unit="ride",
        desc=f"send -> {args.stream}",
        file=sys.stderr,
        disable=None,  # a bar on a terminal; nothing when stderr is a file or a pipe
    ) as bar:
        stats = send_events(
            client, args.stream, payloads, rate=args.rate or None, progress=bar.update
        )
    print(json.dumps(_summary(stats)))
    if stats.error:
        raise CommandError(
            f"{stats.error}; stopped after {stats.sent} of {len(payloads)} rides "
            f"(check --stream and --endpoint-url)"
        )
    if stats.failed:
        raise CommandError(
            f"{stats.failed} of {len(payloads)} rides not sent after retries "
            f"({_codes(stats.errors)}); send them again or lower --rate"
        )
    return 0


def _send_with_finished(
    args: Any,
    client: Any,
    events: list[dict[str, Any]],
    payloads: list[tuple[bytes, str]],
    finished_events: list[dict[str, Any]],
) -> int:
    """``send --finished-stream``: started and finished events, each when it is due."""
    from tqdm import tqdm

    finished_payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in finished_events]
    time_scale = finished.DEFAULT_TIME_SCALE if args.time_scale is None else args.time_scale
    plan = finished.Schedule(
        [e["duration_minutes"] for e in finished_events],
        rate=args.rate or None,
        time_scale=time_scale,
    )
    with tqdm(
        total=len(payloads) + len(finished_payloads),
        unit="event",
        desc=f"send -> {args.stream} + {args.finished_stream}",
        file=sys.stderr,
        disable=None,
    ) as bar:
        stats, done = send_scheduled(
            client,
            (args.stream, args.finished_stream),
            (payloads, finished_payloads),
            plan,
            progress=bar.update,
        )
    print(
        json.dumps({**_summary(stats), "finished_sent": done.sent, "finished_failed": done.failed})
    )
    n = len(events)
    if stats.error or done.error:
        raise CommandError(
            f"{stats.error or done.error}; stopped after {stats.sent} of {n} rides and "
            f"{done.sent} of {n} finished events (check --stream, --finished-stream and "
            "--endpoint-url)"
        )
    if stats.failed or done.failed:
        raise CommandError(
            f"{stats.failed} of {n} rides and {done.failed} of {n} finished events not sent "
            f"after retries ({_codes(stats.errors + done.errors)}); send them again or "
            "lower --rate"
        )
    return 0


def _summary(stats: SendStats) -> dict[str, Any]:
    return {
        "sent": stats.sent,
        "failed": stats.failed,
        "seconds": round(stats.seconds, 2),
        "records_per_s": round(stats.sent / stats.seconds) if stats.seconds else None,
    }


def _events(args: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rides ``args`` ask for and, with ``--finished-stream``, their ``ride_finished``
    events (same order, same ride ids; else none); or a one-line error (no such
    month, too many rides, generated rides with --finished-stream)."""
    from streaming.training import tlc

    if args.generate:
        if args.file or args.data_dir:
            raise usage_error("--generate makes its own rides: drop --file / --data-dir")
        if args.finished_stream:
            raise usage_error(
                "--finished-stream needs TLC rides (their real drop-off time); --generate "
                "rides have none: drop --generate or --finished-stream"
            )
        return generated_rides(args.count, args.seed), []
    if args.file:
        path, option = args.file, "--file"
        if args.data_dir:
            raise usage_error("--file names the file itself: drop --data-dir")
    else:
        path, option = tlc_month_file(args.data_dir, args.month), "--month"
    trips = load_tlc_trips(path, option)
    if args.count > len(trips):
        raise usage_error(
            f"--count {args.count}: {path.name} has only {len(trips)} usable rides "
            f"(give --count {len(trips)} or less)"
        )
    sample = sample_trips(trips, args.count, args.seed)
    done = finished.finished_events(sample) if args.finished_stream else []
    return tlc.ride_events(sample), done
