"""`streaming dashboard`: its JSON, its HTTP edges, and the page in real headless
Chromium (Debian's, driven by Playwright; never `playwright install`)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from streaming.monitoring import store
from streaming.monitoring.drift import Histogram
from streaming.monitoring.service import MonitoringService
from streaming.monitoring.settings import MonitoringSettings
from streaming.tools import dashboard
from tests.conftest import REPO
from tests.monitoring.conftest import (
    DEAD_LETTER_ARN,
    FINISHED_ARN,
    RIDES_ARN,
    SHADOW_ARN,
    T0,
    finished,
    prediction,
    started,
    window_event,
)
from tests.support.postgres import fresh_database, postgres_server

WINDOWS = 5
#: where the screenshot is kept (a CI artifact; not committed)
ARTIFACTS = REPO / "test-artifacts"


def fill(url: str, windows: int = WINDOWS) -> None:
    """Windows of a plausible day: champion and shadow predictions, finished rides, dead
    letters; the last window's distances doubled (drift past the threshold)."""
    engine = store.open_store(url)
    reference = Histogram.of([8.0 + (i % 20) for i in range(1000)])
    with engine.begin() as conn:
        store.write_reference(conn, "v1", reference.counts)
    svc = MonitoringService(
        engine,
        MonitoringSettings(db_url=url, shadow_stream="ride_shadow_predictions"),
        emit=lambda _line: None,
        known_zones=(frozenset(range(1, 200)), frozenset(range(1, 300))),
    )
    for w in range(windows):
        start = T0 + 60 * w
        shift = 2.0 if w == windows - 1 else 1.0
        rides = range(w * 300, w * 300 + 300)
        streams = [
            # window w: w% of the rides start in zone 250, which the model does not know
            ([started(i, pu=250 if i % 100 < w else 130) for i in rides], {"arn": RIDES_ARN}),
            ([prediction(i, (8.0 + i % 20) * shift) for i in rides], {}),
            ([prediction(i, 9.0 + i % 20, version="v2") for i in rides], {"arn": SHADOW_ARN}),
            ([finished(i, 10.0 + i % 20) for i in rides], {"arn": FINISHED_ARN}),
            (
                [{"schema": "ride-dead-letter/v1", "reason": r} for r in ("invalid_json",) * w],
                {"arn": DEAD_LETTER_ARN},
            ),
        ]
        for items, kw in streams:
            state = svc.handle(window_event(items, start=start, **kw))["state"]
            svc.handle(window_event([], start=start, state=state, final=True, **kw))


