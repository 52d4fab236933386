"""``streaming score``'s formats and bodies (issue 11).

* The input's format comes from its content (parquet's ``PAR1``), never its name:
  a parquet file named ``.jsonl`` is parquet; a file that is neither parquet nor
  JSON lines (a CSV) is refused in one line, not scored into thousands of rejects.
* The output's name says its format: ``.parquet``, ``.csv``, or a one-line refusal.
* score takes the bodies serve takes (the course's flat body too) and gives the
  same answer; the stream keeps its v1 event contract.
* A ride without a pickup time starts at the run's start, and the output says so
  (``pickup_time_source``), as serve (``pickup_time``) and the stream (``pickupTime``).
* The progress bar knows its total (an ETA): the parquet row count, the file size.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.serving.score import main, score
from streaming.serving.score_inputs import input_format
from streaming.serving.score_outputs import default_rejected, output_format
from streaming.serving.serve import PredictionApp
from tests.conftest import COURSE_RIDE, make_record
from tests.support.rides import tlc_file

#: the run's start, for rides without a pickup time
INVOKED = 1_675_257_300.0
COURSE_BODY = dict(COURSE_RIDE["ride"])  # the course web service's flat body


def _tlc(path, n=30):
    tlc_file(path, n)
    return path


def _run(*argv):
    return main([*map(str, argv), "--quiet"])


def _one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streaming score: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


# -- the input's format: its content, not its name ----------------------------------------


def test_a_parquet_file_named_jsonl_is_read_as_parquet(shipped_model, tmp_path, capsys):
    source = _tlc(tmp_path / "trips.jsonl")
    assert input_format(str(source)) == "parquet"
    assert _run("--input", source, "--output", tmp_path / "o.parquet") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["rows"], summary["predicted"], summary["rejected"]) == (30, 30, 0)


def test_json_lines_named_parquet_are_read_as_json_lines(shipped_model, tmp_path, capsys):
    source = tmp_path / "rides.parquet"
    source.write_text(json.dumps(COURSE_BODY) + "\n")
    assert input_format(str(source)) == "jsonl"
    assert _run("--input", source, "--output", tmp_path / "o.parquet") == 0
    assert json.loads(capsys.readouterr().out)["predicted"] == 1


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (  # a TLC month exported as CSV
            "lpep_pickup_datetime,PULocationID,DOLocationID,trip_distance\n"
            "2023-02-01 08:00:00,74,75,1.5\n2023-02-01 08:10:00,75,74,2.5\n",
            ["neither parquet nor JSON lines", "none of its 3 lines is JSON", "looks like CSV"],
        ),
        ("just some notes\n", ["neither parquet nor JSON lines", "its one line"]),
        (b"garbage ending like parquet PAR1", ["does not start as one"]),
    ],
    ids=["csv", "text", "parquet-tail-only"],
)
def test_a_file_that_is_neither_parquet_nor_json_lines_is_one_line(tmp_path, capsys, content, says):
    source = tmp_path / "input.jsonl"
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_text(content)
    assert _run("--input", source, "--output", tmp_path / "o.parquet") == 2
    line = _one_error_line(capsys)
    assert all(word in line for word in says), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.jsonl"]  # nothing written


def test_a_long_csv_is_refused_after_its_first_chunk(tmp_path, capsys):
    """Refused once 1,000 lines were read and none was JSON: not after the whole file."""
    source = tmp_path / "big.csv"
    source.write_text("a,b\n" + "1,2\n" * 5000)
    assert _run("--input", source, "--output", tmp_path / "o.parquet", "--chunk-rows", 1000) == 2
    assert "none of the first 1000 lines is JSON" in _one_error_line(capsys)


def test_json_lines_with_some_json_are_scored_line_by_line(tmp_path, capsys):
    """One JSON line is enough: a bad row is a reject, never fatal."""
    source = tmp_path / "rides.jsonl"
    source.write_text("not json\n" + json.dumps(COURSE_BODY) + "\n")
    assert _run("--input", source, "--output", tmp_path / "o.parquet") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected_by_reason"] == {"invalid_json": 1} and summary["predicted"] == 1


# -- the output's format: its name ----------------------------------------------------------


def test_csv_output_is_csv_with_the_parquet_outputs_values(shipped_model, tmp_path):
    source = _tlc(tmp_path / "in.parquet")
    (tmp_path / "bad.jsonl").write_text(json.dumps(COURSE_BODY) + "\n[1]\n")
    assert _run("--input", source, "--output", tmp_path / "p.parquet") == 0
    assert _run("--input", source, "--output", tmp_path / "p.csv") == 0
    as_csv, as_parquet = pd.read_csv(tmp_path / "p.csv"), pd.read_parquet(tmp_path / "p.parquet")
    assert list(as_csv.columns) == list(as_parquet.columns)
    assert as_csv["predicted_duration"].tolist() == as_parquet["predicted_duration"].tolist()
    assert (tmp_path / "p.rejected.csv").read_text().splitlines() == [
        '"source_row","reason","detail","record"'
    ]
    assert _run("--input", tmp_path / "bad.jsonl", "--output", tmp_path / "b.csv") == 0
    rejected = pd.read_csv(tmp_path / "b.rejected.csv")
    assert rejected[["source_row", "reason"]].values.tolist() == [[1, "not_an_object"]]


@pytest.mark.parametrize(
    ("option", "name", "says"),
    [
        ("--output", "preds.txt", "--output"),
        ("--output", "preds", "no extension"),
        ("--output", "preds.json", "extension '.json'"),
        ("--rejected", "rejects.jsonl", "--rejected"),
    ],
)
def test_an_output_name_of_no_known_format_is_refused(tmp_path, capsys, option, name, says):
    source = _tlc(tmp_path / "in.parquet")
    argv = ["--input", source, "--output", tmp_path / "o.parquet", option, tmp_path / name]
    assert _run(*argv) == 2
    line = _one_error_line(capsys)
    assert says in line and ".parquet or .csv" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_output_names():
    assert output_format("s3://b/k.CSV") == "csv" and output_format("x.parquet") == "parquet"
    assert default_rejected("out/p.csv") == "out/p.rejected.csv"
    assert default_rejected("s3://b/p.parquet") == "s3://b/p.rejected.parquet"


# -- the bodies serve takes -----------------------------------------------------------------


def _score_lines(model, tmp_path, lines):
    source = tmp_path / "rides.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    stats = score(
        model,
        str(source),
        str(tmp_path / "o.parquet"),
        str(tmp_path / "r.parquet"),
        progress=False,
        now=INVOKED,
    )
    return (
        stats,
        pq.read_table(tmp_path / "o.parquet").to_pylist(),
        pq.read_table(tmp_path / "r.parquet").to_pylist(),
    )


def _served(shipped_model, body) -> dict:
    status, answer, _ = PredictionApp(shipped_model).predict(json.dumps(body).encode(), INVOKED)
    assert status == 200, answer
    return json.loads(answer)


def test_the_course_body_is_scored_as_serve_answers_it(shipped_model, tmp_path):
    timed = {**COURSE_BODY, "pickup_datetime": "2023-02-01T08:15:00"}
    lines = [COURSE_BODY, timed, {**timed, "ride_id": "abc"}, {"ride": timed, "ride_id": 7}]
    stats, out, rejected = _score_lines(shipped_model, tmp_path, lines)
    assert rejected == [] and stats.predicted == 4
    # a flat body without ride_id gets its row number; with one, its own
    assert [r["ride_id"] for r in out] == ["0", "1", "abc", "7"]
    served = [_served(shipped_model, body)["duration"] for body in lines]
    assert [r["predicted_duration"] for r in out] == served  # to the last bit
    assert round(out[1]["predicted_duration"], 2) == 16.57  # the README's figure


def test_the_stream_keeps_its_v1_event_contract(shipped_model):
    """The same flat body on the stream is ``invalid_ride``: only the event shape is a ride."""
    handler = RideDurationService(shipped_model, Settings(test_run=True))
    result = handler.process({"Records": [make_record(COURSE_BODY)]})
    assert [r.reason.value for r in result.rejections] == ["invalid_ride"]


def test_an_event_without_ride_id_is_still_rejected(shipped_model, tmp_path):
    _, out, rejected = _score_lines(shipped_model, tmp_path, [{"ride": COURSE_BODY}])
    assert out == [] and [r["reason"] for r in rejected] == ["invalid_ride_id"]


# -- the time used, said in the output ------------------------------------------------------


def test_a_ride_without_pickup_time_starts_at_the_run_in_all_three_modes(shipped_model, tmp_path):
    """score's pickup_time_source, serve's pickup_time, the stream's pickupTime: the same
    time used (the invocation), said the same way, and the same prediction."""
    timed = {**COURSE_BODY, "pickup_datetime": "2023-02-01T08:15:00"}
    stats, out, _ = _score_lines(shipped_model, tmp_path, [COURSE_RIDE, timed])
    assert [r["pickup_time_source"] for r in out] == ["invocation", "pickup_datetime"]
    assert stats.invocation_time == INVOKED

    served = _served(shipped_model, COURSE_RIDE)
    assert served["pickup_time"] == {"source": "invocation", "epoch": INVOKED}
    assert "pickup_time" not in _served(shipped_model, timed)

    record = make_record(COURSE_RIDE)  # the course's unit-test event: no arrival time
    del record["kinesis"]["approximateArrivalTimestamp"]
    handler = RideDurationService(shipped_model, Settings(test_run=True), clock=lambda: INVOKED)
    [event] = handler.process({"Records": [record]}).predictions
    assert event["pickupTime"] == {"source": "invocation", "epoch": INVOKED}

    assert out[0]["predicted_duration"] == served["duration"]
    assert out[0]["predicted_duration"] == event["prediction"]["ride_duration"]


def test_a_tlc_row_with_a_null_pickup_says_so(shipped_model, tmp_path):
    pickup = pa.array([datetime(2023, 2, 1, 8), None], pa.timestamp("us"))
    source = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "lpep_pickup_datetime": pickup,
                "PULocationID": [74, 75],
                "DOLocationID": [75, 74],
                "trip_distance": [1.0, 2.0],
            }
        ),
        source,
    )
    score(
        shipped_model, str(source), str(tmp_path / "o.csv"), str(tmp_path / "r.csv"),
        progress=False, now=INVOKED,
    )  # fmt: skip
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["pickup_time_source"].tolist() == ["pickup_datetime", "invocation"]


def test_the_summary_line_gives_the_invocation_time(tmp_path, capsys):
    source = tmp_path / "rides.jsonl"
    source.write_text(json.dumps(COURSE_BODY) + "\n")
    assert _run("--input", source, "--output", tmp_path / "o.parquet") == 0
    summary = json.loads(capsys.readouterr().out)
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert out["pickup_time_source"].tolist() == ["invocation"]
    assert abs(summary["invocation_time"] - datetime.now().timestamp()) < 60


# -- the progress bar knows its total -------------------------------------------------------


class _Bar:
    made: ClassVar[list[_Bar]] = []

    def __init__(self, **kwargs):
        self.kwargs, self.n, self.closed = kwargs, 0, False
        _Bar.made.append(self)

    def update(self, k):
        self.n += k

    def close(self):
        self.closed = True


def test_the_progress_bar_has_a_total_and_ends_there(shipped_model, tmp_path, monkeypatch):
    import tqdm

    monkeypatch.setattr(tqdm, "tqdm", _Bar)
    _Bar.made.clear()
    parquet = _tlc(tmp_path / "in.parquet", n=25)
    lines = tmp_path / "in.jsonl"
    lines.write_text((json.dumps(COURSE_BODY) + "\n") * 10)
    for source in (parquet, lines):
        score(
            shipped_model, str(source), str(tmp_path / "o.parquet"),
            str(tmp_path / "r.parquet"), chunk_rows=4,
        )  # fmt: skip
    by_rows, by_bytes = _Bar.made
    assert (by_rows.kwargs["total"], by_rows.kwargs["unit"], by_rows.n) == (25, "row", 25)
    size = lines.stat().st_size
    assert (by_bytes.kwargs["total"], by_bytes.kwargs["unit"], by_bytes.n) == (size, "B", size)
    assert by_rows.closed and by_bytes.closed
