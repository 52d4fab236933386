"""``python -m streaming <command>`` (also installed as ``streaming``)."""

from __future__ import annotations

import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "streaming.training.train",
        "train the model on TLC data and write models/",
    ),
    "demo": (
        "streaming.tools.demo",
        "run the whole pipeline on an embedded Kinesis emulator",
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
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print("usage: streaming <command> [options]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<8} {help_text}")
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    import importlib

    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)
