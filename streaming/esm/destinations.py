"""On-failure destinations: where the runner sends the metadata of discarded batches.

A Kinesis event source mapping sends a discarded batch's metadata - not the
records - to an SQS queue, an SNS topic or an S3 bucket ("Each record sent
to the destination is a JSON document with metadata about the failed
invocation", Lambda docs, *Retain discarded batch records for a Kinesis Data
Streams event source*); a Kinesis stream is not a valid destination. The
records stay in the stream and can be re-read by sequence number while
retention lasts. Locally, a JSON-lines file is accepted too, for the demo.

* S3: "For Amazon S3 destinations, Lambda also sends the entire invocation
  record along with the metadata ... the ``payload`` field contains the
  original invocation record as an escaped JSON string."
* SNS: "Amazon SNS destinations have a message size limit of 256 KB. If the
  combined size of the function request and response payload exceeds the
  limit, Lambda will drop the payload when sending OnFailure event to the
  destination" (API reference, *OnFailure*): a record over 256 KB is sent
  without ``responseContext.errorMessage``, the only part of ours that
  carries the function's response.

Where ours differs from AWS's on purpose: ``responseContext.errorMessage``
is a local addition (AWS's record has no error text; locally the function's
error is what one needs to fix the cause). Records discarded as too old carry
no ``responseContext``, as in AWS's own recorded examples.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

#: "Amazon SNS destinations have a message size limit of 256 KB."
SNS_MAX_BYTES = 256 * 1024

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass(frozen=True)
class Failure:
    """A discarded batch and why."""

    condition: str  # RETRY_ATTEMPTS_EXHAUSTED or RECORD_AGE_EXCEEDED
    shard_id: str
    stream_arn: str
    records: Sequence[dict[str, Any]]  # GetRecords records, in order
    invoke_count: int
    function_arn: str
    function_error: str | None = None  # "Unhandled" when the function raised
    error_message: str | None = None  # local addition: what went wrong

    def payload(self, max_error: int | None = None) -> dict[str, Any]:
        """The invocation record Lambda sends (its documented shape); the local
        ``errorMessage`` cut to ``max_error`` characters (default ``MAX_ERROR_MESSAGE``;
        SNS passes ``0``: no cut, its own 256 KB rule applies)."""
        first, last = self.records[0], self.records[-1]
        out: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": self.condition,
                "approximateInvokeCount": self.invoke_count,
            },
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC)),
            "KinesisBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateArrivalTimestamp"]),
                "batchSize": len(self.records),
                "streamArn": self.stream_arn,
            },
        }
        # Only a batch given up after invocations failed carries the last response;
        # AWS's own RecordAgeExceeded records have none, invoked before or not.
        if self.invoke_count > 0 and self.condition == RETRY_ATTEMPTS_EXHAUSTED:
            response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            if self.function_error:
                response["functionError"] = self.function_error
            if self.error_message:  # bounded: a function's error text can be any size
                response["errorMessage"] = _bounded(self.error_message, max_error)
            out["responseContext"] = response
        return out

    def invocation_record(self) -> dict[str, Any]:
        """The whole event the function was invoked with (S3's ``payload``)."""
        from streaming.esm.lambda_event import lambda_event

        region = self.function_arn.split(":")[3] if self.function_arn.count(":") >= 3 else ""
        return lambda_event(
            self.records, shard_id=self.shard_id, stream_arn=self.stream_arn, region=region
        )


#: the most of an error message a failure record carries
MAX_ERROR_MESSAGE = 4096


def _bounded(text: str, limit: int | None) -> str:
    limit = MAX_ERROR_MESSAGE if limit is None else limit
    if not limit or len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text) - limit} more characters)"


def _iso(moment: Any) -> str:
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Destination(Protocol):
    def send(self, failure: Failure) -> None: ...


def describe(destination: Destination) -> str:
    """Where a destination sends (a path, a queue URL, a topic ARN, an S3 bucket)."""
    for attr in ("path", "queue_url", "topic_arn"):
        if hasattr(destination, attr):
            return str(getattr(destination, attr))
    bucket = getattr(destination, "bucket", None)
    return f"s3://{bucket}" if bucket else type(destination).__name__


class JsonLinesFile:
    """Append one payload per line to a local file (the demo's destination)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, failure: Failure) -> None:
        line = json.dumps(failure.payload()) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)


class SqsQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, failure: Failure) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(failure.payload()))


class SnsTopic:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, failure: Failure) -> None:
        message = sns_message(failure.payload(max_error=0))
        self.client.publish(TopicArn=self.topic_arn, Message=message)


def sns_message(payload: dict[str, Any]) -> str:
    """The record as SNS takes it: over 256 KB, the response part is dropped."""
    message = json.dumps(payload)
    if len(message.encode("utf-8")) <= SNS_MAX_BYTES:
        return message
    slim = {**payload, "responseContext": dict(payload.get("responseContext") or {})}
    slim["responseContext"].pop("errorMessage", None)
    if not slim["responseContext"]:
        del slim["responseContext"]
    return json.dumps(slim)


class S3Bucket:
    """Objects keyed like Lambda's: aws/lambda/<mapping id>/<shard>/YYYY/MM/DD/<time>-<uuid>."""

    def __init__(self, client: Any, bucket: str, mapping_id: str) -> None:
        self.client = client
        self.bucket = bucket
        self.mapping_id = mapping_id

    def send(self, failure: Failure) -> None:
        now = datetime.now(UTC)
        key = (
            f"aws/lambda/{self.mapping_id}/{failure.shard_id}/{now:%Y/%m/%d}/"
            f"{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
        )
        record = failure.payload()
        record["payload"] = json.dumps(failure.invocation_record())  # an escaped JSON string
        self.client.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(record).encode())


def parse_destination(
    target: str, *, session: Any, endpoint_url: str | None, mapping_id: str
) -> Destination:
    """``arn:aws:sqs:...`` / an SQS queue URL / ``arn:aws:sns:...`` / ``arn:aws:s3:::bucket``
    / ``file:<path>`` or a ``*.jsonl`` path."""
    given = target
    partition = re.match(r"^arn:aws(?:-[a-z-]+)?:", target)
    if partition:  # aws, aws-cn, aws-us-gov: the same rules (the ARN itself is kept)
        target = "arn:aws:" + target[partition.end() :]
    if target.startswith("arn:aws:kinesis:") or target.startswith("kinesis:"):
        raise ValueError(
            "a Kinesis event source mapping's on-failure destination is an SQS queue, an SNS "
            "topic or an S3 bucket, not a stream (Lambda docs, kinesis-on-failure-destination)"
        )
    if target.startswith("file:") or target.endswith(".jsonl"):
        return JsonLinesFile(Path(target.removeprefix("file:")))
    if target.startswith("arn:aws:sqs:"):
        client = session.client("sqs", endpoint_url=endpoint_url)
        name = target.rsplit(":", 1)[-1]
        account = target.split(":")[4]
        url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return SqsQueue(client, url)
    if target.startswith(("http://", "https://")):
        return SqsQueue(session.client("sqs", endpoint_url=endpoint_url), target)
    if target.startswith("arn:aws:sns:"):
        return SnsTopic(session.client("sns", endpoint_url=endpoint_url), given)
    if target.startswith("arn:aws:s3:::"):
        client = session.client("s3", endpoint_url=endpoint_url)
        return S3Bucket(client, target.removeprefix("arn:aws:s3:::"), mapping_id)
    raise ValueError(f"unsupported on-failure destination {given!r}")
