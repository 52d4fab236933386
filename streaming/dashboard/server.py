"""`streaming dashboard`: the monitoring database as a page a team can leave on a screen.

A small threaded HTTP server (the standard library's; nothing to install), bound
to loopback unless told otherwise:

* ``/``                the page (``static/index.html``): it loads nothing from the
                       network but this server - the chart library (uPlot) is shipped
                       in ``static/`` - and refreshes itself every ``refresh_s``;
* ``/api/summary``     the JSON it draws (``summary.build_summary``), ``?hours=N``
                       for the last N hours (0: everything);
* ``/static/<file>``   the page's own files, by exact name only;
* ``/healthz``         200 when the database answers, 503 (with the reason) when not.

A database that is down answers 503 with one line saying so; the page shows it and
keeps trying, so the screen recovers by itself when the database does.
"""

from __future__ import annotations

import json
import logging
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from streaming.dashboard.summary import build_summary

LOG = logging.getLogger(__name__)
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
}
#: the longest period a request may ask for (a year of windows)
MAX_HOURS = 24 * 366


def _static(name: str) -> bytes:
    return resources.files("streaming.dashboard").joinpath("static", name).read_bytes()


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], engine: Engine, *, hours: float, refresh_s: int
    ) -> None:
        super().__init__(address, DashboardHandler)
        self.engine = engine
        self.hours = hours
        self.refresh_s = refresh_s

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path in ("/", "/index.html"):
            body = _static("index.html").replace(
                b"{{refresh_s}}", str(self.server.refresh_s).encode()
            )
            self._send(HTTPStatus.OK, body, STATIC["index.html"])
        elif path.startswith("/static/") and path.removeprefix("/static/") in STATIC:
            name = path.removeprefix("/static/")
            self._send(HTTPStatus.OK, _static(name), STATIC[name], cache=True)
        elif path == "/api/summary":
            self._summary(parse_qs(parts.query))
        elif path == "/healthz":
            self._health()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {path[:200]!r}"})

    def _summary(self, query: dict[str, list[str]]) -> None:
        hours = _hours(query.get("hours", [None])[0], self.server.hours)
        if hours is None:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"hours: a number 0-{MAX_HOURS}"})
            return
        now = time.time()
        since = int(now - hours * 3600) if hours else 0
        try:
            with self.server.engine.connect() as conn:
                summary = build_summary(conn, since, now)
        except SQLAlchemyError as exc:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": _db_error(exc)})
            return
        summary["refresh_s"] = self.server.refresh_s
        self._json(HTTPStatus.OK, summary)

    def _health(self) -> None:
        try:
            with self.server.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "down", "error": _db_error(exc)})
            return
        self._json(HTTPStatus.OK, {"status": "ok"})

    def _json(self, status: HTTPStatus, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        self._send(status, body, "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, cache: bool = False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        # the page loads only what this server serves, whatever a row may contain
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        )
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)


def _hours(raw: str | None, default: float) -> float | None:
    if raw is None:
        return default
    try:
        hours = float(raw)
    except ValueError:
        return None
    return hours if 0 <= hours <= MAX_HOURS else None


def _db_error(exc: Exception) -> str:
    """One line naming the problem; the driver's full text can hold the URL's password."""
    first = str(getattr(exc, "orig", exc) or type(exc).__name__).splitlines()[0]
    return f"the monitoring database does not answer: {first[:200]}"
