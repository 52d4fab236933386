"""streaming invoke: run the Lambda function once, here, on one ride or a whole event.

Like `sam local invoke -e event.json`, without Docker: the function's own entry
(lambda_function.lambda_handler, loaded from the project root) runs in this
process with a Lambda context. By default in TEST_RUN mode: it predicts and
publishes nothing, and the predictions (one JSON line each) go to stdout,
rejections with their reason to stderr. With --publish it writes to the
streams its settings name (PREDICTIONS_STREAM_NAME, DEAD_LETTER_STREAM_NAME,
KINESIS_ENDPOINT_URL).

  streaming invoke '{"ride": {"PULocationID": 130, "DOLocationID": 205,
                      "trip_distance": 3.66}, "ride_id": 256}'
  streaming invoke --event event.json
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from streaming.commandline.errors import usage_error
from streaming.commandline.parser import CommandParser
from streaming.tools.common import PROJECT_ROOT


def lambda_event(ride_events: list[bytes]) -> dict[str, Any]:
    """Ride events as the records of one Lambda Kinesis event (no arrival time: a ride
    without pickup_datetime starts at the invocation time, as the stream's rule says)."""
    records = []
    for i, data in enumerate(ride_events, start=1):
        sequence = f"{i:056d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": str(i),
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode("ascii"),
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events",
            }
        )
    return {"Records": records}


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(
        "streaming invoke",
        "Run the Lambda function once, here, on ride events or a Lambda event file "
        "(like `sam local invoke`, without Docker). TEST_RUN by default: nothing is "
        "published.",
        verbose=False,
    )
    p.add_argument("ride", nargs="*", help="ride events as JSON text (- reads lines of stdin)")
    p.add_argument("--event", type=Path, help="a whole Lambda Kinesis event (JSON file)")
    p.add_argument(
        "--publish",
        action="store_true",
        help="publish to the streams the settings name instead of a TEST_RUN",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show the function's logs and metrics"
    )
    return p


def _event(args: argparse.Namespace) -> dict[str, Any]:
    if args.event is not None:
        if args.ride:
            raise usage_error("give ride events or --event, not both")
        try:
            event = json.loads(args.event.read_text())
        except OSError as exc:
            raise usage_error(f"cannot read --event {args.event}: {exc.strerror}") from None
        except ValueError as exc:
            raise usage_error(f"--event {args.event} is not JSON: {exc}") from None
        if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
            raise usage_error(f"--event {args.event} has no 'Records' list (a Kinesis event)")
        return event
    if not args.ride:
        raise usage_error("give a ride event (JSON text), - for lines of stdin, or --event FILE")
    texts = sys.stdin.read().splitlines() if args.ride == ["-"] else args.ride
    return lambda_event([t.encode("utf-8") for t in texts if t.strip()])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    event = _event(args)
    if not args.publish:
        os.environ["TEST_RUN"] = "True"
    if not args.verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(PROJECT_ROOT))  # the function's task root
    # The function's EMF metric blobs are printed to stdout (as on Lambda): keep
    # stdout for the predictions; show them on stderr with -v.
    blobs = io.StringIO()
    with contextlib.redirect_stdout(blobs):
        function = importlib.import_module("lambda_function")
        response = function.lambda_handler(event, None)
    if args.verbose:
        sys.stderr.write(blobs.getvalue())
    for prediction in response.get("predictions", []):
        print(json.dumps(prediction))
    for rejected in response.get("rejected", []):
        print(
            f"rejected {rejected['source']}: {rejected['reason']}: {rejected['detail']}",
            file=sys.stderr,
        )
    if response.get("batchItemFailures"):
        print(f"not published: {json.dumps(response['batchItemFailures'])}", file=sys.stderr)
        return 1
    return 0
