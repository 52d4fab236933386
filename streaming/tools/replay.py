"""``streaming replay``: send rejected or discarded records through the pipeline again.

Two sources, both of which keep what is needed to recover a record:

* the **dead-letter stream** (``--dead-letters``): each dead letter carries the
  record's original data (base64), or - when it was too large to carry - its
  size and sha256 plus the source position, so the record is re-read from the
  input stream by sequence number while retention lasts;
* the **on-failure queue** (``--on-failure-queue``): Lambda's metadata of a
  discarded batch (shard and sequence range), re-read from the input stream.

Records can be selected by reason and arrival time, fixed on the way with
``--transform module:function`` (it gets the original bytes and the dead letter
and returns the bytes to send, or None to skip), and previewed with
``--dry-run``. Replayed records go to ``--to`` (the input stream, usually) with
their original partition key, through PutRecords with the usual retry.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streaming.consumer import kpl
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.publish import Entry, publish
from streaming.esm.reader import ShardReader, StartingPosition
from streaming.tools.common import add_aws_options, kinesis_client, session
from streaming.tools.stream_io import read_all

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
    """Re-send the input records of every discarded batch described in the queue."""
    report = ReplayReport()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return report
        for message in messages:
            info = json.loads(message["Body"])["KinesisBatchInfo"]
            records = read_range(
                client,
                source_stream,
                info["shardId"],
                info["startSequenceNumber"],
                info["endSequenceNumber"],
            )
            report.selected += len(records)
            report.by_reason[
                "on-failure:" + json.loads(message["Body"])["requestContext"]["condition"]
            ] += len(records)
            if len(records) < info["batchSize"]:
                report.unrecoverable += info["batchSize"] - len(records)
            if dry_run:
                report.preview.extend(
                    {"partitionKey": r["PartitionKey"], "sequenceNumber": r["SequenceNumber"]}
                    for r in records
                )
                continue
            out = publish(
                kinesis_sender(client),
                to_stream,
                [Entry(r["Data"], r["PartitionKey"], i) for i, r in enumerate(records)],
            )
            report.replayed += out.published
            report.failed += len(out.failed)
            if delete and not out.failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


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
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _epoch(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="streaming replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dead-letters", metavar="STREAM", help="the dead-letter stream")
    src.add_argument(
        "--on-failure-queue",
        metavar="QUEUE_URL",
        help="the event source mapping's on-failure SQS queue",
    )
    p.add_argument("--to", required=True, metavar="STREAM", help="where to send (the input)")
    p.add_argument(
        "--source-stream",
        metavar="STREAM",
        help="the input stream, to re-read records a dead letter does not carry "
        "(required with --on-failure-queue)",
    )
    p.add_argument("--reason", action="append", help="only these reasons (repeatable)")
    p.add_argument("--since", help="only records that arrived at/after (epoch or ISO 8601)")
    p.add_argument("--until", help="only records that arrived before (epoch or ISO 8601)")
    p.add_argument(
        "--transform",
        metavar="MODULE:FUNCTION",
        help="fix each record: f(original bytes, dead letter) -> bytes or None",
    )
    p.add_argument(
        "--delete",
        action="store_true",
        help="with --on-failure-queue: delete each message once replayed",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    add_aws_options(p)
    args = p.parse_args(argv)
    client = kinesis_client(args)
    if args.dead_letters:
        letters = (
            json.loads(r["Data"])
            for r in read_stream(client, args.dead_letters, StartingPosition())
        )
        chosen = select(letters, set(args.reason or []), _epoch(args.since), _epoch(args.until))
        report = replay_dead_letters(
            client,
            chosen,
            args.to,
            source_stream=args.source_stream,
            transform=load_transform(args.transform) if args.transform else None,
            dry_run=args.dry_run,
        )
    else:
        if not args.source_stream:
            p.error("--on-failure-queue needs --source-stream (the input stream to re-read)")
        sqs = session(args).client("sqs", endpoint_url=args.endpoint_url)
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
    return 0 if report.failed == 0 else 1
