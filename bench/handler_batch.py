"""Handler throughput on one 10,000-record batch in TEST_RUN mode (compute only, no AWS).

    .venv/bin/python bench/handler_batch.py [--records 10000] [--rounds 7]

Builds real Lambda records from 2023-02 rides (with their pickup_datetime),
runs the batch through ``RideDurationService.handle`` several times and
prints the median records/s with a per-stage split (decode+validate,
features, predict, response). Issue 4 adds the side-by-side course baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from streaming.consumer.config import Settings  # noqa: E402
from streaming.consumer.decode import decode_records  # noqa: E402
from streaming.consumer.features import feature_matrix  # noqa: E402
from streaming.consumer.handler import RideDurationService  # noqa: E402
from streaming.consumer.records import Ride  # noqa: E402
from streaming.model import load_model  # noqa: E402


def build_event(n: int) -> dict:
    return common.lambda_event(common.ride_payloads(n))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    event = build_event(args.records)
    model = load_model(REPO / "models")
    service = RideDurationService(model, Settings(test_run=True))
    service.handle(event)  # warm-up
    totals, stages = [], {"decode": [], "features": [], "predict": []}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        response = service.handle(event)
        totals.append(time.perf_counter() - t0)
        assert len(response["predictions"]) == args.records
        t0 = time.perf_counter()
        rides = decode_records(event["Records"])
        t1 = time.perf_counter()
        x = feature_matrix([r for r in rides if isinstance(r, Ride)])
        t2 = time.perf_counter()
        model.predictor.predict(x)
        t3 = time.perf_counter()
        stages["decode"].append(t1 - t0)
        stages["features"].append(t2 - t1)
        stages["predict"].append(t3 - t2)
    median = statistics.median(totals)
    print(
        json.dumps(
            {
                "records": args.records,
                "rounds": args.rounds,
                "median_ms": round(median * 1000, 1),
                "records_per_s": round(args.records / median),
                "stage_median_ms": {
                    k: round(statistics.median(v) * 1000, 1) for k, v in stages.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
