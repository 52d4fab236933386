"""``make run``: the live pipeline on an embedded Kinesis emulator, then a summary.

1. start a moto server on 127.0.0.1 (a free port) and create the input,
   predictions and dead-letter streams;
2. start the local event source mapping (``streaming run``) on the input
   stream, invoking ``lambda_function.lambda_handler`` in this process;
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
from pathlib import Path
from typing import Any

import numpy as np

INPUT_STREAM = "ride_events"
PREDICTIONS_STREAM = "ride_predictions"
DEAD_LETTER_STREAM = "ride_dead_letters"
DEMO_MONTH = "2023-02"

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


def run_demo(
    data_dir: Path,
    rides: int,
    rate: float,
    shards: int,
    seed: int,
    quiet: bool = False,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    from streaming.tools.produce import send_events, tlc_rides
    from streaming.training import tlc

    server = None
    names = (INPUT_STREAM, PREDICTIONS_STREAM, DEAD_LETTER_STREAM)
    if endpoint_url:  # the user's emulator: streams of our own, deleted at the end
        endpoint = endpoint_url
        tag = uuid.uuid4().hex[:6]
        names = tuple(f"{n}-{tag}" for n in names)
    else:
        server, endpoint = _start_moto()
    input_stream, predictions_stream, dead_letter_stream = names
    client = None
    workdir = Path(tempfile.mkdtemp(prefix="ride-demo-"))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        # The handler reads its settings at import, as on Lambda: set them first.
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "KINESIS_ENDPOINT_URL": endpoint,
                "PREDICTIONS_STREAM_NAME": predictions_stream,
                "DEAD_LETTER_STREAM_NAME": dead_letter_stream,
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
            }
        )
        region = os.environ["AWS_DEFAULT_REGION"]
        from streaming.tools.common import kinesis_client
        from streaming.tools.stream_io import create_stream

        client = kinesis_client(argparse.Namespace(endpoint_url=endpoint, region=region))
        create_stream(client, input_stream, shards)
        create_stream(client, predictions_stream, 2)
        create_stream(client, dead_letter_stream, 1)
        say = (lambda *a, **k: None) if quiet else print
        say(
            f"{'moto ' if server else ''}Kinesis on {endpoint}: {input_stream} ({shards} shards), "
            f"{predictions_stream} (2), {dead_letter_stream} (1)"
        )

        events = tlc_rides(tlc.month_path(data_dir, DEMO_MONTH), rides, seed)
        trips, _ = tlc.load_trips(tlc.month_path(data_dir, DEMO_MONTH))
        truth = {e["ride_id"]: float(trips.at[e["ride_id"], "duration"]) for e in events}
        payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
        # malformed events go out spread among the rides
        for i, bad in enumerate(BAD_EVENTS):
            payloads.insert((i + 1) * len(payloads) // (len(BAD_EVENTS) + 1), (bad, f"bad-{i}"))

        import lambda_function  # the function's init (cold start)
        from streaming.esm.destinations import JsonLinesFile
        from streaming.esm.runner import EventSourceMapping, MappingConfig

        emf = io.StringIO()

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with contextlib.redirect_stdout(emf):  # EMF metric lines: not for the demo
                return lambda_function.lambda_handler(event, context)

        failures_file = workdir / "on-failure.jsonl"
        mapping = EventSourceMapping(
            client,
            input_stream,
            invoke,
            MappingConfig(batch_size=100, max_retries=5, bisect_on_error=True, region=region),
            destination=JsonLinesFile(failures_file),
        )
        runner = threading.Thread(target=mapping.run, args=(stop,), name="esm", daemon=True)
        runner.start()
        threads.append(runner)

        from streaming.tools.produce import SendStats

        stats = SendStats()
        send_done = threading.Event()

        def sender() -> None:
            send_events(client, input_stream, payloads, rate=rate, stop=stop, stats=stats)
            send_done.set()

        send_thread = threading.Thread(target=sender, name="send", daemon=True)
        t_start = time.time()
        send_thread.start()
        threads.append(send_thread)

        from streaming.esm.follow import Follower
        from streaming.esm.reader import StartingPosition

        followers = {
            name: Follower(client, name, StartingPosition("TRIM_HORIZON"))
            for name in (predictions_stream, dead_letter_stream)
        }
        predictions: dict[str, dict[str, Any]] = {}  # by source eventID: de-duplicated
        arrivals: dict[str, float] = {}
        received = 0
        letters: list[dict[str, Any]] = []
        deadline = time.monotonic() + max(60.0, 3 * len(payloads) / max(rate, 1.0))
        last_print = 0.0
        while time.monotonic() < deadline:
            for shard_record in followers[predictions_stream].poll():
                record = shard_record[1]
                event = json.loads(record["Data"])
                received += 1
                key = event["source"]["eventID"]
                if key not in predictions:
                    predictions[key] = event
                    arrivals[key] = record["ApproximateArrivalTimestamp"].timestamp()
            letters.extend(json.loads(r["Data"]) for _, r in followers[dead_letter_stream].poll())
            done = send_done.is_set() and len(predictions) + len(letters) >= len(payloads)
            if not quiet and (time.monotonic() - last_print > 0.5 or done):
                last_print = time.monotonic()
                print(
                    f"  sent {stats.sent:>5} | predictions {len(predictions):>5} | "
                    f"dead letters {len(letters)} | runner invocations "
                    f"{mapping.stats.invocations}",
                    end="\r",
                    flush=True,
                )
            if done:
                break
            time.sleep(0.1)
        elapsed = time.time() - t_start
        say()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        if server is not None:
            server.stop()
        elif client is not None:
            for name in names:
                with contextlib.suppress(Exception):
                    client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)

    index_of = {int(i): k for i, (_, k) in enumerate(payloads)}  # payload index -> key
    sent_at_by_key = {index_of[i]: t for i, t in stats.sent_at.items()}
    latencies = []
    by_ride: dict[int, float] = {}
    for key, event in predictions.items():
        ride_id = event["prediction"]["ride_id"]
        by_ride[ride_id] = event["prediction"]["ride_duration"]
        if str(ride_id) in sent_at_by_key:
            latencies.append(arrivals[key] - sent_at_by_key[str(ride_id)])
    errors = np.array([by_ride[i] - truth[i] for i in truth if i in by_ride])
    failures = failures_file.read_text().splitlines() if failures_file.exists() else []
    return {
        "rides_sent": len(events),
        "malformed_sent": len(BAD_EVENTS),
        "rate_target": rate,
        "predictions_received": received,
        "unique_predictions": len(predictions),
        "rides_without_prediction": sum(1 for i in truth if i not in by_ride),
        "dead_letters": len(letters),
        "dead_letter_reasons": sorted(d["reason"] for d in letters),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="streaming demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--rides", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=250.0, help="rides per second sent")
    parser.add_argument("--shards", type=int, default=2, help="shards of the input stream")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("KINESIS_ENDPOINT_URL") or None,
        help="use this Kinesis endpoint (e.g. LocalStack's) instead of an embedded moto "
        "server (default: KINESIS_ENDPOINT_URL, else embedded moto)",
    )
    args = parser.parse_args(argv)
    summary = run_demo(
        args.data_dir,
        args.rides,
        args.rate,
        args.shards,
        args.seed,
        quiet=args.json,
        endpoint_url=args.endpoint_url,
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
    complete = (
        summary["rides_without_prediction"] == 0
        and summary["dead_letters"] == summary["malformed_sent"]
    )
    if not complete:
        print("INCOMPLETE: some rides have neither a prediction nor a dead letter", file=sys.stderr)
    return 0 if complete else 1
