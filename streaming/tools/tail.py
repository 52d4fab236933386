"""``streaming tail``: follow the predictions stream (and the dead-letter stream).

Prints each event as it arrives (one JSON object per line with ``--jsonl``),
from a chosen position, across all shards (and new shards after a reshard),
and at the end how many it wrote. The streams are checked first; a failing
read is retried, and ten failing polls in a row end the command with an error.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any, TextIO

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import CommandParser, non_negative_float, positive_int
from streaming.esm.follow import Follower
from streaming.esm.reader import StartingPosition
from streaming.tools.common import add_aws_options, kinesis_client, timestamp_arg, where
from streaming.tools.stream_io import require_stream


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


#: Polls in a row in which every read failed (and nothing arrived) before tail gives up:
#: a passing error is retried, a lasting one (the stream deleted, the endpoint gone) ends it.
MAX_FAILED_POLLS = 10


class ReadsFailing(Exception):
    """Reading a stream failed ``MAX_FAILED_POLLS`` polls in a row."""


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
    max_failed_polls: int = MAX_FAILED_POLLS,
    refresh_s: float = 5.0,
) -> int:
    """Write each event of ``streams`` to ``out``; return how many were written.

    Ends after ``count`` events, after ``idle_exit`` seconds without one, when
    ``stop`` is set, or on Ctrl-C; raises ``ReadsFailing`` when the reads of a
    stream have failed ``max_failed_polls`` polls in a row. Shards are listed
    again every ``refresh_s`` seconds (new shards after a reshard)."""
    followers = {s: Follower(client, s, start, refresh_s=refresh_s) for s in streams}
    seen = 0
    failing = dict.fromkeys(streams, 0)
    last_record = time.monotonic()
    stop = stop or threading.Event()
    try:
        while not stop.is_set():
            got = 0
            for name, follower in followers.items():
                for shard, record in _poll(name, follower, failing, max_failed_polls):
                    out.write(format_line(name, shard, record, jsonl) + "\n")
                    seen += 1
                    got += 1
                    if count is not None and seen >= count:
                        return seen
            out.flush()
            now = time.monotonic()
            if got:
                last_record = now
            elif idle_exit is not None and now - last_record >= idle_exit:
                return seen
            if not got:
                stop.wait(poll_interval)
    except KeyboardInterrupt:  # Ctrl-C: the usual way to stop following
        pass
    finally:
        out.flush()
    return seen


def _poll(
    name: str, follower: Follower, failing: dict[str, int], max_failed_polls: int
) -> list[tuple[str, dict[str, Any]]]:
    """One poll of ``follower``, counting the polls in a row in which every read failed."""
    errors_before = follower.read_errors
    records = follower.poll()
    if follower.read_errors > errors_before and not records:
        failing[name] += 1
    elif records or follower.readers:  # a read went through
        failing[name] = 0
    # else: nothing was tried (the shards are listed again later)
    if failing[name] >= max_failed_polls:
        raise ReadsFailing(name)
    return records


def build_parser() -> CommandParser:
    p = CommandParser("streaming tail", __doc__ or "")
    p.add_argument("--stream", default="ride_predictions", help="the stream to follow")
    p.add_argument(
        "--dead-letters",
        metavar="STREAM",
        help="also follow this dead-letter stream (default: none)",
    )
    p.add_argument(
        "--from",
        dest="position",
        choices=["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"],
        help="where to start in each shard (default: LATEST; AT_TIMESTAMP when "
        "--timestamp is given)",
    )
    p.add_argument(
        "--timestamp",
        type=timestamp_arg,
        metavar="TIME",
        help="start at this time, epoch seconds or ISO 8601 (naive = UTC); implies "
        "--from AT_TIMESTAMP (default: none)",
    )
    p.add_argument(
        "--jsonl",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write JSON lines, appended to FILE or to stdout without one "
        "(default: readable lines on stdout)",
    )
    p.add_argument(
        "--count",
        type=positive_int,
        metavar="N",
        help="stop after this many events (default: no limit)",
    )
    p.add_argument(
        "--idle-exit",
        type=non_negative_float,
        metavar="SECONDS",
        help="stop when nothing arrived for this long (default: follow until Ctrl-C)",
    )
    add_aws_options(p)
    return p


def starting_position(args: Any) -> StartingPosition:
    """--from and --timestamp as a starting position; a usage error if they disagree."""
    if args.timestamp is not None:
        if args.position not in (None, "AT_TIMESTAMP"):
            raise usage_error(
                f"--timestamp needs --from AT_TIMESTAMP, not --from {args.position} "
                "(drop --from, or drop --timestamp)"
            )
        return StartingPosition("AT_TIMESTAMP", args.timestamp)
    if args.position == "AT_TIMESTAMP":
        raise usage_error("--from AT_TIMESTAMP needs --timestamp (epoch seconds or ISO 8601)")
    return StartingPosition(args.position or "LATEST")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = starting_position(args)
    streams = [args.stream] + ([args.dead_letters] if args.dead_letters else [])
    to_file = args.jsonl not in (None, "-")
    if to_file:
        _check_writable(Path(args.jsonl))
    client = kinesis_client(args)
    options = ["--stream", "--dead-letters"]
    for name, option in zip(streams, options, strict=False):
        require_stream(client, name, option, where(args))
    with contextlib.ExitStack() as stack:
        out: TextIO = sys.stdout
        if to_file:
            out = stack.enter_context(Path(args.jsonl).open("a", encoding="utf-8"))
        try:
            seen = tail(
                client,
                streams,
                start,
                out,
                jsonl=args.jsonl is not None,
                count=args.count,
                idle_exit=args.idle_exit,
            )
        except ReadsFailing as exc:
            name = str(exc)
            option = options[streams.index(name)]
            require_stream(client, name, option, where(args))  # the cause, if it is gone
            raise CommandError(
                f"reading {name} failed {MAX_FAILED_POLLS} polls in a row (the warnings "
                "above say why); check --endpoint-url and that the stream still exists"
            ) from None
    target = f" -> {args.jsonl}" if to_file else ""
    print(f"streaming tail: {seen} events from {', '.join(streams)}{target}", file=sys.stderr)
    return 0


def _check_writable(path: Path) -> None:
    """--jsonl FILE must be a file (new or not) in an existing directory."""
    parent = path.parent
    if not parent.is_dir():
        raise usage_error(
            f"--jsonl {path}: directory {parent} does not exist (create it, or write elsewhere)"
        )
    if path.is_dir():
        raise usage_error(f"--jsonl {path}: is a directory (give a file name)")
