"""``streaming tail``: follow the predictions stream (and the dead-letter stream).

Prints each event as it arrives (one JSON object per line with ``--jsonl``),
from a chosen position, across all shards (and new shards after a reshard).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any, TextIO

from streaming.esm.follow import Follower
from streaming.esm.reader import StartingPosition
from streaming.tools.common import add_aws_options, kinesis_client, timestamp_arg


def format_line(stream: str, shard: str, record: dict[str, Any], jsonl: bool) -> str:
    try:
        event: Any = json.loads(record["Data"])
    except ValueError:
        event = record["Data"].decode("utf-8", "replace")
    arrival = record["ApproximateArrivalTimestamp"]
    if jsonl:
        return json.dumps(
            {
                "stream": stream,
                "shardId": shard,
                "sequenceNumber": record["SequenceNumber"],
                "approximateArrivalTimestamp": arrival.timestamp(),
                "event": event,
            }
        )
    when = arrival.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
    if isinstance(event, dict) and "prediction" in event:
        pred = event["prediction"]
        return (
            f"{when} {stream} ride {pred.get('ride_id')}: "
            f"{pred.get('ride_duration', 0):.1f} min (model {event.get('version')})"
        )
    if isinstance(event, dict) and "reason" in event:
        return f"{when} {stream} DEAD LETTER {event['reason']}: {event.get('detail')}"
    return f"{when} {stream} {event}"


def tail(
    client: Any,
    streams: list[str],
    start: StartingPosition,
    out: TextIO,
    *,
    jsonl: bool = False,
    count: int | None = None,
    idle_exit: float | None = None,
    poll_interval: float = 0.5,
    stop: threading.Event | None = None,
) -> int:
    followers = {s: Follower(client, s, start) for s in streams}
    seen = 0
    last_record = time.monotonic()
    stop = stop or threading.Event()
    while not stop.is_set():
        got = 0
        for name, follower in followers.items():
            for shard, record in follower.poll():
                out.write(format_line(name, shard, record, jsonl) + "\n")
                seen += 1
                got += 1
                if count is not None and seen >= count:
                    out.flush()
                    return seen
        out.flush()
        now = time.monotonic()
        if got:
            last_record = now
        elif idle_exit is not None and now - last_record >= idle_exit:
            return seen
        if not got:
            stop.wait(poll_interval)
    return seen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="streaming tail",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stream", default="ride_predictions", help="(default: %(default)s)")
    p.add_argument("--dead-letters", metavar="STREAM", help="also follow this dead-letter stream")
    p.add_argument(
        "--from",
        dest="position",
        default="LATEST",
        choices=["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"],
    )
    p.add_argument("--timestamp", help="with --from AT_TIMESTAMP: epoch seconds or ISO 8601")
    p.add_argument(
        "--jsonl",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write JSON lines (to FILE, or stdout)",
    )
    p.add_argument("--count", type=int, help="stop after this many events")
    p.add_argument(
        "--idle-exit", type=float, metavar="SECONDS", help="stop when nothing arrived for this long"
    )
    add_aws_options(p)
    args = p.parse_args(argv)
    stamp = None
    if args.timestamp:
        stamp = timestamp_arg(args.timestamp)
    start = StartingPosition(args.position, stamp if args.position == "AT_TIMESTAMP" else None)
    streams = [args.stream] + ([args.dead_letters] if args.dead_letters else [])
    with contextlib.ExitStack() as stack:
        out: TextIO = sys.stdout
        if args.jsonl not in (None, "-"):
            out = stack.enter_context(Path(args.jsonl).open("a", encoding="utf-8"))
        with contextlib.suppress(KeyboardInterrupt):
            tail(
                kinesis_client(args),
                streams,
                start,
                out,
                jsonl=args.jsonl is not None,
                count=args.count,
                idle_exit=args.idle_exit,
            )
    return 0
