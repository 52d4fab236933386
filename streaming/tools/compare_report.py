"""The text report of ``streaming evaluate --compare``: the figures of
``compare.compare`` as a person reads them (``--json`` prints the same dict as is)."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    """The report for a person: counts, the paired figures, the breakdowns, the verdict
    and the rule that gave it. Every figure is in minutes (squared errors: min^2)."""
    lines = ["shadow vs champion on the same finished rides (minutes)", ""]
    lines += _counts_lines(report)
    lines += ["", *_overall_lines(report["overall"])]
    for title, key in (("by pickup hour", "hour"), ("by pickup zone group", "zone_group")):
        if report[f"by_{key}"]:
            lines += ["", *_breakdown_lines(title, key, report[f"by_{key}"])]
    lines += [
        "",
        f"verdict: {report['verdict'].upper()} - {report['reason']}",
        f"rule: {report['rule']['text']}",
    ]
    return "\n".join(lines)


def _side_line(name: str, side: dict[str, Any]) -> str:
    versions = ", ".join(side["versions"]) or "none"
    left = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in side["left_out"].items())
    return (
        f"{name:<9} version {versions}: {side['used']:,} predictions used of "
        f"{side['events']:,}" + (f" (left out: {left})" if left else "")
    )


def _counts_lines(report: dict[str, Any]) -> list[str]:
    rides = report["rides"]
    return [
        _side_line("champion", report["champion"]),
        _side_line("shadow", report["shadow"]),
        f"rides scored by both: {rides['scored_by_both']:,} ({rides['paired_by_source']:,} "
        f"by source, {rides['paired_by_ride_id']:,} by ride_id); scored by one model only, "
        f"not used: champion {rides['only_champion']:,}, shadow {rides['only_shadow']:,}",
        f"finished (compared): {rides['compared']:,}; not finished yet: {rides['not_finished']:,}",
    ]


def _num(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _ci(ci: list[float] | None, spec: str = "+.3f") -> str:
    return "-" if ci is None else f"{ci[0]:{spec}} to {ci[1]:{spec}}"


def _overall_lines(s: dict[str, Any]) -> list[str]:
    c, sh, rmse = s["champion"], s["shadow"], s["rmse_difference"]
    sq, ab = s["squared_error_difference"], s["absolute_error_difference"]
    gain = s["relative_improvement"]
    p = sq["p"]
    test = "-" if p is None else ("p < 0.0001" if p < 1e-4 else f"p = {p:.4f}")
    return [
        f"{s['rides']:,} rides:       RMSE      MAE   mean error",
        _model_line("champion", c),
        _model_line("shadow", sh),
        "",
        "shadow - champion, paired over the same rides (95% bootstrap CI):",
        f"  RMSE            {_num(rmse['estimate'], '+.3f')} min ({_ci(rmse['ci95'])}); "
        f"the shadow's RMSE is {_relative(gain)}",
        f"  squared error   {_num(sq['mean'], '+.3f')} min^2 ({_ci(sq['ci95'])}); paired "
        f"t-test t = {_num(sq['t'], '.2f')}, {test}",
        f"  absolute error  {_num(ab['mean'], '+.3f')} min ({_ci(ab['ci95'])})",
    ]


def _relative(gain: float | None) -> str:
    if gain is None:
        return "-"
    return f"{abs(gain):.2%} {'lower' if gain >= 0 else 'higher'} than the champion's"


def _model_line(name: str, e: dict[str, Any]) -> str:
    return (
        f"{name:<16} {_num(e['rmse']):>7} {_num(e['mae']):>8} {_num(e['mean_error'], '+.3f'):>12}"
    )


def _breakdown_lines(title: str, key: str, rows: list[dict[str, Any]]) -> list[str]:
    out = [
        f"{title}:",
        f"  {key.replace('_', ' '):>14}   rides  RMSE champion  RMSE shadow  difference  "
        "95% CI of the difference",
    ]
    for row in rows:
        diff = row["rmse_difference"]
        out.append(
            f"  {row[key]!s:>14} {row['rides']:>7,} {_num(row['champion']['rmse']):>14} "
            f"{_num(row['shadow']['rmse']):>12} {_num(diff['estimate'], '+.3f'):>11}  "
            f"{_ci(diff['ci95'])}"
        )
    return out
