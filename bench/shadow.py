"""What a shadow model costs the consumer: time per 10k batch, init, peak RSS.

    python -m bench.shadow [--rounds 5]     (make bench runs it)

Side by side in one run, each configuration in a fresh process: the champion
alone, and the champion with a shadow (the shipped model again, under another
version: the same size as a real challenger of this kind), in TEST_RUN (the
scoring cost: one more vectorised predict) and published to the stand-in
endpoint (``bench/standin.py``) at 0 and 30 ms per call (the cost of a second
stream). Writes bench/SHADOW.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from bench.publish import BATCH, publishing_env, run_child  # noqa: E402
from bench.standin import start_standin  # noqa: E402


def shadow_model(directory: Path) -> Path:
    """The shipped model under another version (what a challenger of the same size is)."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in (REPO / "models").iterdir():
        if item.is_file():
            shutil.copy(item, directory / item.name)
    metadata = json.loads((directory / "metadata.json").read_text())
    metadata["version"] = "bench-shadow"
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory


def measure(event_path: Path, rounds: int, shadow: Path) -> list[dict]:
    rows = []
    with_shadow = {"SHADOW_MODEL_LOCATION": str(shadow), "SHADOW_STREAM_NAME": "ride_shadow"}
    for label, env in (("TEST_RUN", {"TEST_RUN": "True"}),):
        for name, extra in (("champion alone", {}), ("with shadow", with_shadow)):
            rows.append(
                {"mode": label, "config": name, **run_child(event_path, rounds, env | extra)}
            )
    for delay in (0, 30):
        with start_standin(delay_ms=delay, capacity=False) as (url, _stats, _reset):
            for name, extra in (("champion alone", {}), ("with shadow", with_shadow)):
                env = publishing_env(url, 8) | extra
                result = run_child(event_path, rounds, env)
                rows.append({"mode": f"published, {delay} ms", "config": name, **result})
    return rows


def render(rows: list[dict]) -> str:
    lines = [
        "| mode | configuration | batch wall (ms) | CPU (ms) | init (ms) | peak RSS (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['config']} | {r['wall_s'] * 1000:,.0f} | "
            f"{r['cpu_s'] * 1000:,.0f} | {r['init_s'] * 1000:,.0f} | {r['peak_rss_mib']:.0f} |"
        )
    return (
        "\n\n".join(
            [
                "# What a shadow model costs",
                f"Reproduce with `make bench` (or `python -m bench.shadow`). Generated "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. A 10,000-record batch; "
                "medians of the rounds; each row a fresh process. The shadow is the shipped "
                "model under another version; published rows use PUBLISH_CONCURRENCY=8 and "
                "the stand-in endpoint (bench/standin.py).",
                "\n".join(lines),
                "## Machine",
                "\n".join(f"- {k}: {v}" for k, v in common.machine().items()),
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "SHADOW.md")
    args = parser.parse_args(argv)
    common.ensure_path()
    event_path = common.CACHE / "shadow-event.json"
    event_path.parent.mkdir(parents=True, exist_ok=True)
    event_path.write_text(json.dumps(common.lambda_event(common.ride_payloads(BATCH))))
    rows = measure(event_path, args.rounds, shadow_model(common.CACHE / "shadow-model"))
    page = render(rows)
    args.out.write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
