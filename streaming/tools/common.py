"""What the command-line tools share: where Kinesis is and which region, the boto3
session and clients, and timestamp arguments."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The repository root (the supported install is the editable one `make venv`
#: makes): commands find the project's own files (lambda_function.py, models/,
#: data/) here, whatever the current directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def timestamp_arg(text: str) -> datetime:
    """An argument given as epoch seconds or ISO 8601 (naive = UTC) -> an aware datetime."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("KINESIS_ENDPOINT_URL") or None,
        help="Kinesis endpoint, e.g. http://127.0.0.1:4566 for LocalStack (default: "
        "KINESIS_ENDPOINT_URL, else boto3's AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL, "
        "else AWS itself)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1)",
    )


def session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.session.Session(region_name=args.region)


def kinesis_client(args: argparse.Namespace) -> Any:
    """A Kinesis client for the tools (botocore's standard retries, patient timeouts)."""
    from streaming.consumer.kinesis_client import TOOLS, make_kinesis_client

    return make_kinesis_client(args.endpoint_url, profile=TOOLS, session=session(args))
