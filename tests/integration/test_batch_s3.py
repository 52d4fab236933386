"""``streaming batch --output s3://``: the course's partitioned layout in a bucket on the
emulator over HTTP, replaced (not duplicated) when the day is scored again."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pandas as pd
import pytest

from streaming.database.engine import open_store
from streaming.tools.batch import main
from tests.batch.conftest import load_rides, ride

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_day_in_the_course_layout_in_s3(s3, tmp_path, capsys, shipped_model):
    client, bucket = s3
    url = f"sqlite:///{tmp_path / 'rides.db'}"
    start = datetime(2021, 1, 15, 7)
    load_rides(open_store(url), [ride(i, start + timedelta(minutes=3 * i)) for i in range(40)])
    for _ in range(2):
        args = ["--db", url, "--date", "2021-01-15", "--output", f"s3://{bucket}/predictions/"]
        assert main([*args, "--report", str(tmp_path / "report.html")]) == 0
    out = capsys.readouterr().out
    key = f"predictions/taxi_type=green/year=2021/month=01/day=15/{shipped_model.version}.parquet"
    assert f"parquet: s3://{bucket}/{key}" in out
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    report = key.replace(".parquet", ".report.html")
    assert sorted(keys) == [key, report]  # one of each per day and version: replaced on re-run
    page = client.get_object(Bucket=bucket, Key=report)["Body"].read().decode()
    assert page == (tmp_path / "report.html").read_text()
    frame = pd.read_parquet(io.BytesIO(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert len(frame) == 40 and set(frame["model_version"]) == {shipped_model.version}
    assert frame["actual_duration"].eq(12.0).all()
    assert ((frame["actual_duration"] - frame["predicted_duration"]) == frame["diff"]).all()


def test_a_missing_bucket_is_found_before_the_run(s3, tmp_path):
    from streaming.commandline.errors import CommandError

    url = f"sqlite:///{tmp_path / 'rides.db'}"
    load_rides(open_store(url), [ride(1, datetime(2021, 1, 15, 7))])
    with pytest.raises(CommandError, match="no such bucket"):
        main(["--db", url, "--date", "2021-01-15", "--output", "s3://no-such-bucket-here/p"])
