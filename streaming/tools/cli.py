"""``python -m streaming <command>`` (also installed as ``streaming``)."""

from __future__ import annotations

import sys
from typing import TextIO

COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "streaming.tools.train",
        "train the model on TLC data and write models/",
    ),
    "demo": (
        "streaming.tools.demo",
        "run the whole pipeline on an embedded Kinesis emulator",
    ),
    "invoke": (
        "streaming.tools.invoke",
        "run the Lambda function once on ride events (TEST_RUN), like sam local invoke",
    ),
    "run": (
        "streaming.tools.run",
        "the local event source mapping: poll a stream, invoke a handler",
    ),
    "send": (
        "streaming.tools.produce",
        "play TLC (or generated) rides into the input stream",
    ),
    "tail": (
        "streaming.tools.tail",
        "follow the predictions (and dead-letter) stream",
    ),
    "replay": (
        "streaming.tools.replay",
        "re-send dead letters or discarded batches (fixed if asked)",
    ),
    "evaluate": (
        "streaming.tools.evaluate",
        "RMSE of predictions against real durations, by hour/zone",
    ),
    "dashboard": (
        "streaming.tools.dashboard",
        "the monitoring database as a live page: drift, RMSE, volume, dead letters",
    ),
    "batch": (
        "streaming.tools.batch",
        "the daily batch job: one New York day of rides, database to database, with a report",
    ),
    "score": (
        "streaming.serving.score",
        "batch scoring: a TLC parquet or JSON-lines file -> parquet",
    ),
    "serve": (
        "streaming.serving.serve",
        "the web service: POST /predict, GET /health, /openapi.json",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a mistake: the usage, on stderr
        _usage(sys.stderr)
        return 2
    if argv[0] in {"-h", "--help"}:
        _usage(sys.stdout)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(
            f"streaming: unknown command {name!r}; the commands are "
            f"{', '.join(COMMANDS)} (streaming --help)",
            file=sys.stderr,
        )
        return 2
    import importlib

    from streaming.commandline.errors import run_command

    module = importlib.import_module(COMMANDS[name][0])
    return run_command(name, module.main, argv[1:])


def _usage(out: TextIO) -> None:
    print("usage: streaming <command> [options]   (streaming <command> -h: its options)", file=out)
    print("\ncommands:", file=out)
    for name, (_, help_text) in COMMANDS.items():
        print(f"  {name:<9} {help_text}", file=out)
