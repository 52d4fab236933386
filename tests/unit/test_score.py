"""``streaming score`` on local files: TLC parquet and JSON lines, rejects with reasons."""

from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streaming.serving.score import ScoreError, check_targets, main, score
from tests.conftest import DATA
from tests.support.rides import ride_bytes, tlc_file


@pytest.mark.slow  # reads a whole month
def test_a_tlc_month_in_chunks(shipped_model, tmp_path):
    raw = pd.read_parquet(DATA / "green_tripdata_2021-02.parquet").head(5000)
    raw.loc[3, "trip_distance"] = -1.0  # invalid
    raw.loc[7, "PULocationID"] = None  # missing: the column turns float
    path = tmp_path / "month.parquet"
    raw.to_parquet(path)
    stats = score(
        shipped_model,
        str(path),
        str(tmp_path / "out.parquet"),
        str(tmp_path / "rej.parquet"),
        chunk_rows=1000,
        progress=False,
    )
    assert (stats.rows, stats.predicted, stats.rejected) == (5000, 4998, 2)
    out = pd.read_parquet(tmp_path / "out.parquet")
    rejected = pd.read_parquet(tmp_path / "rej.parquet").set_index("source_row")
    assert set(rejected.index) == {3, 7}
    assert rejected.at[3, "reason"] == "invalid_trip_distance"
    assert rejected.at[7, "reason"] == "invalid_location_id"
    assert (out["model_version"] == shipped_model.version).all()
    # same predictions as the served model on the same features (hour from pickup)
    trips = raw.drop(index=[3, 7])
    x = np.column_stack(
        [
            trips["PULocationID"],
            trips["DOLocationID"],
            trips["trip_distance"],
            trips["lpep_pickup_datetime"].dt.hour,
            trips["lpep_pickup_datetime"].dt.day_of_week,
        ]
    ).astype(float)
    np.testing.assert_array_equal(out["predicted_duration"], shipped_model.predictor.predict(x))
    expected_actual = (
        trips["lpep_dropoff_datetime"] - trips["lpep_pickup_datetime"]
    ).dt.total_seconds() / 60
    np.testing.assert_allclose(out["actual_duration"], expected_actual)
    assert out["ride_id"].tolist() == [str(i) for i in trips.index]


def test_json_lines_with_bad_lines(shipped_model, tmp_path, capsys):
    lines = [
        ride_bytes(f"r{i}", distance=2.5, pickup_datetime="2023-02-01T08:00:00").decode()
        for i in range(10)
    ]
    lines[4] = "not json"
    lines[6] = json.dumps(
        {"ride": {"PULocationID": True, "DOLocationID": 1, "trip_distance": 1}, "ride_id": 1}
    )
    path = tmp_path / "rides.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    assert main(["--input", str(path), "--output", str(tmp_path / "o.parquet"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 10 and summary["rejected"] == 2
    rejected = pq.read_table(tmp_path / "o.rejected.parquet").to_pylist()
    assert [(r["source_row"], r["reason"]) for r in rejected] == [
        (4, "invalid_json"),
        (6, "invalid_location_id"),
    ]
    assert rejected[0]["record"] == "not json"
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert out["ride_id"].tolist() == [f"r{i}" for i in range(10) if i not in (4, 6)]
    assert pa.types.is_float64(
        pq.read_schema(tmp_path / "o.parquet").field("predicted_duration").type
    )


# -- whole-run problems: one line, exit 2, nothing written --------------------------------


def _tlc_file(path, n=20):
    return tlc_file(path, n, row_group_size=max(1, n // 2))


def _one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streaming score: "), captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize(
    "case",
    ["output_is_input", "output_is_input_respelled", "output_is_a_link_to_input",
     "rejected_is_input", "rejected_is_output", "default_rejected_is_input"],
)  # fmt: skip
def test_an_output_that_would_overwrite_the_input_is_refused(tmp_path, capsys, case):
    source = _tlc_file(tmp_path / "in.parquet")
    before = source.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.parquet").symlink_to(source)
    out, rejected = str(tmp_path / "out.parquet"), None
    if case == "output_is_input":
        out = str(source)
    elif case == "output_is_input_respelled":
        out = str(tmp_path / "sub" / ".." / "in.parquet")
    elif case == "output_is_a_link_to_input":
        out = str(tmp_path / "link.parquet")
    elif case == "rejected_is_input":
        rejected = str(source)
    elif case == "rejected_is_output":
        rejected = out
    else:  # --output in.parquet would put the rejects in in.rejected.parquet
        source = _tlc_file(tmp_path / "in.rejected.parquet")
        before = source.read_bytes()
        out = str(tmp_path / "in.parquet")
    argv = ["--input", str(source), "--output", out, "--quiet"]
    argv += ["--rejected", rejected] if rejected else []
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert "overwrite" in line and ("--rejected" in line or "--output" in line)
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"in.parquet", "sub", "link.parquet", source.name}
    )


