"""``streaming demo`` (``make run``): the live pipeline on an embedded Kinesis emulator.

1. start a moto server on 127.0.0.1 (a free port) and create the input,
   predictions and dead-letter streams;
2. start the local event source mapping (``streaming run``) on the input
   stream, invoking the project's ``lambda_function.lambda_handler`` in this
   process (found from the project root, whatever the current directory);
3. send real rides of 2023-02 - a month the model never saw - with their real
   ``pickup_datetime``, plus a few malformed events, at a steady rate, as the
   taxi app's backend would (``streaming send``);
4. follow the predictions and dead-letter streams (``streaming tail``) and show
   live counts; then print rides sent, predictions received, dead letters,
   throughput, send-to-prediction latency and RMSE against the real durations.

Everything stops at the end: the runner, the threads and the server.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import (
    CommandParser,
    non_negative_float,
    positive_float,
    positive_int,
    seconds_up_to,
)
from streaming.tools import demo_monitor
from streaming.tools.common import (
    DATA_DIR_HELP,
    import_project_module,
    load_tlc_trips,
    tlc_month_file,
)
from streaming.tools.demo_monitor import MonitorOptions

if TYPE_CHECKING:
    from streaming.esm.runner import EventSourceMapping
    from streaming.tools.produce import SendStats

INPUT_STREAM = "ride_events"
PREDICTIONS_STREAM = "ride_predictions"
DEAD_LETTER_STREAM = "ride_dead_letters"
SHADOW_STREAM = "ride_predictions_shadow"
DEMO_MONTH = "2023-02"
#: the challenger ``--shadow`` trains when its directory holds no model: fewer trees
CHALLENGER_TREES = 20

#: Malformed events mixed into the demo: each must end in the dead-letter stream.
BAD_EVENTS: list[bytes] = [
    b'{"ride": {"PULocationID": 130, "trip_distance": 3.66}, "ride_id": "bad-1"}',
    b'{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": -2}, "ride_id": 7}',
    b"ride 130 -> 205, 3.66 miles",
]


def _start_moto() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass(frozen=True)
class _Endpoint:
    """Where the demo's streams live, and the embedded server if the demo started one."""

    url: str
    names: tuple[str, ...]  # input, predictions, dead letters
    server: Any = None
    #: the shadow's stream (``--shadow``), else ``None``
    shadow: str | None = None


@dataclass(frozen=True)
class _Rides:
    """What the demo plays: real rides, their real durations, and the payloads sent."""

    events: list[dict[str, Any]]
    truth: dict[int, float]  # ride_id -> real duration in minutes
    payloads: list[tuple[bytes, str]]  # (data, partition key): the rides and the malformed


@dataclass(frozen=True)
class _Sending:
    """The sender thread, its counters and the clock it started on."""

    stats: SendStats
    done: threading.Event
    thread: threading.Thread
    started: float  # time.time() just before the first send: throughput's clock


@dataclass
class _Received:
    """What came out of the pipeline: predictions (one per source record) and dead letters."""

    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by source eventID
    arrivals: dict[str, float] = field(default_factory=dict)  # eventID -> arrival, epoch s
    count: int = 0  # prediction records read, duplicates included
    letters: list[dict[str, Any]] = field(default_factory=list)
    #: the shadow's prediction events, as read (``--shadow``)
    shadow: list[dict[str, Any]] = field(default_factory=list)

    def take_predictions(self, shard_records: list[tuple[str, dict[str, Any]]]) -> None:
        """Keep the first prediction of each source record.

        Kinesis and the mapping deliver at least once, so a retried batch may
        publish a prediction again: ``count`` shows the duplicates, while the
        summary's figures (and a latency's arrival time) use the first copy."""
        for shard_record in shard_records:
            record = shard_record[1]
            event = json.loads(record["Data"])
            self.count += 1
            key = event["source"]["eventID"]
            if key not in self.predictions:
                self.predictions[key] = event
                self.arrivals[key] = record["ApproximateArrivalTimestamp"].timestamp()

    def accounted_for(self) -> int:
        return len(self.predictions) + len(self.letters)


