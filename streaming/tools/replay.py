"""``streaming replay``: send rejected or discarded records through the pipeline again.

Two sources, both of which keep what is needed to recover a record:

* the **dead-letter stream** (``--dead-letters``): each dead letter carries the
  record's original data (base64), or - when it was too large to carry - its
  size and sha256 plus the source position, so the record is re-read from the
  input stream by sequence number while retention lasts;
* the **on-failure queue** (``--on-failure-queue``): Lambda's metadata of a
  discarded batch (shard and sequence range), re-read from the input stream.

Dead letters can be selected by reason and arrival time and fixed on the way
with ``--transform module:function`` (it gets the original bytes and the dead
letter and returns the bytes to send, or None to skip). ``--dry-run`` previews
and consumes nothing: the queue's messages it received are made visible again,
so the real run after it selects the same ones. Replayed records go to ``--to``
(the input stream, usually) with their original partition key, through
PutRecords with the usual retry. The streams and the queue are checked first;
records that could not be sent are reported with the cause, and exit 1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import CommandParser
from streaming.consumer import kpl
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.publish import Entry, publish
from streaming.consumer.records import Reason
from streaming.esm.reader import ShardReader, StartingPosition
from streaming.tools.common import (
    add_aws_options,
    import_from_cwd,
    kinesis_client,
    session,
    timestamp_arg,
    where,
)
from streaming.tools.stream_io import read_all, require_stream

Transform = Callable[[bytes, dict[str, Any]], bytes | None]


class Unrecoverable(Exception):
    """The original record is gone (retention passed) or does not match its digest."""


@dataclass
class ReplayReport:
    selected: int = 0
    replayed: int = 0
    skipped: int = 0  # the transform returned None
    unrecoverable: int = 0
    failed: int = 0  # could not be sent (after retries)
    by_reason: Counter[str] = field(default_factory=Counter)
    #: why records could not be sent: error code -> entries or calls (not in as_dict)
    errors: Counter[str] = field(default_factory=Counter)
    preview: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "replayed": self.replayed,
            "skipped": self.skipped,
            "unrecoverable": self.unrecoverable,
            "failed": self.failed,
            "by_reason": dict(self.by_reason),
        }


def read_stream(client: Any, stream: str, start: StartingPosition) -> Iterator[dict[str, Any]]:
    """Every record of ``stream`` from ``start`` to now (all shards, once)."""
    for _, record in read_all(client, stream, start):
        yield record


def select(
    letters: Iterable[dict[str, Any]],
    reasons: set[str] | None,
    since: float | None,
    until: float | None,
) -> Iterator[dict[str, Any]]:
    for letter in letters:
        if reasons and letter.get("reason") not in reasons:
            continue
        arrival = letter.get("approximateArrivalTimestamp")
        if since is not None and (arrival is None or arrival < since):
            continue
        if until is not None and (arrival is None or arrival >= until):
            continue
        yield letter


def reread(
    client: Any, stream: str, event_id: str, sub_sequence_number: int | None = None
) -> bytes:
    """The data of the record at ``shardId:sequenceNumber`` (a KPL user record if asked)."""
    shard_id, _, sequence = event_id.partition(":")
    try:
        iterator = client.get_shard_iterator(
            StreamName=stream,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=sequence,
        )["ShardIterator"]
        records = client.get_records(ShardIterator=iterator, Limit=1)["Records"]
    except Exception as exc:
        raise Unrecoverable(f"{event_id}: cannot read it from {stream}: {exc}") from None
    if not records or records[0]["SequenceNumber"] != sequence:
        raise Unrecoverable(f"{event_id}: no longer in {stream} (retention passed?)")
    data = records[0]["Data"]
    if sub_sequence_number is not None:
        users = kpl.deaggregate(data)
        if users is None or sub_sequence_number >= len(users):
            raise Unrecoverable(f"{event_id}: no user record {sub_sequence_number}")
        data = users[sub_sequence_number].data
    return data


def original_data(letter: dict[str, Any], client: Any, source_stream: str | None) -> bytes:
    """The bytes the rejected record carried, from the letter or re-read from the input."""
    if "data" in letter:
        return base64.b64decode(letter["data"])
    source = letter.get("source") or {}
    if not source_stream or not source.get("eventID"):
        raise Unrecoverable("the dead letter has no data; give --source-stream to re-read it")
    data = reread(client, source_stream, source["eventID"], source.get("subSequenceNumber"))
    if "sha256" in letter and hashlib.sha256(data).hexdigest() != letter["sha256"]:
        raise Unrecoverable(f"{source['eventID']}: sha256 differs from the dead letter's")
    return data


def replay_dead_letters(
    client: Any,
    letters: Iterable[dict[str, Any]],
    to_stream: str,
    *,
    source_stream: str | None = None,
    transform: Transform | None = None,
    dry_run: bool = False,
) -> ReplayReport:
    report = ReplayReport()
    entries: list[Entry] = []
    for letter in letters:
        report.selected += 1
        report.by_reason[str(letter.get("reason"))] += 1
        try:
            data = original_data(letter, client, source_stream)
        except Unrecoverable as exc:
            report.unrecoverable += 1
            print(f"replay: unrecoverable: {exc}", file=sys.stderr)
            continue
        if transform is not None:
            fixed = transform(data, letter)
            if fixed is None:
                report.skipped += 1
                continue
            data = fixed
        key = letter.get("partitionKey") or (letter.get("source") or {}).get("eventID") or "replay"
        if dry_run:
            report.preview.append(
                {
                    "reason": letter.get("reason"),
                    "partitionKey": key,
                    "data": data[:200].decode("utf-8", "replace"),
                }
            )
            continue
        entries.append(Entry(data, key, len(entries)))
    if entries:
        outcome = publish(kinesis_sender(client), to_stream, entries)
        report.replayed = outcome.published
        report.failed = len(outcome.failed)
        report.errors.update(outcome.errors)
    return report


def replay_on_failure_queue(
    client: Any,
    sqs: Any,
    queue_url: str,
    source_stream: str,
    to_stream: str,
    *,
    delete: bool = False,
    dry_run: bool = False,
) -> ReplayReport:
    """Re-send the input records of every discarded batch described in the queue.

    Each message is handled once per run, even if it becomes visible again
    during a long run. Receiving a message hides it from other readers for the
    queue's visibility timeout; every message this run did not delete (all of
    them in a dry run) is made visible again at the end, so a dry run consumes
    nothing and the real run after it selects the same messages."""
    report = ReplayReport()
    keep: list[dict[str, Any]] = []  # received, not deleted: made visible again at the end
    try:
        _replay_queue(
            client,
            sqs,
            queue_url,
            source_stream,
            to_stream,
            report,
            keep,
            delete=delete,
            dry_run=dry_run,
        )
    except BaseException:
        with contextlib.suppress(Exception):  # the error that stopped the run comes first
            _make_visible(sqs, queue_url, keep)
        raise
    _make_visible(sqs, queue_url, keep)
    return report


def _replay_queue(
    client: Any,
    sqs: Any,
    queue_url: str,
    source_stream: str,
    to_stream: str,
    report: ReplayReport,
    keep: list[dict[str, Any]],
    *,
    delete: bool,
    dry_run: bool,
) -> None:
    """Receive until no new message comes; replay each new one; ``keep`` the undeleted."""
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        keep.extend(m for m in messages if m["MessageId"] in seen)  # again: its new handle
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            done = _replay_message(client, message, source_stream, to_stream, report, dry_run)
            if delete and done:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                keep.append(message)


def _replay_message(
    client: Any,
    message: dict[str, Any],
    source_stream: str,
    to_stream: str,
    report: ReplayReport,
    dry_run: bool,
) -> bool:
    """Replay (or preview) the batch one message describes; True if all of it was sent."""
    body = _on_failure_body(message)
    info = body["KinesisBatchInfo"]
    records = read_range(
        client,
        source_stream,
        info["shardId"],
        info["startSequenceNumber"],
        info["endSequenceNumber"],
    )
    report.selected += len(records)
    condition = (body.get("requestContext") or {}).get("condition", "unknown")
    report.by_reason["on-failure:" + str(condition)] += len(records)
    if len(records) < info["batchSize"]:
        report.unrecoverable += info["batchSize"] - len(records)
    if dry_run:
        report.preview.extend(
            {"partitionKey": r["PartitionKey"], "sequenceNumber": r["SequenceNumber"]}
            for r in records
        )
        return False
    out = publish(
        kinesis_sender(client),
        to_stream,
        [Entry(r["Data"], r["PartitionKey"], i) for i, r in enumerate(records)],
    )
    report.replayed += out.published
    report.failed += len(out.failed)
    report.errors.update(out.errors)
    return not out.failed


def _on_failure_body(message: dict[str, Any]) -> dict[str, Any]:
    """The message's body: Lambda's on-failure record of a Kinesis batch, or an error."""
    try:
        body = json.loads(message["Body"])
    except (ValueError, TypeError):
        body = None
    info = body.get("KinesisBatchInfo") if isinstance(body, dict) else None
    keys = ("shardId", "startSequenceNumber", "endSequenceNumber", "batchSize")
    if not isinstance(info, dict) or any(k not in info for k in keys):
        raise CommandError(
            f"message {message.get('MessageId')} is not a Lambda on-failure record of a "
            "Kinesis batch (no KinesisBatchInfo): is --on-failure-queue the event source "
            "mapping's on-failure queue?"
        )
    return body


def _make_visible(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Visibility timeout 0 for ``messages``: receivable again at once."""
    handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
    items = list(handles.items())
    for first in range(0, len(items), 10):  # at most 10 entries per batch call
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, (_, handle) in enumerate(items[first : first + 10])
            ],
        )