def test_same_s3_object_is_refused_before_any_request():
    with pytest.raises(ScoreError, match="input file"):
        check_targets("s3://b/k.parquet", "s3://b/k.parquet", "s3://b/r.parquet")
    check_targets("s3://b/k.parquet", "s3://b/K.parquet", "s3://b/r.parquet")  # other keys


def _corrupt_second_row_group(path):
    """Garbage over the first page of row group 1: the first chunk reads, the second fails."""
    column = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start = min(o for o in (column.dictionary_page_offset, column.data_page_offset) if o)
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(b"\xff" * 64)


def test_a_run_that_fails_midway_leaves_no_output_and_keeps_the_last_one(
    shipped_model, tmp_path, capsys
):
    source = _tlc_file(tmp_path / "in.parquet", n=2000)
    out, rejected = tmp_path / "out.parquet", tmp_path / "out.rejected.parquet"
    argv = ["--input", str(source), "--output", str(out), "--chunk-rows", "1000", "--quiet"]
    assert main(argv) == 0  # a good run: the outputs of yesterday
    capsys.readouterr()
    previous = out.read_bytes(), rejected.read_bytes()
    _corrupt_second_row_group(source)
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert f"cannot read {source}" in line
    assert (out.read_bytes(), rejected.read_bytes()) == previous  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["in.parquet", "out.parquet", "out.rejected.parquet"]
    )  # no temporary file left behind
    out.unlink()
    rejected.unlink()
    with pytest.raises(ScoreError):
        score(shipped_model, str(source), str(out), str(rejected), chunk_rows=1000, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]  # none created


class _Interrupting:
    """A model that is interrupted (Ctrl-C) during its second chunk."""

    def __init__(self, predictor):
        self.predictor, self.calls = predictor, 0

    def predict(self, x):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return self.predictor.predict(x)


def test_an_interrupted_run_leaves_no_output(shipped_model, tmp_path):
    from dataclasses import replace

    source = _tlc_file(tmp_path / "in.parquet", n=100)
    model = replace(shipped_model, predictor=_Interrupting(shipped_model.predictor))
    out = tmp_path / "out.parquet"
    out.write_bytes(b"the previous predictions")
    with pytest.raises(KeyboardInterrupt):
        score(model, str(source), str(out), str(tmp_path / "r.parquet"), chunk_rows=50)
    assert out.read_bytes() == b"the previous predictions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]


def test_outputs_get_the_usual_file_mode(shipped_model, tmp_path):
    import os

    source = _tlc_file(tmp_path / "in.parquet")
    score(shipped_model, str(source), str(tmp_path / "o.parquet"), str(tmp_path / "r.parquet"))
    probe = tmp_path / "probe"
    probe.touch()
    assert os.stat(tmp_path / "o.parquet").st_mode == os.stat(probe).st_mode


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"DOLocationID": None}, "has no column DOLocationID"),
        (
            {"DOLocationID": None, "trip_distance": None},
            "has no column DOLocationID, trip_distance",
        ),
        ({"lpep_pickup_datetime": None}, "has no column lpep_pickup_datetime"),
        ({"PULocationID": pa.array(["74", "75"])}, "column PULocationID is string; expected"),
        ({"PULocationID": pa.array([True, False])}, "column PULocationID is bool; expected"),
        ({"DOLocationID": pa.array([[74], [75]])}, "column DOLocationID is list<"),
        ({"trip_distance": pa.array(["1.0", "2"])}, "column trip_distance is string; expected"),
        ({"trip_distance": pa.array([b"1", b"2"])}, "column trip_distance is binary; expected"),
        ({"lpep_pickup_datetime": pa.array([b"x", b"y"])}, "column lpep_pickup_datetime is binary"),
        ({"lpep_pickup_datetime": pa.array([1, 2])}, "column lpep_pickup_datetime is int64"),
        ({"lpep_pickup_datetime": pa.array([[1], [2]])}, "column lpep_pickup_datetime is list<"),
        ({"lpep_dropoff_datetime": pa.array([1.5, 2.0])}, "column lpep_dropoff_datetime is double"),
        (
            {"lpep_pickup_datetime": pa.array([date(2023, 2, 1)] * 2, pa.date32())},
            "date without a time of day",
        ),
    ],
)
def test_a_file_scoring_cannot_use_is_one_line(tmp_path, capsys, columns, message):
    base = {
        "lpep_pickup_datetime": pa.array([datetime(2023, 2, 1, 8)] * 2, pa.timestamp("us")),
        "PULocationID": pa.array([74, 75]),
        "DOLocationID": pa.array([75, 74]),
        "trip_distance": pa.array([1.0, 2.0]),
    }
    merged = {**base, **columns}
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({k: v for k, v in merged.items() if v is not None}), source)
    argv = ["--input", str(source), "--output", str(tmp_path / "o.parquet"), "--quiet"]
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert message in line and str(source) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_duplicate_and_unreadable_files_are_one_line(tmp_path, capsys):
    dup = tmp_path / "dup.parquet"
    pq.write_table(
        pa.Table.from_arrays(
            [pa.array([datetime(2023, 2, 1)]), pa.array([1]), pa.array([2]), pa.array([1.0]),
             pa.array([3])],
            names=["lpep_pickup_datetime", "PULocationID", "DOLocationID", "trip_distance",
                   "PULocationID"],
        ),
        dup,
    )  # fmt: skip
    text = tmp_path / "notes.parquet"
    text.write_text("not parquet")
    for source, message in [
        (dup, "has 2 columns named PULocationID"),
        (text, "cannot read"),
        (tmp_path / "missing.parquet", "cannot read"),
        (tmp_path / "missing.jsonl", "cannot read"),
    ]:
        argv = ["--input", str(source), "--output", str(tmp_path / "o.parquet"), "--quiet"]
        assert main(argv) == 2
        assert message in _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.parquet", "notes.parquet"]


