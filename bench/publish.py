"""Publishing at real Kinesis latency: a 10k batch, sequential vs concurrent PutRecords.

    python -m bench.publish [--rounds 5] [--quick]     (make bench runs it)

Every figure comes from one run on this machine, side by side:

* **latency**: the stand-in endpoint (``bench/standin.py``, its own process:
  neither an emulator's CPU nor its GIL is timed) answers each PutRecords after
  0, 15, 30 or 60 ms, or after a heavy-tailed delay (p50 20 / p99 120 ms); the
  handler publishes one 10,000-record batch with PUBLISH_CONCURRENCY 1 (one call
  after another) and with the default, each configuration in a fresh process
  (its peak RSS is that process's), rounds alternating. TEST_RUN (no publishing)
  is the compute-only reference.
* **shards**: the stand-in enforces each shard's write capacity (1,000 records/s,
  1 MiB/s); the batch goes to 2, 4 and 10 shards, so the table shows when the
  output stream, not the function, is the limit.
* **cost**: Lambda GB-seconds and dollars per million rides at 128-1769 MB, from the
  measured CPU time and wait of a batch, and the Kinesis cost for a stated traffic.

Writes bench/PUBLISH.md and the cost section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from bench.standin import start_standin  # noqa: E402

BATCH = 10_000
DELAYS_MS = (0, 15, 30, 60)
HEAVY_TAIL = "p50=20,p99=120"
#: the memory sizes of the cost table; 1,769 MB is one full vCPU (Lambda docs,
#: *Configure Lambda function memory*: "At 1,769 MB, a function has the equivalent
#: of one vCPU")
MEMORY_MB = (128, 256, 512, 1024, 1769)
FULL_VCPU_MB = 1769
#: us-east-1 list prices (AWS Lambda and Amazon Kinesis Data Streams pricing pages;
#: x86, provisioned mode), as used on PRICES_AS_OF
PRICES_AS_OF = "2026-11-27"
LAMBDA_GB_SECOND_USD = 0.0000166667
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
SHARD_HOUR_USD = 0.015
PUT_UNIT_USD = 0.014 / 1_000_000  # per 25 KB PUT payload unit
#: the traffic shape the Kinesis cost assumes: rides per second, steady, all day
TRAFFIC_RIDES_PER_S = 500
BEGIN, END = "<!-- publish:begin -->", "<!-- publish:end -->"


# -- one configuration, in its own process -------------------------------------------


def child_main(argv: list[str]) -> int:
    """``python -m bench.publish --child EVENT ROUNDS``: env carries the settings."""
    event_path, rounds = argv[0], int(argv[1])
    from bench.child import peak_rss_kib
    from streaming.consumer.handler import build_service

    event = json.loads(Path(event_path).read_text())
    init0 = time.perf_counter()
    service = build_service()
    init_s = time.perf_counter() - init0
    service.handle(event)  # warm: connections made, caches filled
    walls, cpus, failed = [], [], 0
    for _ in range(rounds):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        response = service.handle(event)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
        failed += len(response["batchItemFailures"])
        # dropped before the next batch, as the Lambda runtime drops it once sent:
        # kept, two batches' 10,000 prediction events would be alive at the peak
        del response
    print(
        json.dumps(
            {
                "wall_s": statistics.median(walls),
                "cpu_s": statistics.median(cpus),
                "peak_rss_mib": peak_rss_kib() / 1024,
                "failed": failed,
                "init_s": init_s,
            }
        )
    )
    return 0


def paired_main(argv: list[str]) -> int:
    """``python -m bench.publish --paired EVENT BATCHES C1 C2 ...``: in one process, a
    TEST_RUN service and one publishing service per concurrency, their batches
    alternating; prints each one's median wall and CPU.

    Why one process: on this machine fresh interpreters ran the same TEST_RUN batch
    in 107 to 210 ms (25 processes, whatever the core, the hash seed or ASLR) while
    the batches of one process agree, so ratios between processes carry that noise;
    in one process every configuration meets the same speed."""
    event_path, batches = argv[0], int(argv[1])
    concurrencies = [int(c) for c in argv[2:]]
    import dataclasses

    from streaming.consumer.config import Settings
    from streaming.consumer.handler import build_service

    event = json.loads(Path(event_path).read_text())
    base = Settings.from_env()
    services: dict[str, Any] = {"-": build_service(dataclasses.replace(base, test_run=True))}
    for c in concurrencies:
        settings = dataclasses.replace(base, test_run=False, publish_concurrency=c)
        services[str(c)] = build_service(settings)
    for service in services.values():
        service.handle(event)  # warm: connections made, caches filled
    walls: dict[str, list[float]] = {k: [] for k in services}
    cpus: dict[str, list[float]] = {k: [] for k in services}
    for _ in range(batches):
        for key, service in services.items():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            response = service.handle(event)
            walls[key].append(time.perf_counter() - wall0)
            cpus[key].append(time.process_time() - cpu0)
            if response["batchItemFailures"]:
                raise RuntimeError(f"{key}: {len(response['batchItemFailures'])} failures")
            del response  # as the runtime drops it once sent (see child_main)
    print(
        json.dumps(
            {
                k: {"wall_s": statistics.median(walls[k]), "cpu_s": statistics.median(cpus[k])}
                for k in services
            }
        )
    )
    return 0


def run_child(event_path: Path, rounds: int, env: dict[str, str]) -> dict[str, Any]:
    return _child(["--child", str(event_path), str(rounds)], env)


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    full = os.environ | common.FAKE_AWS | env
    out = subprocess.run(
        [sys.executable, "-m", "bench.publish", *args],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def publishing_env(url: str, concurrency: int) -> dict[str, str]:
    return {
        "KINESIS_ENDPOINT_URL": url,
        "PREDICTIONS_STREAM_NAME": "ride_predictions",
        "PUBLISH_CONCURRENCY": str(concurrency),
        "TEST_RUN": "False",
        # the batch may wait on throttled shards for seconds: give it a Lambda's time
        "PUBLISH_MAX_ATTEMPTS": "50",
    }


# -- the tables -----------------------------------------------------------------------


def latency_table(event_path: Path, rounds: int, concurrencies: list[int]) -> list[dict]:
    """Per delay: every configuration (TEST_RUN included) once per round, rounds
    alternating, each a fresh process measuring three warm batches (their median; its
    peak RSS after all four); the median per configuration. Alternating spreads this
    machine's noise over all of them alike."""
    rows = []
    for delay in [*DELAYS_MS, HEAVY_TAIL]:
        kwargs = {"latency": delay} if isinstance(delay, str) else {"delay_ms": delay}
        label = f"{delay} ms" if isinstance(delay, int) else delay.replace(",", " / ")
        configs: list[tuple[Any, dict[str, str]]] = [("-", {"TEST_RUN": "True"})]
        with start_standin(capacity=False, **kwargs) as (url, _stats, _reset):
            configs += [(c, publishing_env(url, c)) for c in concurrencies]
            runs: dict[Any, list[dict]] = {c: [] for c, _ in configs}
            for _ in range(rounds):
                for concurrency, env in configs:
                    runs[concurrency].append(run_child(event_path, 3, env))
        for concurrency, results in runs.items():
            rows.append({"delay": label, "concurrency": concurrency, **_median(results)})
    return rows


