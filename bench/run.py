"""``make bench``: this project vs the course baseline, side by side, on the same real rides.

Both run in this process (or in fresh child processes, for start-up and
memory), alternating round by round; medians and ratios go to
``bench/RESULTS.md``. Emulators run in their own processes on loopback.

    .venv/bin/python -m bench.run [--rounds 5] [--records 10000] [--no-localstack]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common

common.ensure_path()

from streaming.consumer.config import Settings  # noqa: E402
from streaming.consumer.handler import RideDurationService  # noqa: E402
from streaming.consumer.lambda_context import LocalContext  # noqa: E402
from streaming.model import load_model  # noqa: E402

TARGETS = {
    "compute": 25.0,
    "publish_moto": 20.0,
    "publish_localstack": 20.0,
    "cold_start": 3.0,
    "rss_mib": 150.0,
}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- in-process: compute and publishing -------------------------------------------------


def ours_service(stream: str | None = None, endpoint: str | None = None) -> RideDurationService:
    settings = Settings(
        test_run=stream is None,
        predictions_stream=stream or "unused",
        kinesis_endpoint_url=endpoint,
    )
    return RideDurationService(load_model(common.REPO / "models"), settings)


def baseline_service(stream: str | None = None, endpoint: str | None = None) -> Any:
    from bench.baseline import course_model

    if endpoint:
        os.environ["KINESIS_ENDPOINT_URL"] = endpoint
    return course_model.init(
        str(common.baseline_model_path()), stream or "unused", "baseline", test_run=stream is None
    )


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compute(event: dict, rounds: int) -> dict[str, Any]:
    ours, base = ours_service(), baseline_service()
    ours.handle(event)  # warm-up both
    base.lambda_handler({"Records": event["Records"][:100]})
    t_ours, t_base = [], []
    n = len(event["Records"])
    for r in range(rounds):
        t_ours.append(timed(lambda: ours.handle(event)))
        t_base.append(timed(lambda: base.lambda_handler(event)))
        say(
            f"  compute round {r + 1}: ours {n / t_ours[-1]:,.0f}/s, "
            f"baseline {n / t_base[-1]:,.0f}/s"
        )
    return {"ours": n / statistics.median(t_ours), "baseline": n / statistics.median(t_base)}


def publishing(event: dict, endpoint: str, rounds: int, label: str) -> dict[str, Any]:
    client = common.kinesis(endpoint)
    n = len(event["Records"])
    t_ours, t_base = [], []
    for r in range(rounds):
        ours = ours_service(common.new_stream(client), endpoint)
        t0 = time.perf_counter()
        response = ours.handle(event, LocalContext(timeout_s=900))
        t_ours.append(time.perf_counter() - t0)
        assert response["batchItemFailures"] == [], "ours failed to publish"
        base = baseline_service(common.new_stream(client), endpoint)
        t0 = time.perf_counter()
        base.lambda_handler(event)
        t_base.append(time.perf_counter() - t0)
        say(
            f"  publish ({label}) round {r + 1}: ours {n / t_ours[-1]:,.0f}/s, "
            f"baseline {n / t_base[-1]:,.0f}/s"
        )
    return {"ours": n / statistics.median(t_ours), "baseline": n / statistics.median(t_base)}


# -- fresh interpreters: cold start and memory ------------------------------------------------


def child(mode: str, which: str, event_file: Path, env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.child", mode, which, str(event_file)],
        cwd=common.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{which} {mode} failed: {proc.stderr[-2000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"mode"')][-1]
    result = json.loads(line)
    result["wall_s"] = wall
    return result


def child_env(endpoint: str, stream: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("TEST_RUN", "MODEL_LOCATION", "RUN_ID", "MODEL_VERSION"):
        env.pop(var, None)
    env.update(common.FAKE_AWS)
    env.update(
        {
            "KINESIS_ENDPOINT_URL": endpoint,
            "PREDICTIONS_STREAM_NAME": stream,
            "BASELINE_MODEL_PATH": str(common.baseline_model_path()),
            "PYTHONPATH": str(common.REPO),
        }
    )
    return env


def cold_start(endpoint: str, rounds: int, workdir: Path) -> dict[str, Any]:
    client = common.kinesis(endpoint)
    event_file = workdir / "one.json"
    event_file.write_text(json.dumps(common.lambda_event(common.ride_payloads(1, seed=7))))
    out: dict[str, list] = {"ours": [], "baseline": []}
    for r in range(rounds):
        for which in ("ours", "baseline"):
            result = child(
                "coldstart", which, event_file, child_env(endpoint, common.new_stream(client))
            )
            assert result["predictions"] == 1 and result["failures"] == 0, result
            out[which].append(result)
        say(
            f"  cold start round {r + 1}: ours {out['ours'][-1]['wall_s']:.2f} s, "
            f"baseline {out['baseline'][-1]['wall_s']:.2f} s"
        )
    return {
        w: {
            "wall_s": statistics.median(x["wall_s"] for x in v),
            "init_s": statistics.median(x["init_s"] for x in v),
            "invoke_s": statistics.median(x["invoke_s"] for x in v),
        }
        for w, v in out.items()
    }


def peak_rss(endpoint: str, event: dict, rounds: int, workdir: Path) -> dict[str, Any]:
    client = common.kinesis(endpoint)
    event_file = workdir / "batch.json"
    event_file.write_text(json.dumps(event))
    out: dict[str, list] = {"ours": [], "baseline": []}
    for r in range(rounds):
        for which in ("ours", "baseline"):
            result = child("rss", which, event_file, child_env(endpoint, common.new_stream(client)))
            assert result["predictions"] == len(event["Records"]), result
            out[which].append(result["peak_rss_mib"])
        say(
            f"  peak RSS round {r + 1}: ours {out['ours'][-1]:.0f} MiB, "
            f"baseline {out['baseline'][-1]:.0f} MiB"
        )
    return {w: statistics.median(v) for w, v in out.items()}


# -- end to end through streaming run ------------------------------------------------------


def end_to_end(endpoint: str, which: str, n: int, latency_rate: float) -> dict[str, Any]:
    """Backlog throughput per shard, then latency at a steady rate, on 2 shards."""
    from streaming.esm.follow import Follower
    from streaming.esm.reader import StartingPosition
    from streaming.esm.runner import EventSourceMapping, MappingConfig
    from streaming.tools.produce import send_events

    client = common.kinesis(endpoint)
    source, output = common.new_stream(client, 2, "e2e-in"), common.new_stream(client, 2, "e2e-out")
    if which == "ours":
        svc = ours_service(output, endpoint)
        handler = svc.handle
    else:
        base = baseline_service(output, endpoint)

        def handler(event, context):
            return base.lambda_handler(event)

    payloads = common.ride_payloads(n, seed=11)
    assert send_events(client, source, payloads).failed == 0
    mapping = EventSourceMapping(
        client, source, handler, MappingConfig(batch_size=500, poll_interval_s=1.0)
    )
    t0 = time.perf_counter()
    mapping.run(stop_when_idle_s=1.0)
    drain_s = time.perf_counter() - t0 - 1.0  # minus the idle second that ends the run
    assert mapping.stats.records_done == n

    # latency: a steady rate well below the throughput, send -> prediction arrival
    steady = common.ride_payloads(int(latency_rate * 10), seed=12)
    follower = Follower(client, output, StartingPosition("LATEST"))
    follower.poll()
    stop = threading.Event()
    runner = threading.Thread(target=mapping.run, args=(stop,), daemon=True)
    runner.start()
    from streaming.tools.produce import SendStats

    stats = SendStats()
    sender = threading.Thread(
        target=send_events,
        args=(client, source, steady),
        kwargs={"rate": latency_rate, "stats": stats},
        daemon=True,
    )
    sender.start()
    key_of = {k: i for i, (_, k) in enumerate(steady)}
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(latencies) < len(steady) and time.monotonic() < deadline:
        for _, record in follower.poll():
            ride = str(json.loads(record["Data"])["prediction"]["ride_id"])
            arrived = record["ApproximateArrivalTimestamp"].timestamp()
            if ride in key_of and ride not in latencies and key_of[ride] in stats.sent_at:
                latencies[ride] = arrived - stats.sent_at[key_of[ride]]
        time.sleep(0.05)
    stop.set()
    runner.join(timeout=30)
    values = sorted(latencies.values())
    return {
        "per_shard_per_s": n / drain_s / 2,
        "p50_s": statistics.median(values),
        "p99_s": values[int(0.99 * (len(values) - 1))],
        "latency_n": len(values),
    }


# -- report ------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def write_results(path: Path, res: dict[str, Any], args: argparse.Namespace) -> str:
    m = common.machine()
    rows = []

    def row(metric, ours, base, unit, r, target, emulator, fmt="{:,.0f}"):
        ok = "" if target is None else ("met" if r >= target else "**missed**")
        tgt = "" if target is None else f"≥ {target:g}x"
        rows.append(
            f"| {metric} | {fmt.format(ours)} {unit} | {fmt.format(base)} {unit} | "
            f"**{r:.1f}x** | {tgt} {ok} | {emulator} |"
        )

    c = res["compute"]
    row(
        f"compute: {args.records:,}-record batch, TEST_RUN",
        c["ours"],
        c["baseline"],
        "records/s",
        ratio(c["ours"], c["baseline"]),
        TARGETS["compute"],
        "none",
    )
    p = res["publish_moto"]
    row(
        f"publishing: {args.records:,} records",
        p["ours"],
        p["baseline"],
        "records/s",
        ratio(p["ours"], p["baseline"]),
        TARGETS["publish_moto"],
        "moto server (own process)",
    )
    if res.get("publish_localstack"):
        p = res["publish_localstack"]
        row(
            f"publishing: {args.publish_records_ls:,} records",
            p["ours"],
            p["baseline"],
            "records/s",
            ratio(p["ours"], p["baseline"]),
            TARGETS["publish_localstack"],
            "LocalStack 4.14.0 (own process)",
        )
    cs = res["cold_start"]
    row(
        "cold start: fresh interpreter -> import -> 1 ride published",
        cs["ours"]["wall_s"],
        cs["baseline"]["wall_s"],
        "s",
        ratio(cs["baseline"]["wall_s"], cs["ours"]["wall_s"]),
        TARGETS["cold_start"],
        "moto server",
        fmt="{:.2f}",
    )
    rss = res["rss"]
    ok = "met" if rss["ours"] <= TARGETS["rss_mib"] else "**missed**"
    rows.append(
        f"| peak RSS: {args.records:,}-record batch, published | {rss['ours']:.0f} MiB | "
        f"{rss['baseline']:.0f} MiB | **{ratio(rss['baseline'], rss['ours']):.1f}x** "
        f"less | ≤ {TARGETS['rss_mib']:.0f} MiB {ok} | moto server |"
    )
    e_o, e_b = res["e2e"]["ours"], res["e2e"]["baseline"]
    row(
        "end to end via `streaming run`: backlog drained, per shard (2 shards)",
        e_o["per_shard_per_s"],
        e_b["per_shard_per_s"],
        "records/s",
        ratio(e_o["per_shard_per_s"], e_b["per_shard_per_s"]),
        None,
        "moto server",
    )
    rows.append(
        f"| end to end: send -> prediction at {args.latency_rate:g} rides/s, p50 / p99 | "
        f"{e_o['p50_s'] * 1000:.0f} / {e_o['p99_s'] * 1000:.0f} ms | "
        f"{e_b['p50_s'] * 1000:.0f} / {e_b['p99_s'] * 1000:.0f} ms | | | moto server |"
    )
    cs_o, cs_b = cs["ours"], cs["baseline"]
    text = f"""# Benchmarks: this project vs the course baseline

