"""GetRecords output -> the event Lambda's Kinesis event source mapping would deliver.

Field for field as documented in *Using Lambda with Kinesis* (example event):
``kinesis.{kinesisSchemaVersion, partitionKey, sequenceNumber, data (base64),
approximateArrivalTimestamp (epoch seconds)}``, ``eventSource``,
``eventVersion``, ``eventID`` (= ``shardId:sequenceNumber``), ``eventName``,
``invokeIdentityArn``, ``awsRegion``, ``eventSourceARN``. Used by the demo, the
tests and the local runner so they all invoke the handler with real shapes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

DEFAULT_ROLE_ARN = "arn:aws:iam::000000000000:role/ride-duration-prediction-local"


def lambda_record(
    record: Mapping[str, Any],
    *,
    shard_id: str,
    stream_arn: str,
    region: str,
    role_arn: str = DEFAULT_ROLE_ARN,
) -> dict[str, Any]:
    """One boto3 ``get_records`` record -> one ``Records[]`` entry of a Lambda event."""
    arrival = record.get("ApproximateArrivalTimestamp")
    if isinstance(arrival, datetime):
        arrival = arrival.timestamp()
    seq = record["SequenceNumber"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": seq,
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def lambda_event(
    records: Iterable[Mapping[str, Any]], *, shard_id: str, stream_arn: str, region: str
) -> dict[str, Any]:
    """A whole event: records of one shard, in order (as the mapping delivers them)."""
    return {
        "Records": [
            lambda_record(r, shard_id=shard_id, stream_arn=stream_arn, region=region)
            for r in records
        ]
    }
