"""``make package``: the zip builds here (no Docker) and runs on Lambda's Python 3.12."""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import subprocess
import zipfile

import pytest

from tests.conftest import COURSE_RIDE, REPO, make_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def python312() -> str:
    candidates = [os.environ.get("PYTHON312", "")]
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
    if shutil.which("pyenv") and root.returncode == 0:
        candidates += sorted(glob.glob(f"{root.stdout.strip()}/versions/3.12*/bin/python3.12"))
    candidates.append(shutil.which("python3.12") or "")
    for path in candidates:
        if (
            path
            and subprocess.run(
                [path, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("Python 3.12 (the Lambda runtime's) is needed in CI to try the package")
    pytest.skip("no Python 3.12 here to import the package with")


def test_package_builds_and_the_packaged_function_runs(tmp_path):
    if platform.machine() != "x86_64":
        pytest.skip("the packaged wheels are x86_64; this machine cannot import them")
    proc = subprocess.run(
        ["make", "package"], cwd=REPO, capture_output=True, text=True, check=False, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "MB zipped" in proc.stdout and "MB unzipped" in proc.stdout
    archive = REPO / "dist" / "ride-duration-x86_64.zip"
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "task")
    assert {"lambda_function.py", "models/model.npz", "streaming/consumer/handler.py"} <= names
    assert not any(n.startswith(("sklearn/", "scipy/", "pandas/")) for n in names)
    assert sum(i.file_size for i in zipfile.ZipFile(archive).infolist()) < 250_000_000

    # As Lambda runs it: Python 3.12, only the package on the path (-I: no site, no cwd).
    event = {"Records": [make_record(COURSE_RIDE)]}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import lambda_function; "
        "print(json.dumps(lambda_function.lambda_handler(json.loads(sys.argv[2]))))"
    )
    run = subprocess.run(
        [python312(), "-I", "-c", code, str(tmp_path / "task"), json.dumps(event)],
        capture_output=True,
        text=True,
        check=False,
        env={"TEST_RUN": "True", "AWS_DEFAULT_REGION": "us-east-1", "PATH": os.environ["PATH"]},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    response = json.loads(run.stdout.strip().splitlines()[-1])
    [prediction] = response["predictions"]
    assert prediction["prediction"]["ride_id"] == 256
    assert 1 < prediction["prediction"]["ride_duration"] < 60


def build_function(target: str, task) -> set[str]:
    """``make <target> ARTIFACTS_DIR=task`` (what ``sam build`` runs) -> the packages of
    ``streaming`` it shipped; no pyarrow, within Lambda's unzipped limit."""
    if platform.machine() != "x86_64":
        pytest.skip("the packaged wheels are x86_64; this machine cannot import them")
    proc = subprocess.run(
        ["make", target, f"ARTIFACTS_DIR={task}"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (task / "models/model.npz").is_file()
    assert not (task / "pyarrow").exists() and not (task / "pandas").exists()
    size = sum(p.stat().st_size for p in task.rglob("*") if p.is_file())
    assert size < 250_000_000  # Lambda's unzipped limit
    return {p.name for p in (task / "streaming").iterdir() if p.is_dir()}


def run_as_lambda(task, code: str, *args: str, db) -> str:
    """``code`` on Python 3.12 with only ``task`` on the path (-I), as Lambda runs it,
    the database in ``MONITORING_DB_URL``; -> what it printed."""
    run = subprocess.run(
        [python312(), "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); " + code,
         str(task), *args],
        capture_output=True, text=True, check=False, timeout=120,
        env={"MONITORING_DB_URL": f"sqlite:///{db}", "PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_the_batch_function_builds_and_runs_from_its_own_files(tmp_path, shipped_model):
    """``make build-BatchFunction``: the runtime's wheels and the packages the batch
    job imports, nothing else; a day scored from a SQLite database of rides
    (PostgreSQL is the same code: tests/batch)."""
    from datetime import datetime, timedelta

    from streaming.database.engine import open_store
    from tests.batch.conftest import load_rides, ride

    task = tmp_path / "task"
    shipped = build_function("build-BatchFunction", task)
    assert shipped == {
        "batch",
        "commandline",
        "consumer",
        "database",
        "model",
        "monitoring",
        "serving",
    }
    assert (task / "batch_function.py").is_file()
    db = tmp_path / "rides.db"
    start = datetime(2021, 1, 15, 8)
    load_rides(
        open_store(f"sqlite:///{db}"), [ride(i, start + timedelta(minutes=i)) for i in range(25)]
    )
    out = run_as_lambda(
        task,
        "import json, batch_function; "
        "print(json.dumps(batch_function.lambda_handler({'date': '2021-01-15'})))",
        db=db,
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["predicted"] == 25 and result["rejected"] == 0
    assert result["model_version"] == shipped_model.version


def test_the_monitoring_function_builds_and_runs_from_its_own_files(tmp_path):
    """``make build-MonitoringFunction``: its wheels (psycopg's binary one among them)
    and packages; a window of predictions into a SQLite database, read back."""
    from streaming.monitoring import read
    from streaming.monitoring.store import open_store
    from tests.monitoring.conftest import prediction, window_event

    task = tmp_path / "task"
    shipped = build_function("build-MonitoringFunction", task)
    assert shipped == {"consumer", "database", "downstream", "model", "monitoring"}
    assert (task / "psycopg_binary").is_dir()
    db = tmp_path / "monitoring.db"
    items = [prediction(i, 10.0 + i % 7) for i in range(30)]
    events = [window_event(items), window_event([], final=True)]
    run_as_lambda(
        task,
        "import json, monitoring_function as m; "
        "state = m.lambda_handler(json.loads(sys.argv[2]))['state']; "
        "final = json.loads(sys.argv[3]); final['state'] = state; m.lambda_handler(final)",
        *(json.dumps(e) for e in events),
        db=db,
    )
    with open_store(f"sqlite:///{db}").connect() as conn:
        [window] = read.windows(conn)
    assert window.records == 30 and window.role == "champion"
