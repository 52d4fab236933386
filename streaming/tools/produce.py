"""``streaming send``: play rides into the input stream as the taxi app's backend would.

Rides come from a TLC month (each with its real ``pickup_datetime``, so the
model sees the hour the ride really started) or are generated. They go out
through PutRecords in chunks at a steady ``--rate``, with the same
retry-only-the-failed-entries logic as the handler (``publish.py``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from streaming.consumer.kinesis_limits import MAX_RECORDS_PER_CALL
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.publish import Entry, publish
from streaming.tools.common import add_aws_options, kinesis_client


@dataclass
class SendStats:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    #: ride index -> wall-clock time its PutRecords call started
    sent_at: dict[int, float] = field(default_factory=dict)


def tlc_rides(path: Path, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` rides sampled from a TLC month, in pickup order, with stable ids."""
    from streaming.training import tlc

    trips, _ = tlc.load_trips(path)
    sample = trips.sample(n=min(count, len(trips)), random_state=seed).sort_values(
        "pickup_datetime"
    )
    events = tlc.ride_events(sample)
    for event, row in zip(events, sample.index, strict=True):
        event["ride_id"] = int(row)  # the trip's row in the cleaned month
    return events


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
        if progress:
            progress(len(part))
    stats.seconds = time.monotonic() - started
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="streaming send",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stream", default="ride_events", help="input stream (default: %(default)s)")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--month",
        default="2023-02",
        help="TLC month in --data-dir (default: %(default)s, unseen by the model)",
    )
    source.add_argument("--file", type=Path, help="a TLC green-taxi parquet file")
    source.add_argument("--generate", action="store_true", help="random rides, pickup = now")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--count", type=int, default=1000)
    p.add_argument(
        "--rate",
        type=float,
        default=0,
        help="records per second (default: 0 = as fast as PutRecords allows)",
    )
    p.add_argument("--seed", type=int, default=0)
    add_aws_options(p)
    args = p.parse_args(argv)
    if args.generate:
        events = generated_rides(args.count, args.seed)
    else:
        from streaming.training import tlc

        path = args.file or tlc.month_path(args.data_dir, args.month)
        events = tlc_rides(path, args.count, args.seed)
    payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
    from tqdm import tqdm

    with tqdm(
        total=len(payloads), unit="ride", desc=f"send -> {args.stream}", file=sys.stderr
    ) as bar:
        stats = send_events(
            kinesis_client(args), args.stream, payloads, rate=args.rate or None, progress=bar.update
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
    return 0 if stats.failed == 0 else 1