def run_demo(
    data_dir: Path,
    rides: int,
    rate: float,
    shards: int,
    seed: int,
    quiet: bool = False,
    endpoint_url: str | None = None,
    shadow: Path | None = None,
    monitor: MonitorOptions | None = None,
) -> dict[str, Any]:
    """Play ``rides`` real rides (and the malformed events) through the pipeline; the summary.

    Once the endpoint is open, every step runs inside the ``try``, so whatever
    fails, ``finally`` stops the threads and the server (or deletes the streams):
    a demo must not leave a server or threads behind, nor streams on the user's
    emulator."""
    played = _demo_rides(data_dir, rides, seed)  # a mistake (too many rides) stops here
    if shadow is not None:
        _challenger(shadow, data_dir, quiet)
    endpoint = _open_endpoint(endpoint_url, shadow is not None)
    input_stream, predictions_stream, dead_letter_stream = endpoint.names
    client = None
    workdir = Path(tempfile.mkdtemp(prefix="ride-demo-"))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    watching: demo_monitor.Monitoring | None = None
    monitored: dict[str, Any] | None = None
    try:
        region = _point_handler_at(endpoint, shadow)
        client = _tools_client(endpoint, region)
        _create_streams(client, endpoint.names, shards)
        if endpoint.shadow:
            from streaming.tools.stream_io import create_stream

            create_stream(client, endpoint.shadow, 2)
        say = (lambda *a, **k: None) if quiet else print
        say(
            f"{'moto ' if endpoint.server else ''}Kinesis on {endpoint.url}: {input_stream} "
            f"({shards} shards), {predictions_stream} (2), {dead_letter_stream} (1)"
            + (f", {endpoint.shadow} (2): the shadow {shadow}" if endpoint.shadow else "")
        )
        failures_file = workdir / "on-failure.jsonl"
        mapping, runner = _start_mapping(client, input_stream, region, failures_file, stop)
        threads.append(runner)
        watching = _start_monitoring(client, endpoint, monitor, stop) if monitor else None
        sending = _start_sending(client, input_stream, played.payloads, rate, stop)
        threads.append(sending.thread)
        if watching is not None:
            demo_monitor.send_finished(
                watching, client, played.events, played.truth, rate, sending.started, stop
            )
        received = _follow_outputs(client, endpoint, played.payloads, rate, sending, mapping, quiet)
        elapsed = time.time() - sending.started
        say()
        monitored = _monitoring_figures(watching, played, rate, say) if watching else None
    finally:
        stop.set()
        for t in [*threads, *(watching.threads if watching else [])]:
            t.join(timeout=30)
        if watching is not None and endpoint.server is None and client is not None:
            with contextlib.suppress(Exception):  # best effort, as _close_endpoint
                client.delete_stream(StreamName=watching.finished_stream)
        _close_endpoint(endpoint, client)
    summary = _summary(played, sending, received, mapping, failures_file, rate, elapsed)
    if monitored is not None:
        summary["monitoring"] = monitored
    if shadow is not None:
        summary["compare"] = _compare(played, received, data_dir)
    return summary


def _start_monitoring(
    client: Any, endpoint: _Endpoint, options: MonitorOptions, stop: threading.Event
) -> demo_monitor.Monitoring:
    """``--monitor``: the ride-finished stream and the monitoring function's mappings on
    the input, predictions, dead-letter (and shadow) streams and on it."""
    input_stream, predictions_stream, dead_letter_stream = endpoint.names
    shadow = [endpoint.shadow] if endpoint.shadow else []
    streams = [input_stream, predictions_stream, dead_letter_stream, *shadow]
    finished_stream = endpoint.names[0].replace(INPUT_STREAM, demo_monitor.FINISHED_STREAM, 1)
    return demo_monitor.start(client, streams, finished_stream, endpoint.shadow, options, stop)


