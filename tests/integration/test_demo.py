"""``make run``'s program, end to end, in a fresh interpreter."""

from __future__ import annotations

import json

import pytest

from tests.support.anywhere import run_anywhere

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_accounts_for_every_ride(tmp_path):
    """The installed script from a directory that is not the project's: the demo finds
    lambda_function.py, models/ and data/ from the project root."""
    proc = run_anywhere("demo", "--rides", "300", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rides_sent"] == 300
    assert summary["unique_predictions"] == 300 and summary["rides_without_prediction"] == 0
    assert summary["dead_letters"] == summary["malformed_sent"] == 3
    assert summary["on_failure_records"] == 0
    assert 2.0 < summary["rmse_minutes"] < 7.0  # real durations of an unseen month


def test_demo_with_a_shadow_trains_a_challenger_and_compares_it(tmp_path):
    """``--shadow DIR``: a smaller model is trained into DIR (once), runs as the shadow
    on every ride, and the summary ends with the comparison on the demo's rides: the
    20-tree challenger is worse than the shipped model, so the verdict is keep."""
    challenger = tmp_path / "challenger"
    proc = run_anywhere(
        "demo", "--rides", "300", "--shadow", str(challenger), "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (challenger / "metadata.json").is_file()
    assert summary["unique_predictions"] == 300 and summary["rides_without_prediction"] == 0
    report = summary["compare"]
    assert report["rides"]["scored_by_both"] == 300 and report["rides"]["compared"] == 300
    assert report["shadow"]["versions"] != report["champion"]["versions"]
    assert report["verdict"] == "keep"
    assert report["overall"]["shadow"]["rmse"] > report["overall"]["champion"]["rmse"]


def test_demo_with_monitoring_counts_every_ride_and_serves_the_dashboard(tmp_path):
    """``--monitor``: the monitoring function on the output streams and a ride-finished
    stream fed with the rides' real drop-offs. Every ride finishes, is joined, and the
    RMSE over the database's windows is the demo's own (same rides, same actuals);
    then the dashboard serves that database."""
    import threading
    import time
    import urllib.request

    db = tmp_path / "monitoring.db"
    args = ["--rides", "300", "--monitor", "--monitor-window", "2", "--monitor-db", str(db)]
    proc = run_anywhere("demo", *args, "--monitor-hold", "0", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    monitoring = summary["monitoring"]
    assert monitoring["all_windows_closed"] is True
    assert monitoring["finished_sent"] == monitoring["finished_joined"] == 300
    assert monitoring["predictions"] == 300 and monitoring["dead_letters"] == 3
    assert monitoring["windows"] >= 2
    assert monitoring["rmse"] == pytest.approx(summary["rmse_minutes"], abs=1e-6)
    assert "shadow" not in monitoring  # no --shadow: no shadow figures
    assert "see it later: streaming dashboard --db" in proc.stderr

    from streaming.tools import dashboard

    server = dashboard.start(f"sqlite:///{db}", "127.0.0.1", 0, hours=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(server.url + "api/summary", timeout=5) as r:
                    served = json.load(r)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()
    assert served["totals"]["finished_rides"] == 300


def test_demo_with_a_shadow_and_monitoring_measures_both_models_alike(tmp_path):
    """``--shadow DIR --monitor`` (``make run SHADOW=DIR MONITOR=1``): the monitoring
    function reads the shadow's stream too and joins both models' predictions to the
    same drop-offs, so its RMSE for each is the one the demo's comparison finds."""
    challenger = tmp_path / "challenger"
    db = tmp_path / "monitoring.db"
    args = ["--rides", "300", "--shadow", str(challenger), "--monitor", "--monitor-window", "2"]
    proc = run_anywhere(
        "demo", *args, "--monitor-db", str(db), "--monitor-hold", "0", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    monitoring, overall = summary["monitoring"], summary["compare"]["overall"]
    assert monitoring["all_windows_closed"] is True
    assert monitoring["finished_joined"] == monitoring["shadow"]["rides"] == 300
    assert monitoring["rmse"] == pytest.approx(overall["champion"]["rmse"], abs=1e-6)
    assert monitoring["shadow"]["rmse"] == pytest.approx(overall["shadow"]["rmse"], abs=1e-6)
    assert monitoring["shadow"]["rmse"] > monitoring["rmse"]  # the 20-tree challenger


def test_demo_monitor_options_need_monitor(tmp_path):
    proc = run_anywhere("demo", "--monitor-window", "10", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "streaming demo: --monitor-window, --monitor-db and --monitor-hold need --monitor"
    )