Reproduce with `make bench` (≈ {res["seconds"] / 60:.0f} min). Generated {res["date"]}.

| metric | ours | course baseline | ratio | target | emulator |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Medians of {args.rounds} rounds ({args.rounds_slow} for the slower figures), ours and the
baseline alternating, on the same real rides (NYC green taxi, 2023-02, a month neither
model was trained on). Throughput ratios are ours / baseline; for cold start and memory,
baseline / ours.

**Baseline** (`bench/baseline/`): the course's algorithm - per record base64 + `json.loads`,
the `PU_DO` feature dict, one `predict` on that dict with DictVectorizer + LinearRegression
(fit on 2021-01, unpickled at import as MLflow would, MLflow itself left out), one
`put_record` per prediction. **Ours**: `lambda_function` / `RideDurationService` as shipped.

Cold start split (medians): ours init {cs_o["init_s"]:.2f} s + first invocation
{cs_o["invoke_s"]:.2f} s; baseline init {cs_b["init_s"]:.2f} s + first invocation
{cs_b["invoke_s"]:.2f} s; the rest is interpreter start-up.

End to end: {args.e2e_records:,} rides preloaded into a 2-shard stream and drained by
`streaming run` (batch size 500) invoking the handler in-process, then {args.latency_rate:g}
rides/s sent steadily for 10 s; latency = prediction's arrival on the output stream minus
the moment its PutRecords was sent (idle shards are polled once a second, as Lambda does).
The emulator, not our code, bounds these figures: see `make load` and bench/LOAD.md.

