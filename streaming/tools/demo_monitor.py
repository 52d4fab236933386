"""``streaming demo --monitor``: the monitoring function and its dashboard beside the demo.

What it adds to the demo's pipeline, on the same emulator:

1. a ride-finished stream, and a sender that writes each played ride's
   ``ride_finished`` event (its real drop-off, from the TLC file) when the ride
   ends on the demo's clock: ``--time-scale`` seconds of demo per minute of ride
   (``streaming send --finished-stream``'s rule), so the RMSE fills in as rides
   finish;
2. the monitoring function (``streaming.monitoring``, as ``monitoring_function``
   builds it) on one local event source mapping per stream - rides started,
   predictions, dead letters, the shadow's when there is one, ride-finished - with a tumbling
   window of ``--monitor-window`` seconds, writing to a SQLite file;
3. once every ride has finished and every window has closed, the figures the
   database holds, and the dashboard (``streaming dashboard``) on that file.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streaming.tools import finished

FINISHED_STREAM = "ride_finished"
#: seconds of demo per minute of ride: a 60-minute ride ends 6 s after it started
DEFAULT_TIME_SCALE = 0.1


@dataclass(frozen=True)
class MonitorOptions:
    db_path: Path
    window_s: int = 5
    time_scale: float = DEFAULT_TIME_SCALE

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"


@dataclass
class Monitoring:
    """The running monitoring side of a demo: its mappings, threads and sender."""

    options: MonitorOptions
    finished_stream: str
    mappings: list[Any] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    finished_sent: int = 0
    finished_done: threading.Event = field(default_factory=threading.Event)
    service: Any = None
    #: the shadow's prediction stream (``--shadow``), else None
    shadow_stream: str | None = None


def start(
    client: Any,
    streams: list[str],
    finished_stream: str,
    shadow_stream: str | None,
    options: MonitorOptions,
    stop: threading.Event,
) -> Monitoring:
    """Create the ride-finished stream and start the monitoring function's mappings."""
    from streaming.esm.runner import EventSourceMapping, MappingConfig
    from streaming.monitoring.build import build_monitoring_service
    from streaming.tools.stream_io import create_stream

    create_stream(client, finished_stream, 1)
    env = dict(os.environ, MONITORING_DB_URL=options.db_url)
    if shadow_stream:
        env["SHADOW_STREAM_NAME"] = shadow_stream
    service = build_monitoring_service(env, emit=lambda _line: None)  # EMF: for CloudWatch
    monitoring = Monitoring(options, finished_stream, service=service, shadow_stream=shadow_stream)
    config = MappingConfig(
        batch_size=1000, tumbling_window_s=options.window_s, poll_interval_s=0.2, max_retries=-1
    )
    for stream in [*streams, finished_stream]:
        mapping = EventSourceMapping(client, stream, service.handle, config)
        thread = threading.Thread(
            target=mapping.run, args=(stop,), name=f"monitor-{stream}", daemon=True
        )
        thread.start()
        monitoring.mappings.append(mapping)
        monitoring.threads.append(thread)
    return monitoring


def send_finished(
    monitoring: Monitoring,
    client: Any,
    events: list[dict[str, Any]],
    truth: dict[int, float],
    rate: float,
    started: float,
    stop: threading.Event,
) -> None:
    """In a thread: ride ``i``'s finished event when it ends on the demo's clock, i.e.
    ``i / rate`` (its start, as the demo's sender paces rides) plus its duration
    scaled by ``time_scale``, counted from ``started`` (the sender's clock)."""
    from streaming.consumer.kinesis_sender import kinesis_sender
    from streaming.consumer.publish import Entry, publish

    scale = monitoring.options.time_scale
    due = sorted(
        (i / rate + finished.finish_delay(truth[e["ride_id"]], scale), i)
        for i, e in enumerate(events)
    )
    payloads = [_finished_payload(e, truth[e["ride_id"]]) for e in events]
    send = kinesis_sender(client)

    def sender() -> None:
        k = 0
        while k < len(due) and not stop.is_set():
            wait = started + due[k][0] - time.time()
            if wait > 0:
                stop.wait(min(wait, 0.5))
                continue
            batch = []
            while k < len(due) and due[k][0] <= time.time() - started and len(batch) < 500:
                batch.append(due[k][1])
                k += 1
            entries = [Entry(payloads[i], str(events[i]["ride_id"]), i) for i in batch]
            outcome = publish(send, monitoring.finished_stream, entries)
            monitoring.finished_sent += outcome.published
        monitoring.finished_done.set()

    thread = threading.Thread(target=sender, name="send-finished", daemon=True)
    thread.start()
    monitoring.threads.append(thread)


