"""``lambda_function`` as Lambda runs it: a fresh interpreter, init at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import COURSE_RIDE, REPO, make_record

HEAVY = ("sklearn", "scipy", "pandas", "onnxruntime", "matplotlib", "pyarrow", "skops")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MODEL_LOCATION", "TEST_RUN", "RUN_ID", "MODEL_VERSION")
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_course_test_passes_and_init_stays_light():
    event = {"Records": [make_record(COURSE_RIDE)]}
    code = (
        "import json, sys\n"
        "import lambda_function\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        f"out = lambda_function.lambda_handler(json.loads({json.dumps(event)!r}), None)\n"
        "print(json.dumps({'heavy': heavy, 'response': out}))\n"
    )
    proc = run_python(code, TEST_RUN="True", AWS_DEFAULT_REGION="us-east-1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []  # no scikit-learn / scipy / pandas at init
    [prediction] = result["response"]["predictions"]
    assert prediction["prediction"]["ride_id"] == 256
    assert result["response"]["batchItemFailures"] == []


def test_unloadable_model_stops_init_naming_location_and_reason(tmp_path):
    proc = run_python("import lambda_function", MODEL_LOCATION=str(tmp_path / "missing"))
    assert proc.returncode != 0
    assert f"cannot load model from {tmp_path / 'missing'}" in proc.stderr
    assert "no metadata.json" in proc.stderr


def test_bad_setting_stops_init():
    proc = run_python("import lambda_function", TEST_RUN="sometimes")
    assert proc.returncode != 0 and "TEST_RUN='sometimes'" in proc.stderr


def test_the_course_unit_test_event_as_written():
    """The course's model_test.py: a record with only kinesis.data, context None."""
    import base64

    data = base64.b64encode(json.dumps(COURSE_RIDE).encode()).decode()
    event = {"Records": [{"kinesis": {"data": data}}]}
    code = (
        "import json\n"
        "import lambda_function\n"
        f"out = lambda_function.lambda_handler(json.loads({json.dumps(event)!r}), None)\n"
        "print(json.dumps(out))\n"
    )
    proc = run_python(code, TEST_RUN="True", AWS_DEFAULT_REGION="us-east-1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    [prediction] = out["predictions"]
    assert prediction["prediction"]["ride_id"] == 256
    assert prediction["model"] == "ride_duration_prediction_model"
    assert prediction["pickupTime"]["source"] == "invocation"
    assert out["batchItemFailures"] == [] and out["rejected"] == []