#: the delays of the paired table: "answers instantly", and a typical AWS round trip
PAIRED_DELAYS_MS = (0, 30)


def paired_table(event_path: Path, rounds: int, default: int, batches: int = 5) -> list[dict]:
    """Per delay and round: one fresh process runs TEST_RUN, concurrency 1 and the
    default side by side (``paired_main``); the ratios are taken within each process,
    and the table shows their medians over the rounds."""
    rows = []
    for delay in PAIRED_DELAYS_MS:
        ratios: dict[str, list[float]] = {"test_run": [], "sequential": []}
        walls: dict[str, list[float]] = {"-": [], "1": [], str(default): []}
        cpus: dict[str, list[float]] = {k: [] for k in walls}
        with start_standin(delay_ms=delay, capacity=False) as (url, _stats, _reset):
            env = publishing_env(url, default)
            for _ in range(rounds):
                args = ["--paired", str(event_path), str(batches), "1", str(default)]
                got = _child(args, env)
                for key, measured in walls.items():
                    measured.append(got[key]["wall_s"])
                    cpus[key].append(got[key]["cpu_s"])
                ratios["test_run"].append(got[str(default)]["wall_s"] / got["-"]["wall_s"])
                ratios["sequential"].append(got[str(default)]["wall_s"] / got["1"]["wall_s"])
        rows.append(
            {
                "delay": f"{delay} ms",
                "default": default,
                **{f"wall_{k}": statistics.median(v) for k, v in walls.items()},
                **{f"cpu_{k}": statistics.median(v) for k, v in cpus.items()},
                "vs_test_run": statistics.median(ratios["test_run"]),
                "vs_test_run_range": (min(ratios["test_run"]), max(ratios["test_run"])),
                "vs_sequential": statistics.median(ratios["sequential"]),
                "vs_sequential_range": (min(ratios["sequential"]), max(ratios["sequential"])),
            }
        )
    return rows


