"""``streaming batch`` end to end on real TLC rides: import a month, backfill days,
the stream's answer to the bit, a process killed mid-run, parquet in the course's
layout, the report in a real Chromium, and mistakes as one line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from streaming.batch.days import ServiceDay
from streaming.batch.tlc_import import rides_table
from streaming.database.batch_tables import runs
from streaming.database.engine import open_store
from tests.batch.test_batch_job import stored, stream_predictions
from tests.conftest import REPO
from tests.support.cli import STREAMING, cli
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.slow

DAYS = [date(2021, 2, 8), date(2021, 2, 9), date(2021, 2, 10)]


@pytest.fixture(params=["sqlite", "postgresql"])
def month_db(request, tmp_path) -> str:
    """A database holding February 2021's rides, imported with the command line."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rides.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_admin"))
    proc = cli("batch", "import-tlc", "--db", url, "--month", "2021-02")
    assert proc.returncode == 0, proc.stderr
    assert "rides from green_tripdata_2021-02.parquet" in proc.stdout
    return url


def rides_of(engine, day: date) -> list[dict]:
    t = rides_table()
    start = ServiceDay(day)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t).where(t.c.pickup_datetime >= start.start, t.c.pickup_datetime < start.end)
        )
        return [dict(r._mapping) for r in rows]


def test_a_backfill_scores_each_day_as_the_stream_would(month_db, shipped_model):
    proc = cli("batch", "--db", month_db, "--from", "2021-02-08", "--to", "2021-02-10", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("streaming batch: 2021-02-") == 3
    engine = open_store(month_db)
    for day in DAYS:
        source = [r for r in rides_of(engine, day) if r["pu_location_id"] is not None]
        got = stored(engine, ServiceDay(day))
        assert len(got) > 1000
        # every ride of the day scored, each exactly as the stream's handler scores it
        assert got == stream_predictions(shipped_model, source)
    with engine.connect() as conn:
        done = conn.execute(select(func.count()).where(runs.c.status == "succeeded")).scalar()
    assert done == 3


def test_a_process_killed_mid_run_leaves_the_days_rows_as_they_were(month_db):
    first = cli("batch", "--db", month_db, "--date", "2021-02-09")
    assert first.returncode == 0, first.stderr
    engine = open_store(month_db)
    before = stored(engine, ServiceDay(date(2021, 2, 9)))
    source = rides_table()
    with engine.begin() as conn:  # the source changes, so a finished re-run would differ
        conn.execute(source.delete().where(source.c.ride_id % 2 == 0))
    proc = subprocess.Popen(
        [*STREAMING, "batch", "--db", month_db, "--from", "2021-02-08", "--to", "2021-02-09",
         "--chunk-rows", "20", "-q"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the 8th is done; the 9th is next
    assert line.startswith("streaming batch: 2021-02-08"), line + proc.stderr.read()
    running = select(func.count()).where(runs.c.status == "running")
    deadline = time.monotonic() + 30
    while True:  # the 9th's run is on record: its transaction is under way
        with engine.connect() as conn:
            if conn.execute(running).scalar():
                break
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    engine.dispose()
    engine = open_store(month_db)
    assert stored(engine, ServiceDay(date(2021, 2, 9))) == before  # all of them, unchanged
    with engine.connect() as conn:
        ninth = conn.execute(
            select(runs.c.status).where(runs.c.service_day == date(2021, 2, 9))
        ).scalars()
        assert sorted(ninth) == ["running", "succeeded"]  # the killed run never finished


def test_parquet_in_the_course_layout_replaced_on_rerun(tmp_path):
    url = f"sqlite:///{tmp_path / 'rides.db'}"
    assert cli("batch", "import-tlc", "--db", url, "--month", "2021-02").returncode == 0
    out = tmp_path / "out"
    for _ in range(2):
        proc = cli("batch", "--db", url, "--date", "2021-02-09", "--output", str(out))
        assert proc.returncode == 0, proc.stderr
    [written] = list(out.rglob("*.parquet"))
    parts = written.relative_to(out).parts
    assert parts[:4] == ("taxi_type=green", "year=2021", "month=02", "day=09")
    frame = pq.read_table(written).to_pandas()
    engine = open_store(url)
    table = stored(engine, ServiceDay(date(2021, 2, 9)))
    assert dict(zip(frame["ride_id"], frame["predicted_duration"], strict=True)) == table
    assert (frame["diff"] == frame["actual_duration"] - frame["predicted_duration"]).all()
    assert not list(out.rglob(".*.tmp"))


def test_the_report_reads_at_a_glance_in_chromium(tmp_path, chromium):
    url = f"sqlite:///{tmp_path / 'rides.db'}"
    assert cli("batch", "import-tlc", "--db", url, "--month", "2021-02").returncode == 0
    assert (
        cli("batch", "--db", url, "--from", "2021-02-01", "--to", "2021-02-08", "-q").returncode
        == 0
    )
    report = tmp_path / "report.html"
    proc = cli("batch", "--db", url, "--date", "2021-02-09", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert f"report: {report}" in proc.stdout
    # the same report again, from the database alone
    again = tmp_path / "again.html"
    proc = cli("batch", "report", "--db", url, "--date", "2021-02-09", "--report", str(again))
    assert proc.returncode == 0, proc.stderr

    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    for path in (report, again):
        page.goto(path.as_uri())
        assert page.locator("h1").inner_text() == "Ride durations for 2021-02-09 (New York)"
        assert page.locator("svg").count() == 6  # minutes, 2 by hour, zones, 2 by day
        assert page.locator("svg rect").count() > 100  # bars drawn
        cards = page.locator(".card").all_inner_texts()
        assert any(c.startswith("RMSE") and "min" in c for c in cards)
        history = page.locator("table").last.locator("tr")
        assert history.count() == 1 + 9  # a header, the day and the eight before it
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.goto(report.as_uri())
    page.screenshot(path=str(artifacts / "batch-report.png"), full_page=True)
    assert outside == []
    page.close()


def test_mistakes_are_one_line_naming_the_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    cases = [
        (["--db", url, "--date", "2021-02-09"], 1, "no table 'rides'"),
        (["--db", url, "--date", "2021-02-30"], 2, "YYYY-MM-DD"),
        (["--db", url, "--to", "2021-02-09"], 2, "--to needs --from"),
        (["--db", url, "--skip-table"], 2, "--skip-table writes nothing"),
        (["--db", url, "--column", "pickup=x"], 2, "ROLE=COLUMN"),
        (["--db", "mysql://h/db"], 2, "not supported"),
        (["--db", "postgresql://nobody@127.0.0.1:9/none", "--date", "2021-02-09"], 1,
         "is it running"),
        (["report", "--db", url, "--date", "2021-02-09", "--report", str(tmp_path / "r.html")],
         1, "score it first"),
        (["import-tlc", "--db", url, "--month", "1999-01"], 2, "no TLC file"),
    ]  # fmt: skip
    for args, code, words in cases:
        proc = cli("batch", *args)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, proc.stderr)
    assert cli("batch", "import-tlc", "--db", url, "--month", "2021-02").returncode == 0
    proc = cli("batch", "import-tlc", "--db", url, "--month", "2021-01")
    assert proc.returncode == 1 and "--replace" in proc.stderr  # two months cannot share ids
    proc = cli("batch", "--db", url, "--date", "2021-02-09", "--column", "trip_distance=miles")
    assert proc.returncode == 1 and "trip_distance (miles)" in proc.stderr
    proc = cli("batch", "--db", url, "--date", "2031-02-09")
    assert proc.returncode == 0 and "no rides started on 2031-02-09" in proc.stderr