def _finished_payload(event: dict[str, Any], minutes: float) -> bytes:
    from datetime import datetime

    pickup = datetime.fromisoformat(event["ride"]["pickup_datetime"])
    zone = int(event["ride"]["PULocationID"])
    return json.dumps(finished.finished_event(event["ride_id"], pickup, minutes, zone)).encode()


def wait_until_closed(monitoring: Monitoring, timeout_s: float) -> bool:
    """Every finished event sent, and every window of every mapping closed (its final
    invocation made); False if that did not happen within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if monitoring.finished_done.is_set():
            # a window closes once its end has passed and a read after it found nothing
            time.sleep(0.5)
            if not any(m.pending() for m in monitoring.mappings):
                return True
        time.sleep(0.2)
    return False


def figures(monitoring: Monitoring) -> dict[str, Any]:
    """What the monitoring database holds after the demo: totals and overall RMSE/MAE
    of the champion's finished rides (the sums of every window), and the shadow's
    when the demo ran one (``--shadow``): the same rides joined to the same drop-offs,
    so the two errors compare as the demo's own comparison does."""
    from streaming.dashboard.summary import build_summary
    from streaming.monitoring import read

    with monitoring.service.engine.connect() as conn:
        summary = build_summary(conn)
        quality = read.quality(conn)
    champion = _errors([q for q in quality if q.role == "champion"])
    psi = [p for p in summary["series"]["psi"] if p is not None]
    out = {
        "db": monitoring.options.db_url,
        "window_s": monitoring.options.window_s,
        "windows": summary["totals"]["windows"],
        "rides_started": summary["totals"]["rides_started"],
        "predictions": summary["totals"]["predictions"],
        "dead_letters": summary["totals"]["dead_letters"],
        "finished_sent": monitoring.finished_sent,
        "finished_joined": champion["rides"],
        "rmse": champion["rmse"],
        "mae": champion["mae"],
        "max_window_psi": max(psi) if psi else None,
    }
    if monitoring.shadow_stream:
        out["shadow"] = _errors([q for q in quality if q.role == "shadow"])
    return out


def _errors(rows: list[Any]) -> dict[str, Any]:
    """Rides, RMSE and MAE over windows' quality rows (each window's own sums, added)."""
    rides = sum(q.rides for q in rows)
    sq = sum(q.rmse**2 * q.rides for q in rows)
    absolute = sum(q.mae * q.rides for q in rows)
    return {
        "rides": rides,
        "rmse": math.sqrt(sq / rides) if rides else None,
        "mae": absolute / rides if rides else None,
    }


def _shown(value: float | None, spec: str = ".2f", unit: str = " min") -> str:
    """A figure as printed, or "-" when there is none (no ride joined, no window)."""
    return "-" if value is None else f"{value:{spec}}{unit}"


def print_figures(m: dict[str, Any]) -> None:
    rmse, mae = _shown(m["rmse"]), _shown(m["mae"])
    psi = _shown(m["max_window_psi"], ".3f", "")
    print("\n== monitoring (the monitoring function's database) ==")
    print(f"database              {m['db']}")
    print(f"windows ({m['window_s']} s)         {m['windows']}")
    print(
        f"rides started         {m['rides_started']} (input events with valid zones: the"
        " rides, and any malformed event whose zones are valid)"
    )
    print(f"predictions counted   {m['predictions']}")
    print(f"dead letters counted  {m['dead_letters']}")
    print(f"rides finished        {m['finished_joined']} joined of {m['finished_sent']} sent")
    print(f"RMSE / MAE            {rmse} / {mae} (over every window's finished rides)")
    if "shadow" in m:
        shadow = m["shadow"]
        print(
            f"shadow RMSE / MAE     {_shown(shadow['rmse'])} / {_shown(shadow['mae'])}"
            f" ({shadow['rides']} finished rides joined)"
        )
    print(f"highest window PSI    {psi} (alarm above 0.2; small windows are noisy)")


def serve_dashboard(db_url: str, hold_s: float | None, *, out: Any = None) -> None:
    """The dashboard on the demo's database: until Ctrl-C (``hold_s`` None), for
    ``hold_s`` seconds, or not at all (0). ``out``: where its lines go (stdout)."""
    import sys

    out = out or sys.stdout
    if hold_s == 0:
        print(f"see it later: streaming dashboard --db {db_url}", file=out)
        return
    from streaming.tools.dashboard import start as start_dashboard

    server = start_dashboard(db_url, "127.0.0.1", 0, hours=0, refresh_s=5)
    until = "Ctrl-C stops it" if hold_s is None else f"for {hold_s:g} s"
    print(f"dashboard: {server.url}  ({until})", file=out, flush=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    try:
        if hold_s is None:
            while thread.is_alive():
                thread.join(1.0)
        else:
            time.sleep(hold_s)
    finally:
        server.shutdown()
        server.server_close()
