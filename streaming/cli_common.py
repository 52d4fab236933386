"""Options shared by the command-line tools: where Kinesis is, and which region."""

from __future__ import annotations

import argparse
import os
from typing import Any


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
    """A Kinesis client with botocore's standard retries (tools, not the hot path)."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
    )
    return session(args).client("kinesis", endpoint_url=args.endpoint_url, config=config)
