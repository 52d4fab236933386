"""``streaming send``: play rides into the input stream as the taxi app's backend would.

Rides come from a TLC month (each with its real ``pickup_datetime``, so the
model sees the hour the ride really started; its ``ride_id`` is the trip's row
in the month's file, as ``streaming score`` and ``evaluate --month`` number it)
or are generated. They go out through PutRecords in chunks at a steady
``--rate``, with the same retry-only-the-failed-entries logic as the handler
(``publish.py``). The stream is checked first; sending stops at the first error
that no retry can clear, with its cause.
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


def sample_rides(trips: Any, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` trips of a ``tlc.load_trips`` frame (all if fewer), in pickup order.

    Each event's ``ride_id`` is the trip's ride id (``tlc``'s rule: its row in
    the month's file), so ``evaluate --month`` and ``score`` name it alike."""
    from streaming.training import tlc

    sample = trips.sample(n=min(count, len(trips)), random_state=seed).sort_values(
        "pickup_datetime", kind="stable"
    )
    return tlc.ride_events(sample)


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
        help="records per second (default: %(default)s = as fast as PutRecords allows)",
    )
    p.add_argument("--seed", type=int, default=0, help="which rides are sampled or generated")
    add_aws_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    events = _events(args)
    payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
    client = kinesis_client(args)
    require_stream(client, args.stream, "--stream", where(args))
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
    print(
        json.dumps(
            {
                "sent": stats.sent,
                "failed": stats.failed,
                "seconds": round(stats.seconds, 2),
                "records_per_s": round(stats.sent / stats.seconds) if stats.seconds else None,
            }
        )
    )
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


def _events(args: Any) -> list[dict[str, Any]]:
    """The rides ``args`` ask for, or a one-line error (no such month, too many rides)."""
    if args.generate:
        if args.file or args.data_dir:
            raise usage_error("--generate makes its own rides: drop --file / --data-dir")
        return generated_rides(args.count, args.seed)
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
    return sample_rides(trips, args.count, args.seed)