def serve(url: str) -> Iterator[str]:
    server = dashboard.start(url, "127.0.0.1", 0, hours=0, refresh_s=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(tmp_path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    fill(url)
    yield from serve(url)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_summary_has_every_window_and_figure(site):
    status, summary = get(site + "api/summary")
    assert status == 200
    assert summary["window_starts"] == [T0 + 60 * w for w in range(WINDOWS)]
    series = summary["series"]
    assert series["champion_records"] == [300] * WINDOWS
    assert series["shadow_records"] == [300] * WINDOWS
    assert series["finished"] == [300] * WINDOWS
    assert series["psi"][0] < 0.01
    assert series["psi"][-1] > summary["psi_threshold"] == 0.2  # the doubled window drifts
    assert series["rmse_champion"][:-1] == [pytest.approx(2.0)] * (WINDOWS - 1)
    assert series["rmse_champion"][-1] > 10
    assert series["rmse_shadow"] == [pytest.approx(1.0)] * WINDOWS
    assert series["dead_letters"]["invalid_json"] == [None, 1, 2, 3, 4]
    assert series["shadow_minus_champion"][0] == pytest.approx(1.0)
    assert series["rides_started"] == [300] * WINDOWS
    assert series["unknown_zone_share"] == [pytest.approx(w) for w in range(WINDOWS)]
    assert summary["totals"] == {
        "windows": WINDOWS,
        "predictions": 300 * WINDOWS,
        "finished_rides": 300 * WINDOWS,
        "dead_letters": 10,
        "rides_started": 300 * WINDOWS,
    }
    assert summary["latest"][0]["start"] == T0 + 60 * (WINDOWS - 1)


def test_http_edges(site):
    assert get(site + "healthz") == (200, {"status": "ok"})
    assert get(site + "api/summary?hours=-1")[0] == 400
    assert get(site + "api/summary?hours=nan")[0] == 400
    assert get(site + "static/../pyproject.toml")[0] == 404
    assert get(site + "static/summary.py")[0] == 404


def open_page(chromium, url: str):
    """A page that may load only from ``url``: any other request is aborted and listed."""
    page = chromium.new_page(viewport={"width": 1440, "height": 1000})
    outside: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith(url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, outside, errors


def until(page, expression: str, timeout_s: float = 20.0) -> None:
    """Poll ``expression`` from the test (``page.evaluate`` is not subject to the page's
    Content-Security-Policy; ``wait_for_function``'s in-page polling evaluates strings,
    which the policy forbids, as it should)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


def test_the_page_draws_the_windows_in_chromium(site, chromium):
    page, outside, errors = open_page(chromium, site)
    page.goto(site)
    until(page, f"document.body.dataset.loaded === '{WINDOWS}'")
    assert page.locator(".chart canvas").count() == 6  # one uPlot canvas per chart
    titles = page.locator("figcaption").all_inner_texts()
    assert any("Drift" in t and "PSI" in t for t in titles)
    assert any("Error of finished rides" in t and "minutes" in t for t in titles)
    rows = page.locator("#latest tbody tr")
    assert rows.count() == 2 * WINDOWS  # champion and shadow per window
    assert page.locator("#latest td.alarm").count() == 1  # the drifted window's PSI
    assert page.inner_text("#t-predictions") == f"{300 * WINDOWS:,}"
    assert "alarm" in (page.get_attribute("#t-psi", "class") or "")
    assert "updated" in page.inner_text("#status")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert outside == [] and errors == []
    page.close()


def test_a_hostile_version_is_shown_as_text(tmp_path, chromium):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    svc = MonitoringService(store.open_store(url), MonitoringSettings(db_url=url))
    evil = '<img src=x onerror="document.body.dataset.pwned=1">'
    state = svc.handle(window_event([prediction(1, 5.0, version=evil)]))["state"]
    svc.handle(window_event([], state=state, final=True))
    for site in serve(url):
        page, outside, _errors = open_page(chromium, site)
        page.goto(site)
        until(page, "document.body.dataset.loaded === '1'", 20)
        assert page.locator("#latest tbody td").nth(1).inner_text() == evil
        assert page.evaluate("document.body.dataset.pwned") is None
        assert outside == []
        page.close()


def test_the_page_says_when_the_database_is_down_and_recovers(chromium):
    with postgres_server() as server:
        url = fresh_database(server.url)
        fill(url, windows=2)
        for site in serve(url):
            page, _outside, _errors = open_page(chromium, site)
            page.goto(site)
            until(page, "document.body.dataset.loaded === '2'", 20)
            server.stop()
            until(
                page,
                "document.getElementById('status').textContent.includes('does not answer')",
                30,
            )
            assert get(site + "healthz")[0] == 503
            server.start()
            until(page, "document.getElementById('status').textContent.startsWith('updated')", 30)
            page.close()


def test_dashboard_mistakes_are_one_line(tmp_path, capsys):
    from streaming.commandline.errors import run_command

    code = run_command("dashboard", dashboard.main, ["--db", "mysql://x/y", "--port", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not supported" in err[0]
    code = run_command("dashboard", dashboard.main, ["--refresh", "1", "--port", "0"])
    assert code == 2 and "2-3600" in capsys.readouterr().err
    bad = f"postgresql://u:hunter2@127.0.0.1:{_closed_port()}/db"
    code = run_command("dashboard", dashboard.main, ["--db", bad, "--port", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "hunter2" not in err[0] and "is it running" in err[0]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_chart_library_is_shipped_not_fetched():
    static = REPO / "streaming" / "dashboard" / "static"
    page = (static / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert (static / "uPlot.iife.min.js").stat().st_size > 40_000
    assert "MIT" in (static / "uPlot.LICENSE").read_text()
    assert Path(static / "dashboard.js").read_text().count("innerHTML") == 0