def _median(results: list[dict]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def shard_table(event_path: Path, concurrencies: list[int]) -> list[dict]:
    rows = []
    for shards in (2, 4, 10):
        with start_standin(delay_ms=15, shards=shards, capacity=True) as (url, stats, reset):
            for concurrency in concurrencies:
                reset()
                result = run_child(event_path, 1, publishing_env(url, concurrency))
                counted = stats()
                rows.append(
                    {
                        "shards": shards,
                        "concurrency": concurrency,
                        **result,
                        "throttled": counted["entries_throttled"],
                        "floor_s": BATCH / (1000 * shards),
                    }
                )
    return rows


def lambda_cost(cpu_s: float, wall_s: float, memory_mb: int) -> dict[str, float]:
    """A batch's billed duration at ``memory_mb``: Lambda gives CPU in proportion to
    memory (one vCPU at 1,769 MB), so the CPU part stretches below it and the wait
    does not; measured here on one core of this machine, taken as one vCPU."""
    wait_s = max(0.0, wall_s - cpu_s)
    duration_s = cpu_s * max(1.0, FULL_VCPU_MB / memory_mb) + wait_s
    batches = 1_000_000 / BATCH
    gb_s = duration_s * memory_mb / 1024 * batches
    usd = gb_s * LAMBDA_GB_SECOND_USD + batches * LAMBDA_REQUEST_USD
    return {"duration_s": duration_s, "gb_s": gb_s, "usd": usd}


def kinesis_cost(rides_per_s: int) -> dict[str, float]:
    """Input and output streams sized for ``rides_per_s`` (1,000 records/s per shard,
    records well under 25 KB: one PUT payload unit each), per million rides."""
    shards = max(1, -(-rides_per_s // 1000))
    hours_per_million = 1_000_000 / rides_per_s / 3600
    shard_usd = 2 * shards * hours_per_million * SHARD_HOUR_USD
    put_usd = 2 * 1_000_000 * PUT_UNIT_USD
    return {"shards": shards, "shard_usd": shard_usd, "put_usd": put_usd}


# -- the report -------------------------------------------------------------------------


def render_paired(paired: list[dict], default: int) -> str:
    lines = [
        f"| PutRecords latency | TEST_RUN wall (ms) | concurrency 1 wall (ms) | concurrency "
        f"{default} wall (ms) | {default} vs TEST_RUN | {default} vs 1 | CPU of {default} (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in paired:
        t_lo, t_hi = row["vs_test_run_range"]
        s_lo, s_hi = row["vs_sequential_range"]
        lines.append(
            f"| {row['delay']} | {row['wall_-'] * 1000:,.0f} | {row['wall_1'] * 1000:,.0f} | "
            f"{row[f'wall_{default}'] * 1000:,.0f} | {row['vs_test_run']:.2f}x "
            f"({t_lo:.2f}-{t_hi:.2f}) | {row['vs_sequential']:.2f}x ({s_lo:.2f}-{s_hi:.2f}) | "
            f"{row[f'cpu_{default}'] * 1000:,.0f} |"
        )
    return "\n".join(lines)


def render(
    latency: list[dict], shards: list[dict], paired: list[dict], default: int
) -> tuple[str, str]:
    paired_md = render_paired(paired, default)
    test_runs = {r["delay"]: r for r in latency if r["concurrency"] == "-"}
    lines = [
        "| PutRecords latency | PUBLISH_CONCURRENCY | batch wall (ms) | CPU (ms) | vs TEST_RUN "
        "| vs concurrency 1 | peak RSS (MiB) | init (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sequential: dict[str, float] = {}
    for row in latency:
        if row["concurrency"] == 1:
            sequential[row["delay"]] = row["wall_s"]
        seq = sequential.get(row["delay"])
        vs_seq = f"{row['wall_s'] / seq:.2f}x" if seq and row["concurrency"] != "-" else ""
        test_run = test_runs[row["delay"]]
        shown = "TEST_RUN (no publishing)" if row["concurrency"] == "-" else row["concurrency"]
        lines.append(
            f"| {row['delay']} | {shown} | {row['wall_s'] * 1000:,.0f} | "
            f"{row['cpu_s'] * 1000:,.0f} | {row['wall_s'] / test_run['wall_s']:.2f}x | "
            f"{vs_seq} | {row['peak_rss_mib']:.0f} | {row['init_s'] * 1000:,.0f} |"
        )
    shard_lines = [
        "| output shards | PUBLISH_CONCURRENCY | batch wall (s) | floor: 10,000 / (1,000 x "
        "shards) (s) | entries throttled (retried) |",
        "|---|---|---|---|---|",
    ]
    for row in shards:
        shard_lines.append(
            f"| {row['shards']} | {row['concurrency']} | {row['wall_s']:.2f} | "
            f"{row['floor_s']:.1f} | {row['throttled']:,} |"
        )
    at30 = next(r for r in latency if r["delay"] == "30 ms" and r["concurrency"] == default)
    cost_lines = [
        f"Per million rides (100 batches of 10,000), from the 30 ms row with "
        f"PUBLISH_CONCURRENCY={default}: CPU {at30['cpu_s'] * 1000:.0f} ms and wall "
        f"{at30['wall_s'] * 1000:.0f} ms per batch on this machine.",
        "",
        "| memory (MB) | billed duration per batch (s) | GB-seconds per million rides "
        "| Lambda USD per million rides |",
        "|---|---|---|---|",
    ]
    for memory in MEMORY_MB:
        c = lambda_cost(at30["cpu_s"], at30["wall_s"], memory)
        cost_lines.append(
            f"| {memory} | {c['duration_s']:.2f} | {c['gb_s']:,.1f} | ${c['usd']:.4f} |"
        )
    k = kinesis_cost(TRAFFIC_RIDES_PER_S)
    cost_lines += [
        "",
        f"Kinesis (provisioned), for a steady {TRAFFIC_RIDES_PER_S} rides/s: {k['shards']} "
        f"shard in and {k['shards']} out; per million rides ${k['shard_usd']:.4f} in shard "
        f"hours + ${k['put_usd']:.4f} in PUT payload units (input and output, one 25 KB "
        f"unit per record) = ${k['shard_usd'] + k['put_usd']:.4f}.",
        "",
        f"Prices (us-east-1, as used on {PRICES_AS_OF}): Lambda x86 "
        f"${LAMBDA_GB_SECOND_USD} per GB-second and $0.20 per million requests; Kinesis "
        f"${SHARD_HOUR_USD} per shard-hour and $0.014 per million PUT payload units. The "
        "model: billed duration = CPU x max(1, 1769 / memory) + wait, one core of this "
        "machine taken as one vCPU.",
    ]
    latency_md = "\n".join(lines)
    shard_md = "\n".join(shard_lines)
    cost_md = "\n".join(cost_lines)
    page = "\n\n".join(
        [
            "# Publishing a 10,000-record batch at real Kinesis latency",
            f"Reproduce with `make bench` (or `python -m bench.publish`). Generated "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Default "
            f"PUBLISH_CONCURRENCY={default}.",
            "## Side by side in one process: the targets",
            "Per round, one fresh process holds a TEST_RUN service and publishing services "
            f"at concurrency 1 and {default}, and runs their batches in turn (five each, "
            "after a warm one); the ratios are taken within the process, and the table "
            "shows their median (and range) over the rounds. Why: on this machine fresh "
            "interpreters ran the same TEST_RUN batch in 107 to 210 ms (25 processes, "
            "whatever the core, the hash seed or ASLR) while the batches of one process "
            "agree, so ratios across processes carry that noise.",
            paired_md,
            "## Latency: one call after another vs several in flight",
            "The stand-in endpoint (`bench/standin.py`, its own process, Nagle off) answers "
            "every PutRecords after the delay shown. Per delay, every configuration - "
            "TEST_RUN, the compute-only reference, included - runs once per round in a "
            "fresh process (the median of three batches after a warm one; peak RSS is "
            "that process's after the four), the rounds "
            "alternating; the table shows the medians, and the ratios are to the "
            "TEST_RUN and the concurrency 1 of the same delay. Init is `build_service` "
            "(the handler's module already imported): settings and the model, and when "
            "publishing also botocore's import, the Kinesis client and the thread pool "
            "(whose threads start with the first batch).",
            latency_md,
            "## When the output stream is the limit",
            "The stand-in enforces 1,000 records/s and 1 MiB/s per shard (burst: 1 s), "
            "15 ms per call. More concurrency cannot beat the floor; it only meets more "
            "throttling, which the publisher retries with backoff.",
            shard_md,
            "## Cost per million rides",
            cost_md,
            "## Machine",
            "\n".join(f"- {k}: {v}" for k, v in common.machine().items()),
        ]
    )
    section = "\n\n".join(
        [
            BEGIN,
            "## Publishing at Kinesis latency, and cost per million rides",
            "From `python -m bench.publish` (full tables: bench/PUBLISH.md).",
            "Side by side in one process (median ratio over the rounds, and range):",
            paired_md,
            "Each configuration in its own process (medians over the rounds):",
            latency_md,
            cost_md,
            END,
        ]
    )
    return page + "\n", section


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    if argv[:1] == ["--paired"]:
        return paired_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 round, fewer settings")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "PUBLISH.md")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    common.ensure_path()
    from streaming.consumer.config import DEFAULT_PUBLISH_CONCURRENCY

    default = DEFAULT_PUBLISH_CONCURRENCY

    rounds = 1 if args.quick else args.rounds
    concurrencies = sorted({1, default} if args.quick else {1, 2, 4, default, 16})
    event_path = common.CACHE / "publish-event.json"
    event_path.parent.mkdir(parents=True, exist_ok=True)
    event_path.write_text(json.dumps(common.lambda_event(common.ride_payloads(BATCH))))
    paired = paired_table(event_path, rounds, default)
    latency = latency_table(event_path, rounds, concurrencies)
    shards = shard_table(event_path, sorted({1, default}))
    page, section = render(latency, shards, paired, default)
    args.out.write_text(page)
    write_section(args.results, section)
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