def read_range(
    client: Any, stream: str, shard_id: str, first: str, last: str
) -> list[dict[str, Any]]:
    """Records of one shard from sequence number ``first`` to ``last``, inclusive."""
    reader = ShardReader(client, stream, shard_id)
    reader.iterator = client.get_shard_iterator(
        StreamName=stream,
        ShardId=shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=first,
    )["ShardIterator"]
    out: list[dict[str, Any]] = []
    while True:
        result = reader.read()
        for record in result.records:
            if int(record["SequenceNumber"]) > int(last):
                return out
            out.append(record)
        if result.closed or (not result.records and result.millis_behind == 0):
            return out


def load_transform(spec: str) -> Transform:
    """``module:function``, imported from the current directory first (or a usage error)."""
    return import_from_cwd(spec, "--transform")


def dead_letters(client: Any, stream: str) -> Iterator[dict[str, Any]]:
    """The dead letters of ``stream``; an error at the first record that is not one."""
    for record in read_stream(client, stream, StartingPosition()):
        try:
            letter = json.loads(record["Data"])
        except ValueError:
            letter = None
        if not isinstance(letter, dict) or "reason" not in letter:
            raise CommandError(
                f"--dead-letters {stream}: record {record['SequenceNumber']} is not a dead "
                "letter (no reason): is it the dead-letter stream?"
            )
        yield letter