def test_verbose_shows_the_traceback(tmp_path, capsys):
    source = _tlc_file(tmp_path / "in.parquet")
    assert main(["--input", str(source), "--output", str(source), "-v"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("streaming score: ")


class _Body:
    def __init__(self, data):
        self.data, self.closed = data, False

    def read(self):
        return self.data

    def iter_chunks(self, size):
        for start in range(0, len(self.data), 7):  # small chunks: lines span several
            yield self.data[start : start + 7]

    def close(self):
        self.closed = True


class _FakeS3:
    """The S3 calls score makes, on a dict; uploads are recorded in order."""

    def __init__(self, objects):
        self.objects, self.uploads, self.bodies = objects, [], []

    def head_bucket(self, Bucket):  # noqa: N803 - boto3's names
        assert Bucket == "b"

    def head_object(self, Bucket, Key):  # noqa: N803
        return {"ContentLength": len(self.objects[f"s3://{Bucket}/{Key}"])}

    def download_file(self, bucket, key, path):
        from pathlib import Path

        Path(path).write_bytes(self.objects[f"s3://{bucket}/{key}"])

    def upload_file(self, path, bucket, key):
        from pathlib import Path

        self.uploads.append(f"s3://{bucket}/{key}")
        self.objects[f"s3://{bucket}/{key}"] = Path(path).read_bytes()

    def get_object(self, Bucket, Key, Range=None):  # noqa: N803
        data = self.objects[f"s3://{Bucket}/{Key}"]
        if Range is not None:  # bytes=first-last
            first, last = Range.removeprefix("bytes=").split("-")
            data = data[int(first) : int(last) + 1]
        self.bodies.append(_Body(data))
        return {"Body": self.bodies[-1]}


def test_s3_outputs_are_uploaded_only_after_a_successful_run(shipped_model, tmp_path, monkeypatch):
    import tempfile

    from streaming.serving import locations

    local_tmp = tmp_path / "tmp"
    local_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(local_tmp))
    good = _tlc_file(tmp_path / "good.parquet", n=2000)
    bad = _tlc_file(tmp_path / "bad.parquet", n=2000)
    _corrupt_second_row_group(bad)
    lines = b'{"ride": {"PULocationID": 74}, "ride_id": 1}\n\n' + GOOD_EVENT + b"\r\n"
    s3 = _FakeS3(
        {
            "s3://b/good.parquet": good.read_bytes(),
            "s3://b/bad.parquet": bad.read_bytes(),
            "s3://b/rides.jsonl": lines,
        }
    )
    monkeypatch.setattr(locations, "s3_client", lambda: s3)
    with pytest.raises(ScoreError, match=r"cannot read s3://b/bad\.parquet"):
        score(
            shipped_model, "s3://b/bad.parquet", "s3://b/o.parquet", "s3://b/r.parquet",
            chunk_rows=1000, progress=False,
        )  # fmt: skip
    assert s3.uploads == []
    assert list(local_tmp.iterdir()) == []  # no local leftovers either
    stats = score(
        shipped_model, "s3://b/good.parquet", "s3://b/o.parquet", "s3://b/r.parquet",
        chunk_rows=1000, progress=False,
    )  # fmt: skip
    assert stats.predicted == 2000
    assert s3.uploads == ["s3://b/r.parquet", "s3://b/o.parquet"]  # predictions last
    stats = score(
        shipped_model, "s3://b/rides.jsonl", "s3://b/j.parquet", "s3://b/jr.parquet",
        progress=False,
    )  # fmt: skip
    assert (stats.rows, stats.predicted, stats.rejected) == (2, 1, 1)
    assert all(body.closed for body in s3.bodies)
    assert list(local_tmp.iterdir()) == []


GOOD_EVENT = ride_bytes("r", distance=2.5, pickup_datetime="2023-02-01T08:00:00")
