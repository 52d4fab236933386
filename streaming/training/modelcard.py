"""The model card: a markdown page and its plots, written beside the model by training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CARD_FILE = "MODEL_CARD.md"
PLOT_PRED_VS_ACTUAL = "predicted_vs_actual.png"
PLOT_ERROR_BY_HOUR = "error_by_hour.png"


def _plots(out_dir: Path, holdout: Any, y_pred: np.ndarray, month: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y_true = holdout["duration"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    hb = ax.hexbin(y_true, y_pred, gridsize=60, bins="log", cmap="viridis", extent=(0, 60, 0, 60))
    ax.plot([0, 60], [0, 60], color="red", linewidth=1, label="perfect")
    ax.set_xlabel("actual duration (min)")
    ax.set_ylabel("predicted duration (min)")
    ax.set_title(f"Predicted vs actual, {month} (unseen month)")
    ax.legend(loc="upper left")
    fig.colorbar(hb, ax=ax, label="rides (log)")
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_PRED_VS_ACTUAL)
    plt.close(fig)

    hours = holdout["pickup_hour"].to_numpy()
    err = y_pred - y_true
    by_hour = []
    for h in range(24):
        e = err[hours == h]
        by_hour.append(
            {
                "hour": h,
                "rides": int(e.size),
                "rmse": float(np.sqrt(np.mean(e**2))) if e.size else None,
                "mean_error": float(np.mean(e)) if e.size else None,
            }
        )
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    xs = [b["hour"] for b in by_hour]
    ax.bar(xs, [b["rmse"] or 0 for b in by_hour], color="#4477aa", label="RMSE")
    ax.plot(
        xs,
        [b["mean_error"] or 0 for b in by_hour],
        color="#cc6677",
        marker="o",
        label="mean error (pred - actual)",
    )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(24))
    ax.set_xlabel("pickup hour (New York)")
    ax.set_ylabel("minutes")
    ax.set_title(f"Error by hour of day, {month}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_ERROR_BY_HOUR)
    plt.close(fig)
    return {"by_hour": by_hour}


def write_model_card(
    out_dir: Path, metadata: dict[str, Any], holdout: Any, y_pred: np.ndarray
) -> Path:
    """Write ``MODEL_CARD.md`` and its two PNG plots into ``out_dir``."""
    data, metrics, model = metadata["data"], metadata["metrics"], metadata["model"]
    month = data["holdout_month"]
    extra = _plots(out_dir, holdout, y_pred, month)
    worst = sorted(
        (b for b in extra["by_hour"] if b["rmse"] is not None), key=lambda b: -b["rmse"]
    )[:3]
    rows = "\n".join(
        f"| {m} | {s['rows_raw']} | {s['rows_outside_month']} | "
        f"{s['rows_duration_out_of_range']} | {s['rows_clean']} |"
        for m, s in data["months"].items()
    )
    cands = "\n".join(
        f"| {c['name']} | {c['valid_rmse']:.3f} | {c['holdout_rmse']:.3f} |"
        f"{' **chosen**' if c['name'] == metadata['selection']['chosen'] else ''} |"
        for c in metadata["selection"]["candidates"]
    )
    text = f"""# Model card: {metadata["name"]}

Version `{metadata["version"]}`, trained {metadata["trained_at"]} by `make train`.

## What it predicts
Minutes from pickup to drop-off of an NYC green-taxi ride, from what is known
when the ride starts: {", ".join(f"`{f}`" for f in metadata["features"])}
(hour and weekday in New York local time). Trained on rides of 1-60 minutes;
longer or shorter rides are outside what it was taught.

## Model
{model["type"]} with zones as categories ({model["zone_categories"]["PULocationID"]}
pickup / {model["zone_categories"]["DOLocationID"]} drop-off zones seen at least
{model["params"]["min_zone_count"]} times; rarer and unknown zones share one "unknown"
branch), {model["n_trees"]} trees of at most {model["max_leaves"]} leaves. Served as
tree tables run by numpy (`{metadata["format"]}`, {metadata["weights"]["bytes"] // 1024} KiB,
sha256 `{metadata["weights"]["sha256"][:16]}...`); the export matches scikit-learn to
{metadata["exactness"]["max_abs_diff_minutes"]:.2g} min over
{metadata["exactness"]["rows"]} real rows (tolerance {metadata["exactness"]["tolerance_minutes"]:g}).

## Evaluation
| figure | RMSE (min) |
|---|---|
| this model, validation {data["validation_month"]} (fit on {data["train_month"]}) | {metrics["validation_rmse"]:.3f} |
| course baseline, validation {data["validation_month"]} | {metrics["baseline_validation_rmse"]:.3f} |
| shipped model (refit on {", ".join(data["refit_months"])}), unseen {month} | {metrics["holdout_rmse"]:.3f} |
| course baseline, unseen {month} | {metrics["baseline_holdout_rmse"]:.3f} |

Target: validation RMSE <= {metrics["validation_target_rmse"]} min. Mean error on {month}:
{metrics["holdout_mean_error"]:+.3f} min. Hardest hours on {month}:
{", ".join(f"{b['hour']}h ({b['rmse']:.2f})" for b in worst)}.

![predicted vs actual]({PLOT_PRED_VS_ACTUAL})

![error by hour]({PLOT_ERROR_BY_HOUR})

## Model selection ({metadata["selection"]["rule"]})
| candidate | RMSE {data["validation_month"]} | RMSE {month} | |
|---|---|---|---|
{cands}

## Data
NYC TLC green-taxi trip records. Rows whose pickup lies outside the file's
month and rides outside 1-60 minutes are dropped.

| month | rows | outside month | outside 1-60 min | used |
|---|---|---|---|---|
{rows}

{month} is never trained on: it is the demo's month and the drift check.

## Limits
- Trips of green taxis only, 2021 and 2023; yellow cabs and other years may differ.
- No traffic, weather or event data; the hour and weekday stand in for them.
- Unknown or rare zones are predicted from distance and time alone.
"""
    path = out_dir / CARD_FILE
    path.write_text(text, encoding="utf-8")
    return path