def reason_arg(text: str) -> str:
    """A dead-letter reason code (``Reason``, schemas/dead_letter.v1.json)."""
    codes = [r.value for r in Reason]
    if text not in codes:
        raise argparse.ArgumentTypeError(
            f"unknown reason {text!r}; the reasons are {', '.join(codes)}"
        )
    return text


def build_parser() -> CommandParser:
    p = CommandParser("streaming replay", __doc__ or "")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--dead-letters", metavar="STREAM", help="the dead-letter stream (default: none)"
    )
    src.add_argument(
        "--on-failure-queue",
        metavar="QUEUE_URL",
        help="the event source mapping's on-failure SQS queue (default: none)",
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="STREAM",
        help="where to send, usually the input stream (required)",
    )
    p.add_argument(
        "--source-stream",
        metavar="STREAM",
        help="the input stream, to re-read records a dead letter does not carry; "
        "required with --on-failure-queue (default: none)",
    )
    p.add_argument(
        "--reason",
        action="append",
        metavar="CODE",
        type=reason_arg,
        help="only dead letters with this reason code, repeatable (default: every reason)",
    )
    p.add_argument(
        "--since",
        type=timestamp_arg,
        metavar="TIME",
        help="only dead letters that arrived at/after this time, epoch seconds or ISO "
        "8601 (default: the stream's start)",
    )
    p.add_argument(
        "--until",
        type=timestamp_arg,
        metavar="TIME",
        help="only dead letters that arrived before this time (default: now)",
    )
    p.add_argument(
        "--transform",
        metavar="MODULE:FUNCTION",
        help="fix each dead letter's record: f(original bytes, dead letter) -> bytes or "
        "None to skip it; imported from the current directory first (default: none)",
    )
    p.add_argument(
        "--delete",
        action="store_true",
        help="with --on-failure-queue: delete each message once its batch is replayed",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be sent; send, delete and consume nothing",
    )
    add_aws_options(p)
    return p


