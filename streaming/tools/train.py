"""streaming train: fit the model on the TLC months in data/ and write models/.

The protocol (streaming/training/train.py): choose on 2021-01 -> 2021-02, refit
on 2021-01, 2021-02 and 2023-01, judge on 2023-02 (never trained on), export
numpy tree tables, check them against scikit-learn, write the model card.
Paths default to the project's own folders, whatever the current directory.
"""

from __future__ import annotations

import json
from pathlib import Path

from streaming.commandline.errors import usage_error
from streaming.commandline.parser import CommandParser, positive_int
from streaming.tools.common import PROJECT_ROOT


def build_parser() -> CommandParser:
    p = CommandParser("streaming train", __doc__)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=PROJECT_ROOT / "data",
        help="folder of green_tripdata_YYYY-MM.parquet files",
    )
    p.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "models", help="model directory to write"
    )
    p.add_argument(
        "--trees",
        type=positive_int,
        metavar="N",
        help="train one model of N trees instead of choosing among the protocol's "
        "candidates: a smaller challenger to run as a shadow (default: the protocol)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from streaming.training import tlc, train

    months = sorted(
        {train.TRAIN_MONTH, train.VALID_MONTH, *train.REFIT_MONTHS, train.HOLDOUT_MONTH}
    )
    missing = [m for m in months if not tlc.month_path(args.data_dir, m).is_file()]
    if missing:
        raise usage_error(
            f"{args.data_dir} lacks the TLC months {', '.join(missing)}: copy "
            "green_tripdata_<month>.parquet there (../shared/data has them) or give --data-dir"
        )
    if args.out.exists() and not args.out.is_dir():
        raise usage_error(f"--out {args.out} is a file; give a directory")
    candidates = train.challenger(args.trees) if args.trees else train.CANDIDATES
    metadata = train.train(args.data_dir, args.out, progress=not args.quiet, candidates=candidates)
    metrics = metadata["metrics"]
    summary = {
        k: metrics[k] for k in ("validation_rmse", "holdout_rmse", "baseline_validation_rmse")
    }
    summary["version"] = metadata["version"]
    summary["max_abs_diff_minutes"] = metadata["exactness"]["max_abs_diff_minutes"]
    print(json.dumps(summary))
    return 0