def _monitoring_figures(
    watching: demo_monitor.Monitoring, played: _Rides, rate: float, say: Any
) -> dict[str, Any]:
    """Wait for the last ride to finish and every window to close; what the database
    holds then. The wait: the last ride's start, the longest ride (scaled), two windows."""
    options = watching.options
    wait = len(played.events) / rate + 60 * options.time_scale + 2 * options.window_s + 60
    say(f"waiting for rides to finish and {options.window_s} s windows to close...")
    closed = demo_monitor.wait_until_closed(watching, wait)
    return {**demo_monitor.figures(watching), "all_windows_closed": closed}


def _challenger(directory: Path, data_dir: Path, quiet: bool) -> None:
    """``--shadow DIR``: the model there, or a smaller one trained into it first
    (``streaming train --trees N``: the same protocol, fewer trees)."""
    if (directory / "metadata.json").is_file():
        return
    from streaming.training import train

    if not quiet:
        print(f"training a {CHALLENGER_TREES}-tree challenger into {directory} (once) ...")
    train.train(
        data_dir,
        directory,
        progress=False,
        candidates=train.challenger(CHALLENGER_TREES),
    )


def _compare(played: _Rides, received: _Received, data_dir: Path) -> dict[str, Any]:
    """``streaming evaluate --compare`` on the demo's rides: champion vs shadow against
    the rides' real durations."""
    from streaming.downstream.predictions import Actual
    from streaming.tools import compare

    champion = compare.parse_side(received.predictions.values())
    shadow = compare.parse_side(received.shadow)
    actuals = {
        e["ride_id"]: Actual(played.truth[e["ride_id"]], _pickup_hour(e), e["ride"]["PULocationID"])
        for e in played.events
    }
    zones_file = data_dir / "taxi_zone_lookup.csv"
    zones = compare.load_zone_groups(zones_file) if zones_file.is_file() else None
    return compare.compare(champion, shadow, actuals, zones=zones, rule=compare.Rule(min_rides=300))


def _pickup_hour(event: dict[str, Any]) -> int | None:
    """The ride's pickup hour (New York time, as the TLC file writes it), for the
    comparison by hour."""
    text = event["ride"].get("pickup_datetime")
    try:
        return datetime.fromisoformat(text).hour if isinstance(text, str) else None
    except ValueError:
        return None


def _open_endpoint(endpoint_url: str | None, shadow: bool = False) -> _Endpoint:
    """An embedded moto server, or the user's emulator with stream names of our own.

    On the user's emulator (LocalStack, say) the names carry a random tag, so the
    demo never reads records it did not send nor touches streams it did not
    create; ``_close_endpoint`` deletes them at the end."""
    names = (INPUT_STREAM, PREDICTIONS_STREAM, DEAD_LETTER_STREAM)
    shadow_name = SHADOW_STREAM if shadow else None
    if endpoint_url:
        tag = uuid.uuid4().hex[:6]
        tagged = f"{shadow_name}-{tag}" if shadow_name else None
        return _Endpoint(endpoint_url, tuple(f"{n}-{tag}" for n in names), shadow=tagged)
    server, url = _start_moto()
    return _Endpoint(url, names, server, shadow_name)


def _close_endpoint(endpoint: _Endpoint, client: Any) -> None:
    """Stop the embedded server, or delete the demo's streams from the user's emulator.

    Deleting is best effort: it runs in ``finally``, where an error would replace
    the demo's own outcome (its summary, or the exception that stopped it)."""
    if endpoint.server is not None:
        endpoint.server.stop()
    elif client is not None:
        for name in (*endpoint.names, *([endpoint.shadow] if endpoint.shadow else [])):
            with contextlib.suppress(Exception):
                client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def _point_handler_at(endpoint: _Endpoint, shadow: Path | None = None) -> str:
    """Set the function's environment for this endpoint and streams; return the region.

    The handler reads its settings at import, as on Lambda, so this must run
    before ``lambda_function`` is imported. The emulators accept any credentials."""
    _, predictions_stream, dead_letter_stream = endpoint.names
    if shadow is not None and endpoint.shadow:
        os.environ["SHADOW_MODEL_LOCATION"] = str(shadow)
        os.environ["SHADOW_STREAM_NAME"] = endpoint.shadow
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "KINESIS_ENDPOINT_URL": endpoint.url,
            "PREDICTIONS_STREAM_NAME": predictions_stream,
            "DEAD_LETTER_STREAM_NAME": dead_letter_stream,
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
        }
    )
    return os.environ["AWS_DEFAULT_REGION"]


