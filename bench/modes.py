"""``make bench-modes``: batch scoring and the web service, measured -> bench/MODES.md.

1. ``streaming score`` on a whole TLC month (2023-02, 64,809 rows), parquet to
   parquet, several rounds: rows/s.
2. ``streaming batch`` on the same month from a database (SQLite, and a throwaway
   PostgreSQL server on loopback): the month imported with ``import-tlc``, then every
   day of it scored database to database; rows/s over the days' own time.
   And its memory: peak RSS of ``streaming batch`` on one day of 100,000 and of
   1,000,000 synthetic rides in SQLite (read in chunks, so it should not grow).
4. ``streaming serve`` (gunicorn, 2 asyncio workers) under concurrent load on
   loopback: client processes with keep-alive connections send real rides for a
   fixed time; requests/s and the latency distribution.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import common

common.ensure_path()


def score_month(rounds: int) -> dict[str, float]:
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "streaming",
                    "score",
                    "--input",
                    str(common.REPO / "data/green_tripdata_2023-02.parquet"),
                    "--output",
                    f"{tmp}/out.parquet",
                    "--quiet",
                ],
                cwd=common.REPO,
                capture_output=True,
                text=True,
                check=True,
            )
            rates.append(json.loads(proc.stdout.strip().splitlines()[-1])["rows_per_s"])
    return {"rows_per_s": statistics.median(rates), "rows": 64_809}


def _streaming(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "streaming", *args],
        cwd=common.REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench-modes: streaming {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def batch_month(url: str, rounds: int) -> dict[str, float]:
    """Import 2023-02 into ``url``, then score all its days ``rounds`` times."""
    import re

    started = time.perf_counter()
    _streaming("batch", "import-tlc", "--db", url, "--month", "2023-02", "--replace")
    imported = time.perf_counter() - started
    rates, walls, rows = [], [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        out = _streaming("batch", "--db", url, "--from", "2023-02-01", "--to", "2023-02-28", "-q")
        walls.append(time.perf_counter() - started)
        days = re.findall(r"([\d,]+) rides read, .* in ([\d.]+) s", out)
        rows = sum(int(n.replace(",", "")) for n, _ in days)
        rates.append(rows / sum(float(t) for _, t in days))
    return {
        "rows": rows,
        "rows_per_s": statistics.median(rates),
        "command_s": statistics.median(walls),
        "import_s": imported,
    }


def batch_backends(rounds: int) -> dict[str, dict[str, float]]:
    from tests.support.postgres import fresh_database, postgres_server

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["SQLite"] = batch_month(f"sqlite:///{tmp}/rides.db", rounds)
    with postgres_server() as server:
        out["PostgreSQL"] = batch_month(fresh_database(server.url), rounds)
    return out


def _day_of_rides(path: Path, rides: int) -> None:
    """``rides`` synthetic rides on 2021-01-15 in the default ``rides`` table of ``path``."""
    import random
    import sqlite3

    from sqlalchemy import create_engine

    from streaming.batch.tlc_import import rides_table

    rides_table().create(create_engine(f"sqlite:///{path}"))
    rng = random.Random(16)
    rows = (
        (
            i,
            f"2021-01-15 {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000",
            rng.randint(1, 265),
            rng.randint(1, 265),
            round(rng.lognormvariate(0.8, 0.8), 2),
            None,
        )
        for i, s in ((i, rng.randrange(86_400)) for i in range(rides))
    )
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO rides VALUES (?, ?, ?, ?, ?, ?)", rows)


#: runs one command and prints its peak RSS in KiB (the only child of this process)
_PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
    "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def batch_memory(sizes: tuple[int, ...] = (100_000, 1_000_000)) -> dict[int, float]:
    """Peak RSS (MiB) of ``streaming batch`` scoring one day of ``n`` rides, per n."""
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"day-{n}.db"
            _day_of_rides(path, n)
            command = [sys.executable, "-m", "streaming", "batch", "--db", f"sqlite:///{path}"]
            command += ["--date", "2021-01-15"]
            out = subprocess.run(
                [sys.executable, "-c", _PEAK, *command],
                cwd=common.REPO,
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[n] = int(out.stdout.strip().splitlines()[-1]) / 1024
    return peaks


def _client(port: int, bodies: list[bytes], seconds: float, threads: int, out) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        i = offset
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            conn.request(
                "POST", "/predict", body=body, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            if response.status != 200:
                with lock:
                    errors[0] += 1
            i += threads
        conn.close()
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def serve_load(seconds: float, processes: int, threads: int) -> dict[str, float]:
    from tests.support.web import start_server

    rides = common.ride_payloads(2000, seed=13)
    bodies = [data for data, _ in rides]
    proc, port = start_server()
    try:
        queue: multiprocessing.Queue = multiprocessing.Queue()
        clients = [
            multiprocessing.Process(target=_client, args=(port, bodies, seconds, threads, queue))
            for _ in range(processes)
        ]
        started = time.perf_counter()
        for c in clients:
            c.start()
        results = [queue.get() for _ in clients]
        for c in clients:
            c.join()
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": wall,
        "requests_per_s": len(latencies) / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "concurrency": processes * threads,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--out", type=Path, default=common.REPO / "bench" / "MODES.md")
    args = ap.parse_args(argv)
    s = score_month(args.rounds)
    batch = batch_backends(args.rounds)
    memory = batch_memory()
    w = serve_load(args.seconds, args.processes, args.threads)
    m = common.machine()
    score_row = (
        f"| `streaming score`, a whole TLC month (2023-02, {s['rows']:,} rows), "
        f"parquet -> parquet | **{s['rows_per_s']:,.0f} rows/s** (median of "
        f"{args.rounds}) |"
    )
    batch_rows = "\n".join(
        f"| `streaming batch`, the same month from {name} ({b['rows']:,} rides in 28 days), "
        f"database -> database | **{b['rows_per_s']:,.0f} rows/s** (median of {args.rounds}; "
        f"the command {b['command_s']:.1f} s, import-tlc {b['import_s']:.1f} s) |"
        for name, b in batch.items()
    )
    memory_row = (
        "| `streaming batch`, one day of "
        + " and of ".join(f"{n:,}" for n in memory)
        + " synthetic rides (SQLite, chunks of 10,000) | peak RSS **"
        + "** and **".join(f"{mib:,.0f} MiB" for mib in memory.values())
        + "** |"
    )
    serve_row = (
        f"| `streaming serve` (gunicorn, 2 asyncio workers), "
        f"{w['concurrency']} concurrent keep-alive clients, {args.seconds:.0f} s | "
        f"**{w['requests_per_s']:,.0f} requests/s**, p50 {w['p50_ms']:.1f} ms, "
        f"p99 {w['p99_ms']:.1f} ms, {w['errors']} errors in {w['requests']:,} "
        "requests |"
    )
    text = f"""# Batch scoring and web service

Reproduce with `make bench-modes`. Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.

| mode | figure |
|---|---|
{score_row}
{batch_rows}
{memory_row}
{serve_row}

The batch rows/s count each day's own time (reading, scoring and writing it in one
transaction); the command's time adds the interpreter, the model load and the runs'
bookkeeping. PostgreSQL runs on the same machine with fsync off (a test server).

The clients run on the same {m["cores"]} cores as the server (loopback), so the web
figures include the load generator's own CPU.

Machine: {m["cpu"]}, {m["cores"]} cores; Python {m["python"]}; {m["versions"]}.
"""
    args.out.write_text(text)
    print(text)
    return 0 if w["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