def check_options(args: argparse.Namespace) -> None:
    """Options that do not apply to the chosen source are a mistake, not silently ignored."""
    if args.on_failure_queue:
        if not args.source_stream:
            raise usage_error(
                "--on-failure-queue needs --source-stream (the input stream to re-read)"
            )
        given = [
            o
            for o, v in (
                ("--reason", args.reason),
                ("--since", args.since),
                ("--until", args.until),
                ("--transform", args.transform),
            )
            if v
        ]
        if given:
            raise usage_error(
                f"{', '.join(given)} select dead letters: not with --on-failure-queue, "
                "which replays whole batches"
            )
    elif args.delete:
        raise usage_error("--delete is for --on-failure-queue messages, not dead letters")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_options(args)
    transform = load_transform(args.transform) if args.transform else None
    client = kinesis_client(args)
    endpoint = where(args)
    for option in ("--dead-letters", "--source-stream", "--to"):
        name = getattr(args, option[2:].replace("-", "_"))
        if name:
            require_stream(client, name, option, endpoint)
    if args.dead_letters:
        since = args.since.timestamp() if args.since else None
        until = args.until.timestamp() if args.until else None
        chosen = select(
            dead_letters(client, args.dead_letters), set(args.reason or []), since, until
        )
        report = replay_dead_letters(
            client,
            chosen,
            args.to,
            source_stream=args.source_stream,
            transform=transform,
            dry_run=args.dry_run,
        )
    else:
        sqs = session(args).client("sqs", endpoint_url=args.endpoint_url)
        require_queue(sqs, args.on_failure_queue, endpoint)
        report = replay_on_failure_queue(
            client,
            sqs,
            args.on_failure_queue,
            args.source_stream,
            args.to,
            delete=args.delete,
            dry_run=args.dry_run,
        )
    for line in report.preview:
        print(json.dumps(line))
    print(json.dumps(report.as_dict() | {"dry_run": args.dry_run}))
    if report.failed:
        codes = ", ".join(f"{c} x{n}" for c, n in report.errors.most_common()) or "unknown"
        raise CommandError(
            f"{report.failed} of {report.selected} records not sent to {args.to} after "
            f"retries ({codes}); run the replay again once the stream accepts writes"
        )
    return 0


def require_queue(sqs: Any, url: str, endpoint: str) -> None:
    """The on-failure queue must exist (else a one-line error naming it)."""
    from botocore.exceptions import ClientError

    try:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            raise CommandError(
                f"--on-failure-queue {url}: no such queue at {endpoint} (check the URL "
                "and --endpoint-url)"
            ) from None
        raise