def _tools_client(endpoint: _Endpoint, region: str) -> Any:
    """The Kinesis client of the demo's own side (streams, sender, followers).

    The tools' client (standard retries), not the hot path's: the demo plays the
    producer and the reader, which are not under a Lambda deadline."""
    from streaming.tools.common import kinesis_client

    return kinesis_client(argparse.Namespace(endpoint_url=endpoint.url, region=region))


def _create_streams(client: Any, names: tuple[str, ...], shards: int) -> None:
    """The three streams: the input with ``--shards`` shards (the mapping polls each
    one, with its own batches and order, as Lambda does), the outputs with two and one.

    Before the sender and the followers start, which need the streams to exist."""
    from streaming.tools.stream_io import create_stream

    input_stream, predictions_stream, dead_letter_stream = names
    create_stream(client, input_stream, shards)
    create_stream(client, predictions_stream, 2)
    create_stream(client, dead_letter_stream, 1)


def _demo_rides(data_dir: Path, rides: int, seed: int) -> _Rides:
    """``rides`` real rides of ``DEMO_MONTH``, their real durations, and the payloads.

    The malformed events are spread among the rides rather than sent first or
    last, so they share batches with good rides: the case the handler must get
    right (the bad ones dead-lettered, the rest of the batch predicted)."""
    from streaming.tools.produce import sample_rides

    trips = load_tlc_trips(tlc_month_file(data_dir, DEMO_MONTH), "--data-dir")
    if rides > len(trips):
        raise usage_error(
            f"--rides {rides}: {DEMO_MONTH} has only {len(trips)} usable rides "
            f"(give --rides {len(trips)} or less)"
        )
    events = sample_rides(trips, rides, seed)
    truth = {e["ride_id"]: float(trips.at[e["ride_id"], "duration"]) for e in events}
    payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
    for i, bad in enumerate(BAD_EVENTS):
        payloads.insert((i + 1) * len(payloads) // (len(BAD_EVENTS) + 1), (bad, f"bad-{i}"))
    return _Rides(events, truth, payloads)


def _start_mapping(
    client: Any, input_stream: str, region: str, failures_file: Path, stop: threading.Event
) -> tuple[EventSourceMapping, threading.Thread]:
    """The local event source mapping on the input stream, in a thread, invoking
    ``lambda_function.lambda_handler`` in this process.

    Importing ``lambda_function`` here is the function's init (its cold start),
    after ``_point_handler_at``. The handler's EMF metric lines go to a buffer:
    they are for CloudWatch, not for the demo's screen. Records the mapping gives
    up on go to ``failures_file`` (its on-failure destination)."""
    from streaming.esm.destinations import JsonLinesFile
    from streaming.esm.runner import EventSourceMapping, MappingConfig

    lambda_function = import_project_module("lambda_function")  # from the project root
    emf = io.StringIO()

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with contextlib.redirect_stdout(emf):
            return lambda_function.lambda_handler(event, context)

    mapping = EventSourceMapping(
        client,
        input_stream,
        invoke,
        MappingConfig(batch_size=100, max_retries=5, bisect_on_error=True, region=region),
        destination=JsonLinesFile(failures_file),
    )
    runner = threading.Thread(target=mapping.run, args=(stop,), name="esm", daemon=True)
    runner.start()
    return mapping, runner


def _start_sending(
    client: Any,
    input_stream: str,
    payloads: list[tuple[bytes, str]],
    rate: float,
    stop: threading.Event,
) -> _Sending:
    """``streaming send`` in a thread, at ``rate`` payloads a second, as the taxi
    app's backend would; ``done`` is set once it has sent everything (or stopped)."""
    from streaming.tools.produce import SendStats, send_events

    stats = SendStats()
    done = threading.Event()

    def sender() -> None:
        send_events(client, input_stream, payloads, rate=rate, stop=stop, stats=stats)
        done.set()

    thread = threading.Thread(target=sender, name="send", daemon=True)
    started = time.time()
    thread.start()
    return _Sending(stats, done, thread, started)


def _follow_outputs(
    client: Any,
    endpoint: _Endpoint,
    payloads: list[tuple[bytes, str]],
    rate: float,
    sending: _Sending,
    mapping: EventSourceMapping,
    quiet: bool,
) -> _Received:
    """Read the predictions and dead-letter streams (``streaming tail``) until every
    payload is accounted for, showing live counts.

    Done = the sender has finished and each payload has a prediction or a dead
    letter. The deadline (three times the sending time, at least a minute) is
    generous for a slow machine, yet a lost record cannot hang the demo: the
    summary then shows what is missing."""
    from streaming.esm.follow import Follower
    from streaming.esm.reader import StartingPosition

    _, predictions_stream, dead_letter_stream = endpoint.names
    predictions = Follower(client, predictions_stream, StartingPosition("TRIM_HORIZON"))
    dead_letters = Follower(client, dead_letter_stream, StartingPosition("TRIM_HORIZON"))
    shadow = (
        Follower(client, endpoint.shadow, StartingPosition("TRIM_HORIZON"))
        if endpoint.shadow
        else None
    )
    received = _Received()
    deadline = time.monotonic() + max(60.0, 3 * len(payloads) / max(rate, 1.0))
    last_print = 0.0
    while time.monotonic() < deadline:
        received.take_predictions(predictions.poll())
        received.letters.extend(json.loads(r["Data"]) for _, r in dead_letters.poll())
        if shadow is not None:
            received.shadow.extend(json.loads(r["Data"]) for _, r in shadow.poll())
        done = (
            sending.done.is_set()
            and received.accounted_for() >= len(payloads)
            and (shadow is None or len(received.shadow) >= len(received.predictions))
        )
        if not quiet and (time.monotonic() - last_print > 0.5 or done):
            last_print = time.monotonic()
            _print_progress(sending.stats, received, mapping)
        if done:
            break
        time.sleep(0.1)
    return received


def _print_progress(stats: SendStats, received: _Received, mapping: EventSourceMapping) -> None:
    """One line, rewritten in place (``\\r``): the counts as they grow."""
    print(
        f"  sent {stats.sent:>5} | predictions {len(received.predictions):>5} | "
        f"dead letters {len(received.letters)} | runner invocations "
        f"{mapping.stats.invocations}",
        end="\r",
        flush=True,
    )


def _latencies(
    payloads: list[tuple[bytes, str]], stats: SendStats, received: _Received
) -> list[float]:
    """Seconds from each ride's send to its prediction's arrival on the predictions stream.

    The sender records times by payload index and a prediction names its
    ride_id; the payload's partition key (the ride_id as text) joins the two.
    Malformed events have no prediction, so no latency."""
    index_of = {int(i): k for i, (_, k) in enumerate(payloads)}  # payload index -> key
    sent_at_by_key = {index_of[i]: t for i, t in stats.sent_at.items()}
    latencies = []
    for key, event in received.predictions.items():
        ride_id = event["prediction"]["ride_id"]
        if str(ride_id) in sent_at_by_key:
            latencies.append(received.arrivals[key] - sent_at_by_key[str(ride_id)])
    return latencies


def _summary(
    played: _Rides,
    sending: _Sending,
    received: _Received,
    mapping: EventSourceMapping,
    failures_file: Path,
    rate: float,
    elapsed: float,
) -> dict[str, Any]:
    """The figures ``print_summary`` shows and ``--json`` prints; RMSE is against the
    rides' real durations (``truth``), counting each ride's prediction once."""
    predictions = received.predictions
    by_ride = {
        e["prediction"]["ride_id"]: e["prediction"]["ride_duration"] for e in predictions.values()
    }
    truth = played.truth
    errors = np.array([by_ride[i] - truth[i] for i in truth if i in by_ride])
    latencies = _latencies(played.payloads, sending.stats, received)
    failures = failures_file.read_text().splitlines() if failures_file.exists() else []
    return {
        "rides_sent": len(played.events),
        "malformed_sent": len(BAD_EVENTS),
        "rate_target": rate,
        "predictions_received": received.count,
        "unique_predictions": len(predictions),
        "rides_without_prediction": sum(1 for i in truth if i not in by_ride),
        "dead_letters": len(received.letters),
        "dead_letter_reasons": sorted(d["reason"] for d in received.letters),
        "on_failure_records": len(failures),
        "invocations": mapping.stats.invocations,
        "seconds": round(elapsed, 2),
        "predictions_per_s": round(len(predictions) / elapsed, 1) if elapsed else None,
        "latency_p50_s": percentile(latencies, 50),
        "latency_p99_s": percentile(latencies, 99),
        "rmse_minutes": float(np.sqrt(np.mean(errors**2))) if len(errors) else None,
        "model_version": next(iter(predictions.values()))["version"] if predictions else None,
    }


def print_summary(s: dict[str, Any], model_holdout_rmse: float | None) -> None:
    print("\n== summary ==")
    print(
        f"rides sent               {s['rides_sent']} (+ {s['malformed_sent']} malformed) "
        f"at {s['rate_target']:g}/s"
    )
    print(
        f"predictions received     {s['predictions_received']} "
        f"({s['unique_predictions']} unique, {s['rides_without_prediction']} rides missing)"
    )
    print(f"dead letters             {s['dead_letters']}: {', '.join(s['dead_letter_reasons'])}")
    print(
        f"throughput               {s['predictions_per_s']} predictions/s over "
        f"{s['seconds']} s, {s['invocations']} invocations"
    )
    if s["latency_p50_s"] is not None:
        print(
            f"send -> prediction       p50 {s['latency_p50_s'] * 1000:.0f} ms, "
            f"p99 {s['latency_p99_s'] * 1000:.0f} ms (idle shards are polled once a "
            f"second, as Lambda does)"
        )
    ref = (
        f" (model card: {model_holdout_rmse:.2f} on the whole month)" if model_holdout_rmse else ""
    )
    if s["rmse_minutes"] is not None:
        print(f"RMSE vs real durations   {s['rmse_minutes']:.2f} min{ref}")
    print(f"model version            {s['model_version']}")


def build_parser() -> CommandParser:
    p = CommandParser("streaming demo", __doc__ or "")
    p.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument(
        "--rides", type=positive_int, default=1000, help=f"real rides of {DEMO_MONTH} to send"
    )
    p.add_argument("--rate", type=positive_float, default=250.0, help="rides sent per second")
    p.add_argument("--shards", type=positive_int, default=2, help="shards of the input stream")
    p.add_argument("--seed", type=int, default=42, help="which rides are sampled")
    p.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    p.add_argument(
        "--shadow",
        type=Path,
        metavar="DIR",
        help="also run a shadow (challenger) model: the one in DIR, or a "
        f"{CHALLENGER_TREES}-tree model trained into DIR first; its predictions go to "
        "their own stream and the summary ends with streaming evaluate --compare on the "
        "demo's rides (default: no shadow)",
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="also run the monitoring function (tumbling windows into a SQLite file) on the "
        "output streams and a ride-finished stream fed with the rides' real drop-offs, then "
        "serve the dashboard on it (default: off)",
    )
    p.add_argument(
        "--monitor-window",
        type=seconds_up_to(900),
        default=5.0,
        metavar="SECONDS",
        help="--monitor: the windows' length, whole seconds 1-900 (default: 5)",
    )
    p.add_argument(
        "--monitor-db",
        type=Path,
        metavar="FILE",
        help="--monitor: the SQLite file (default: a new one in a temp directory)",
    )
    p.add_argument(
        "--monitor-hold",
        type=non_negative_float,
        metavar="SECONDS",
        help="--monitor: serve the dashboard this long after the summary, 0 = not at all "
        "(default: until Ctrl-C)",
    )
    p.add_argument(
        "--endpoint-url",
        default=os.environ.get("KINESIS_ENDPOINT_URL") or None,
        help="use this Kinesis endpoint (e.g. LocalStack's) instead of an embedded moto "
        "server; the demo creates streams of its own there and deletes them at the end "
        "(default: KINESIS_ENDPOINT_URL, else embedded moto)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data_dir = tlc_month_file(args.data_dir, DEMO_MONTH).parent  # there, or a one-line error
    monitor = _monitor_options(args)
    summary = run_demo(
        data_dir,
        args.rides,
        args.rate,
        args.shards,
        args.seed,
        quiet=args.json,
        endpoint_url=args.endpoint_url,
        shadow=args.shadow,
        monitor=monitor,
    )
    if args.json:
        print(json.dumps(summary))
    else:
        from streaming.consumer.config import Settings
        from streaming.model.contract import read_metadata

        location = Settings.from_env().model_location
        holdout = None
        if not location.startswith("s3://"):
            holdout = read_metadata(Path(location), location)["metrics"].get("holdout_rmse")
        print_summary(summary, holdout)
        if "compare" in summary:
            from streaming.tools.compare_report import format_report

            print("\n== shadow vs champion (streaming evaluate --compare) ==")
            print(format_report(summary["compare"]))
        if "monitoring" in summary:
            demo_monitor.print_figures(summary["monitoring"])
    complete = (
        summary["rides_without_prediction"] == 0
        and summary["dead_letters"] == summary["malformed_sent"]
    )
    if not complete:
        raise CommandError(
            "INCOMPLETE: some rides have neither a prediction nor a dead letter (see the "
            "summary; run with -v for the pipeline's warnings)"
        )
    if monitor is not None:
        _check_monitoring(summary["monitoring"], args.rides)
        # with --json, stdout holds the JSON alone
        demo_monitor.serve_dashboard(
            monitor.db_url, args.monitor_hold, out=sys.stderr if args.json else None
        )
    return 0


def _monitor_options(args: Any) -> MonitorOptions | None:
    given = [n for n in ("monitor_db", "monitor_hold") if getattr(args, n) is not None]
    if not args.monitor:
        if given or args.monitor_window != 5.0:
            raise usage_error("--monitor-window, --monitor-db and --monitor-hold need --monitor")
        return None
    if args.monitor_window != int(args.monitor_window) or args.monitor_window < 1:
        raise usage_error(f"--monitor-window {args.monitor_window:g}: whole seconds, 1-900")
    if args.monitor_db is not None and args.monitor_db.exists():
        raise usage_error(f"--monitor-db {args.monitor_db} exists: give a new file")
    path = args.monitor_db or Path(tempfile.mkdtemp(prefix="ride-demo-monitor-")) / "monitoring.db"
    return MonitorOptions(path.resolve(), int(args.monitor_window))


def _check_monitoring(figures: dict[str, Any], rides: int) -> None:
    """The monitoring function must have counted every ride the demo predicted."""
    if not figures["all_windows_closed"] or figures["finished_joined"] != rides:
        raise CommandError(
            f"INCOMPLETE monitoring: {figures['finished_joined']} of {rides} finished rides "
            f"joined, windows closed: {figures['all_windows_closed']} (see the summary)"
        )
