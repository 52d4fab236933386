"""One day's run as a self-contained HTML page (pure): the figures a person checks
each morning, readable at a glance, with nothing fetched from the network.

Sections: what was scored and rejected (by reason), the distribution of
predicted minutes, rides and minutes by hour of the New York clock, the
busiest pickup zones, RMSE/MAE where the drop-off is known, and the day beside
the days before it. Every text that came from data is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from streaming.batch import svg
from streaming.batch.days import ServiceDay
from streaming.batch.summary import BIN_MINUTES, BINS, DaySummary, Stats

TOP_ZONES = 15

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{border:1px solid #ccd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}.note{background:#fff7d6;padding:6px 10px;border-radius:4px}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}
svg{width:100%;max-width:800px;height:auto;display:block}
svg .tick{font-size:11px;fill:#444}svg .title{font-size:12px;font-weight:600;fill:#222}
svg .grid{stroke:#e4e4e4}
"""


@dataclass(frozen=True)
class DayFigures:
    """One earlier day, as its latest successful run recorded it."""

    day: date
    predicted: int
    rejected: int
    mean_predicted: float | None
    rmse: float | None


@dataclass(frozen=True)
class ReportInput:
    day: ServiceDay
    model_version: str
    run_id: str | None
    summary: DaySummary
    #: earlier days, oldest first
    history: Sequence[DayFigures] = ()
    zone_names: Mapping[int, str] | None = None
    generated_at: str = ""


def render(data: ReportInput) -> str:
    s = data.summary
    title = f"Ride durations for {data.day} (New York)"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<div class='meta'>model version <code>{escape(data.model_version)}</code>",
        f" &middot; run <code>{escape(data.run_id or '-')}</code>" if data.run_id else "",
        f" &middot; generated {escape(data.generated_at)}</div>" if data.generated_at else "</div>",
        _day_note(data.day),
        _cards(s),
        _rejects(s),
        "<h2>Predicted duration</h2>",
        _histogram(s),
        "<h2>By hour of the day</h2>",
        _hours(s),
        "<h2>Busiest pickup zones</h2>",
        _zones(s, data.zone_names or {}),
        "<h2>This day and the days before it</h2>",
        _history(data),
        "</body></html>",
    ]
    return "".join(parts)


def _day_note(day: ServiceDay) -> str:
    if day.hours == 25:
        return (
            "<p class='note'>This day had 25 hours (clocks went back): the times are New York "
            "wall-clock times, so both 01:00-01:59 hours are in the 01 bar.</p>"
        )
    if day.hours == 23:
        return (
            "<p class='note'>This day had 23 hours (clocks went forward): 02:00-02:59 did not "
            "happen, so its bar is empty unless the data says otherwise.</p>"
        )
    return ""


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} min"


def _cards(s: DaySummary) -> str:
    t = s.total
    cards = [
        ("rides read", f"{s.predicted + s.rejected:,}"),
        ("predicted", f"{s.predicted:,}"),
        ("rejected", f"{s.rejected:,}"),
        ("mean predicted", _minutes(t.mean_predicted)),
        ("RMSE", _minutes(t.rmse)),
        ("MAE", _minutes(t.mae)),
        ("with actual duration", f"{t.with_actual:,}"),
    ]
    body = "".join(f"<div class='card'>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
    note = (
        "<p class='meta'>RMSE and MAE use the rides whose drop-off is known and whose "
        "actual duration is 1 to 60 minutes (the range the model is trained and judged on).</p>"
    )
    return f"<div class='cards'>{body}</div>{note}"


def _rejects(s: DaySummary) -> str:
    if not s.rejects:
        return "<p>No rows were rejected.</p>"
    rows = "".join(
        f"<tr><td><code>{escape(reason)}</code></td><td>{count:,}</td></tr>"
        for reason, count in s.rejects.most_common()
    )
    head = "<h2>Rejected rows by reason</h2><table><tr><th>reason</th><th>rows</th></tr>"
    return f"{head}{rows}</table>"


def _histogram(s: DaySummary) -> str:
    labels = [f"{i * BIN_MINUTES}" for i in range(BINS - 1)] + [f"{(BINS - 1) * BIN_MINUTES}+"]
    return svg.bars(
        labels,
        [float(v) for v in s.histogram],
        title="rides by predicted minutes (2-minute bins)",
        y_label="rides",
        every=5,
    )


def _hours(s: DaySummary) -> str:
    labels = [f"{h:02d}" for h in range(24)]
    rides = svg.bars(
        labels,
        [float(h.rides) for h in s.by_hour],
        title="rides by pickup hour",
        y_label="rides",
        every=2,
    )
    minutes = svg.bars(
        labels,
        [h.mean_predicted or 0.0 for h in s.by_hour],
        title="mean predicted minutes by pickup hour (line: mean actual)",
        y_label="minutes",
        line=[h.mean_actual for h in s.by_hour],
        line_label="mean actual minutes",
        every=2,
    )
    return rides + minutes


def _zones(s: DaySummary, names: Mapping[int, str]) -> str:
    top = sorted(s.by_zone.items(), key=lambda kv: (-kv[1].rides, kv[0]))[:TOP_ZONES]
    if not top:
        return "<p>No rides.</p>"

    def name(zone: int) -> str:
        if zone == 0:
            return "other zone ids"
        return f"{zone} {names.get(zone, '')}".strip()

    chart = svg.hbars(
        [name(z) for z, _ in top], [float(st.rides) for _, st in top], title="rides", unit=""
    )
    rows = "".join(_zone_row(name(z), st) for z, st in top)
    table = (
        "<table><tr><th>pickup zone</th><th>rides</th><th>mean predicted</th>"
        f"<th>RMSE</th><th>with actual</th></tr>{rows}</table>"
    )
    return chart + table


def _zone_row(label: str, st: Stats) -> str:
    return (
        f"<tr><td>{escape(label)}</td><td>{st.rides:,}</td><td>{_minutes(st.mean_predicted)}"
        f"</td><td>{_minutes(st.rmse)}</td><td>{st.with_actual:,}</td></tr>"
    )


def _history(data: ReportInput) -> str:
    s = data.summary
    days = [
        *data.history,
        DayFigures(data.day.day, s.predicted, s.rejected, s.total.mean_predicted, s.total.rmse),
    ]
    if len(days) == 1:
        return "<p>No earlier day has been scored with this model version.</p>"
    labels = [d.day.strftime("%m-%d") for d in days]
    rides = svg.bars(
        labels, [float(d.predicted) for d in days], title="rides predicted per day", y_label="rides"
    )
    minutes = svg.bars(
        labels,
        [d.mean_predicted or 0.0 for d in days],
        title="mean predicted minutes per day (line: RMSE)",
        y_label="minutes",
        line=[d.rmse for d in days],
        line_label="RMSE",
    )
    rows = "".join(
        f"<tr><td>{d.day}</td><td>{d.predicted:,}</td><td>{d.rejected:,}</td>"
        f"<td>{_minutes(d.mean_predicted)}</td><td>{_minutes(d.rmse)}</td></tr>"
        for d in reversed(days)
    )
    table = (
        "<table><tr><th>day</th><th>predicted</th><th>rejected</th><th>mean predicted</th>"
        f"<th>RMSE</th></tr>{rows}</table>"
    )
    return rides + minutes + table
