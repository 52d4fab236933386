"""``streaming score`` between S3 objects (moto S3 over HTTP)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from streaming.serving.score import main
from tests.conftest import DATA
from tests.support.rides import ride_event

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_parquet_in_s3_to_parquet_in_s3(s3, capsys, shipped_model):
    client, bucket = s3
    client.upload_file(str(DATA / "green_tripdata_2023-02.parquet"), bucket, "in/feb.parquet")
    assert (
        main(
            [
                "--input",
                f"s3://{bucket}/in/feb.parquet",
                "--output",
                f"s3://{bucket}/out/feb.parquet",
                "--chunk-rows",
                "20000",
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 64809 and summary["predicted"] + summary["rejected"] == 64809
    body = client.get_object(Bucket=bucket, Key="out/feb.parquet")["Body"].read()
    out = pd.read_parquet(io.BytesIO(body))
    assert len(out) == summary["predicted"]
    assert (out["model_version"] == shipped_model.version).all()
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "out/feb.rejected.parquet" in keys


def test_json_lines_streamed_from_s3(s3, capsys):
    client, bucket = s3
    lines = "\n".join(json.dumps(ride_event(i, distance=1.0 + i)) for i in range(2500))
    client.put_object(Bucket=bucket, Key="rides.jsonl", Body=lines.encode())
    assert (
        main(
            [
                "--input",
                f"s3://{bucket}/rides.jsonl",
                "--output",
                f"s3://{bucket}/scored.parquet",
                "--chunk-rows",
                "1000",
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    # no pickup time in these events and no Kinesis arrival: they start at the run's start
    assert (summary["predicted"], summary["rejected"]) == (2500, 0)
    body = client.get_object(Bucket=bucket, Key="scored.parquet")["Body"].read()
    scored = pd.read_parquet(io.BytesIO(body))
    assert set(scored["pickup_time_source"]) == {"invocation"}


def test_the_format_is_read_from_the_content_and_written_as_named(s3, capsys):
    """A parquet object named .jsonl is read as parquet (two range requests find it);
    --output .csv writes CSV to S3."""
    client, bucket = s3
    client.upload_file(str(DATA / "green_tripdata_2023-02.parquet"), bucket, "misnamed.jsonl")
    argv = ["--input", f"s3://{bucket}/misnamed.jsonl", "--output", f"s3://{bucket}/p.csv"]
    assert main([*argv, "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 64809 and summary["rejected_by_reason"].get("invalid_json") is None
    body = client.get_object(Bucket=bucket, Key="p.csv")["Body"].read()
    scored = pd.read_csv(io.BytesIO(body))
    assert len(scored) == summary["predicted"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "p.rejected.csv" in keys