## Machine
- CPU: {m["cpu"]}, {m["cores"]} cores, {m["memory"]}
- OS: {m["os"]}
- Python {m["python"]}; {m["versions"]}
"""
    write_keeping_section(path, text)
    return text


def write_keeping_section(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, keeping the publishing section ``bench.publish``
    wrote into the same file (between its markers): ``python -m bench.run`` alone
    must not drop the tables of a run it did not make."""
    from bench.publish import BEGIN, END

    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        text += "\n" + old[old.index(BEGIN) : old.index(END) + len(END)] + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--rounds-slow",
        type=int,
        default=3,
        help="rounds for the figures where the baseline takes long",
    )
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument(
        "--publish-records-ls",
        type=int,
        default=2_000,
        help="records per publishing round on LocalStack (slow for the baseline)",
    )
    ap.add_argument("--e2e-records", type=int, default=5_000)
    ap.add_argument("--latency-rate", type=float, default=200.0)
    ap.add_argument("--no-localstack", action="store_true")
    ap.add_argument("--out", type=Path, default=common.REPO / "bench" / "RESULTS.md")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    common.baseline_model_path()
    event = common.lambda_event(common.ride_payloads(args.records))
    res: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    say("compute (TEST_RUN, in-process)")
    res["compute"] = compute(event, args.rounds)
    with tempfile.TemporaryDirectory() as tmp, common.moto_process() as (endpoint, _):
        say(f"moto server at {endpoint}")
        res["publish_moto"] = publishing(event, endpoint, args.rounds_slow, "moto")
        res["cold_start"] = cold_start(endpoint, args.rounds, Path(tmp))
        res["rss"] = peak_rss(endpoint, event, args.rounds_slow, Path(tmp))
        say("end to end through streaming run")
        res["e2e"] = {
            w: end_to_end(endpoint, w, args.e2e_records, args.latency_rate)
            for w in ("ours", "baseline")
        }
    if not args.no_localstack:
        with common.localstack_process() as ls:
            if ls is not None:
                say(f"LocalStack at {ls[0]}")
                small = {"Records": event["Records"][: args.publish_records_ls]}
                res["publish_localstack"] = publishing(small, ls[0], args.rounds_slow, "LocalStack")
    res["seconds"] = time.perf_counter() - started
    (common.CACHE / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print(write_results(args.out, res, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
