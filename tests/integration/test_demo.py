"""``make run``'s program, end to end, in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_demo_accounts_for_every_ride():
    proc = subprocess.run(
        [sys.executable, "-m", "streaming", "demo", "--rides", "300", "--json"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rides_sent"] == 300
    assert summary["unique_predictions"] == 300 and summary["rides_without_prediction"] == 0
    assert summary["dead_letters"] == summary["malformed_sent"] == 3
    assert summary["on_failure_records"] == 0
    assert 2.0 < summary["rmse_minutes"] < 7.0  # real durations of an unseen month
