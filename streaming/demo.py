"""``make run``: the whole path on an embedded Kinesis emulator, then a summary.

1. start a moto server on 127.0.0.1 (a free port), create the input,
   predictions and dead-letter streams;
2. put 1,000 real rides of 2023-02 - a month the model never saw - with their
   real ``pickup_datetime``, plus a few malformed events, into the input
   stream (PutRecords, as a backend would);
3. read each input shard in Lambda-sized batches and invoke
   ``lambda_function.lambda_handler`` with the event the event source mapping
   would build (resuming from the lowest ``batchItemFailures`` entry, as Lambda does);
4. read the predictions and dead-letter streams back and compare the
   predictions with the rides' real durations.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
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
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def run_demo(data_dir: Path, rides: int, batch_size: int, shards: int, seed: int) -> dict[str, Any]:
    from streaming import tlc

    server, endpoint = _start_moto()
    try:
        # The handler reads its settings at import, as on Lambda: set them first.
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "KINESIS_ENDPOINT_URL": endpoint,
                "PREDICTIONS_STREAM_NAME": PREDICTIONS_STREAM,
                "DEAD_LETTER_STREAM_NAME": DEAD_LETTER_STREAM,
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
                "POWERTOOLS_METRICS_DISABLED": os.environ.get(
                    "POWERTOOLS_METRICS_DISABLED", "true"
                ),
            }
        )
        region = os.environ["AWS_DEFAULT_REGION"]
        from streaming.handler import make_kinesis_client

        client = make_kinesis_client(endpoint)
        from streaming.kinesis_io import create_stream, read_all

        create_stream(client, INPUT_STREAM, shards)
        create_stream(client, PREDICTIONS_STREAM, 2)
        create_stream(client, DEAD_LETTER_STREAM, 1)
        print(
            f"moto Kinesis on {endpoint}: streams {INPUT_STREAM} ({shards} shards), "
            f"{PREDICTIONS_STREAM} (2), {DEAD_LETTER_STREAM} (1)"
        )

        trips, _ = tlc.load_trips(tlc.month_path(data_dir, DEMO_MONTH))
        sample = trips.sample(n=min(rides, len(trips)), random_state=seed)
        sample = sample.sort_values("pickup_datetime")
        events = tlc.ride_events(sample)
        for event, ride_id in zip(events, sample.index, strict=False):
            event["ride_id"] = int(ride_id)  # row of the cleaned month: joins back to the truth
        truth = dict(zip(sample.index.astype(int), sample["duration"], strict=False))

        from streaming.publish import Entry, kinesis_sender, publish

        payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
        payloads += [(bad, f"bad-{i}") for i, bad in enumerate(BAD_EVENTS)]
        t0 = time.perf_counter()
        sent = publish(
            kinesis_sender(client),
            INPUT_STREAM,
            [Entry(d, k, i) for i, (d, k) in enumerate(payloads)],
        )
        if sent.failed:
            raise RuntimeError(f"{len(sent.failed)} rides could not be sent: {sent.errors}")
        print(
            f"sent {len(events)} real rides of {DEMO_MONTH} + {len(BAD_EVENTS)} malformed "
            f"events in {time.perf_counter() - t0:.2f} s"
        )

        import lambda_function
        from streaming.local_invoke import drain

        emf = io.StringIO()
        in_handler = [0.0]

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            t = time.perf_counter()
            with contextlib.redirect_stdout(emf):  # EMF metric lines: not for the demo
                response = lambda_function.lambda_handler(event, context)
            in_handler[0] += time.perf_counter() - t
            return response

        def progress(st: Any) -> None:
            print(
                f"  handler: {st.records_delivered} records in {st.invocations} invocations",
                end="\r",
                flush=True,
            )

        stats = drain(
            client, INPUT_STREAM, invoke, batch_size=batch_size, region=region, on_invoke=progress
        )
        handler_s = in_handler[0]
        invocations, handled = stats.invocations, stats.records_delivered
        print()

        outputs = [json.loads(r["Data"]) for _, r in read_all(client, PREDICTIONS_STREAM)]
        letters = [json.loads(r["Data"]) for _, r in read_all(client, DEAD_LETTER_STREAM)]
    finally:
        server.stop()

    unique = {}
    for out in outputs:
        unique.setdefault(out["source"]["eventID"], out)
    predicted = {
        o["prediction"]["ride_id"]: o["prediction"]["ride_duration"] for o in unique.values()
    }
    ids = [i for i in truth if i in predicted]
    errors = np.array([predicted[i] - truth[i] for i in ids])
    summary = {
        "rides_sent": len(events),
        "malformed_sent": len(BAD_EVENTS),
        "predictions_received": len(outputs),
        "unique_predictions": len(unique),
        "rides_without_prediction": len(truth) - len(ids),
        "dead_letters": len(letters),
        "dead_letter_reasons": sorted(d["reason"] for d in letters),
        "invocations": invocations,
        "handler_seconds": round(handler_s, 3),
        "abandoned": len(stats.abandoned),
        "handler_records_per_s": round(handled / handler_s) if handler_s else None,
        "rmse_minutes": float(np.sqrt(np.mean(errors**2))) if len(errors) else None,
        "model_version": outputs[0]["version"] if outputs else None,
    }
    return summary


def print_summary(s: dict[str, Any], model_holdout_rmse: float | None) -> None:
    print("\n== summary ==")
    print(f"rides sent               {s['rides_sent']} (+ {s['malformed_sent']} malformed)")
    print(
        f"predictions received     {s['predictions_received']} "
        f"({s['unique_predictions']} unique, {s['rides_without_prediction']} rides missing)"
    )
    print(f"dead letters             {s['dead_letters']}: {', '.join(s['dead_letter_reasons'])}")
    print(
        f"handler                  {s['invocations']} invocations, {s['handler_seconds']} s, "
        f"{s['handler_records_per_s']} records/s (incl. its PutRecords calls to moto)"
    )
    ref = (
        f" (model card: {model_holdout_rmse:.2f} on the whole month)" if model_holdout_rmse else ""
    )
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
    parser.add_argument(
        "--batch-size",
        type=int,
        default=100,
        help="records per invocation (the event source mapping's default: 100)",
    )
    parser.add_argument("--shards", type=int, default=2, help="shards of the input stream")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    summary = run_demo(args.data_dir, args.rides, args.batch_size, args.shards, args.seed)
    if args.json:
        print(json.dumps(summary))
    else:
        from streaming.config import Settings
        from streaming.model.artifact import read_metadata

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
