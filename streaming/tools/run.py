"""``streaming run``: the local Kinesis event source mapping."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import uuid
from pathlib import Path

from streaming.esm.checkpoints import CheckpointStore
from streaming.esm.destinations import parse_destination
from streaming.esm.reader import StartingPosition
from streaming.esm.runner import EventSourceMapping, MappingConfig, load_handler
from streaming.tools.common import add_aws_options, kinesis_client, session, timestamp_arg

DESCRIPTION = """\
Poll every shard of a Kinesis stream and invoke a handler in this process with
the events Lambda's event source mapping would send, with its semantics:
batches of one shard in order, partial batch responses (retry from the lowest
failed sequence number), retries, bisect on error, maximum record age, an
on-failure destination, and per-shard checkpoints so a restart resumes.
The handler's own settings come from the environment, as on Lambda.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="streaming run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stream", required=True, help="input stream name")
    p.add_argument(
        "--handler",
        default="lambda_function.lambda_handler",
        help="module.function or module:function (default: %(default)s)",
    )
    add_aws_options(p)
    p.add_argument("--batch-size", type=int, default=100, help="1-10,000 (default: 100)")
    p.add_argument(
        "--batching-window",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="MaximumBatchingWindowInSeconds, 0-300 (default: 0)",
    )
    p.add_argument(
        "--starting-position",
        default="TRIM_HORIZON",
        choices=["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"],
        help="for shards without a checkpoint (default: TRIM_HORIZON)",
    )
    p.add_argument(
        "--starting-timestamp",
        type=timestamp_arg,
        help="with AT_TIMESTAMP: epoch seconds or ISO 8601",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=-1,
        help="MaximumRetryAttempts; -1 = until the record expires (AWS default)",
    )
    p.add_argument(
        "--max-record-age",
        type=float,
        default=-1,
        metavar="SECONDS",
        help="MaximumRecordAgeInSeconds; -1 = no limit (AWS default; AWS's minimum "
        "is 60, smaller values are allowed here for tests)",
    )
    p.add_argument(
        "--bisect-on-error",
        action="store_true",
        help="BisectBatchOnFunctionError: split a failed batch in two and retry",
    )
    p.add_argument(
        "--on-failure",
        metavar="DESTINATION",
        help="where discarded batches' metadata goes: an SQS queue (ARN or URL), an "
        "SNS topic ARN, an S3 bucket ARN (arn:aws:s3:::bucket), or a local .jsonl "
        "file; never a stream",
    )
    p.add_argument(
        "--report-batch-item-failures",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="FunctionResponseTypes=ReportBatchItemFailures. On by default here "
        "because this project's handler relies on it; on AWS it is OFF unless the "
        "mapping sets it, and Lambda then ignores batchItemFailures",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the function timeout (context.get_remaining_time_in_millis)",
    )
    p.add_argument("--function-name", default="ride-duration-prediction-local")
    p.add_argument(
        "--checkpoint-file",
        type=Path,
        default=Path(".runs/checkpoints.json"),
        help="per-shard checkpoints (default: %(default)s)",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often an idle shard is polled (Lambda: about once a second)",
    )
    p.add_argument(
        "--stop-when-idle",
        type=float,
        metavar="SECONDS",
        help="exit once every shard has been idle this long (local convenience)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        start = StartingPosition(args.starting_position, args.starting_timestamp)
        config = MappingConfig(
            batch_size=args.batch_size,
            batching_window_s=args.batching_window,
            starting_position=start,
            max_retries=args.max_retries,
            max_record_age_s=args.max_record_age,
            bisect_on_error=args.bisect_on_error,
            report_batch_item_failures=args.report_batch_item_failures,
            timeout_s=args.timeout,
            function_name=args.function_name,
            region=args.region,
            poll_interval_s=args.poll_interval,
        )
        destination = None
        if args.on_failure:
            destination = parse_destination(
                args.on_failure,
                session=session(args),
                endpoint_url=args.endpoint_url,
                mapping_id=str(uuid.uuid4()),
            )
    except ValueError as exc:
        print(f"streaming run: {exc}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path.cwd()))
    handler = load_handler(args.handler)  # the function's init, as Lambda does it
    client = kinesis_client(args)
    summary = client.describe_stream_summary(StreamName=args.stream)["StreamDescriptionSummary"]
    checkpoints = CheckpointStore.load(args.checkpoint_file, summary["StreamARN"])
    mapping = EventSourceMapping(
        client, args.stream, handler, config, checkpoints=checkpoints, destination=destination
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stats = mapping.run(stop, stop_when_idle_s=args.stop_when_idle)
    print(json.dumps({"runner": vars(stats)}), file=sys.stderr)
    return 0
