// The monitoring dashboard: fetches /api/summary and draws it with uPlot (shipped in
// /static). Every value from the database goes into the page as text, never as HTML.
(function () {
  "use strict";
  const REFRESH_S = Math.max(2, parseInt(document.body.dataset.refreshS, 10) || 15);
  const COLORS = ["#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#c92a2a", "#0c8599", "#5c940d", "#868e96"];
  const charts = {};
  let lastKeys = {};

  function fmt(value, digits) {
    if (value === null || value === undefined) return "-";
    return typeof value === "number" ? value.toLocaleString("en-US", { maximumFractionDigits: digits }) : String(value);
  }

  function utc(seconds) {
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16);
  }

  function series(label, color, opts) {
    return Object.assign({ label: label, stroke: color, width: 2, spanGaps: false,
      points: { show: true, size: 5 }, value: (u, v) => fmt(v, 3) }, opts || {});
  }

  function draw(id, x, lines, yLabel, extra) {
    const el = document.getElementById(id);
    const key = lines.map((l) => l.label).join("|");
    const data = [x].concat(lines.map((l) => l.values));
    if (charts[id] && lastKeys[id] === key) {
      charts[id].setData(data);
      return;
    }
    if (charts[id]) charts[id].destroy();
    const opts = Object.assign({
      width: Math.max(320, el.clientWidth), height: 240,
      scales: { x: { time: true } },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),  // windows are UTC
      axes: [{}, { label: yLabel, size: 60 }],
      series: [{ label: "window (UTC)", value: (u, v) => (v === null ? "-" : utc(v)) }]
        .concat(lines.map((l, i) => series(l.label, l.color || COLORS[i % COLORS.length], l.opts))),
      legend: { live: true },
    }, extra || {});
    el.textContent = "";
    charts[id] = new uPlot(opts, data, el);
    lastKeys[id] = key;
  }

  function thresholdLine(value) {
    // a dashed horizontal line at the alarm threshold
    return { hooks: { draw: [(u) => {
      const y = u.valToPos(value, "y", true);
      if (!isFinite(y)) return;
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#c62828";
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    }] } };
  }

  function latestOf(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  function render(summary) {
    const s = summary.series;
    const x = summary.window_starts;
    const threshold = summary.psi_threshold;
    document.getElementById("threshold").textContent = String(threshold);
    document.getElementById("t-windows").textContent = fmt(summary.totals.windows);
    document.getElementById("t-predictions").textContent = fmt(summary.totals.predictions);
    document.getElementById("t-finished").textContent = fmt(summary.totals.finished_rides);
    document.getElementById("t-dead").textContent = fmt(summary.totals.dead_letters);
    const psi = latestOf(s.psi);
    const psiTile = document.getElementById("t-psi");
    psiTile.textContent = fmt(psi, 3);
    psiTile.classList.toggle("alarm", psi !== null && psi > threshold);
    document.getElementById("t-rmse").textContent = latestOf(s.rmse_champion) === null ? "-" : fmt(latestOf(s.rmse_champion), 2) + " min";

    draw("chart-volume", x, [
      { label: "rides started", values: s.rides_started, color: "#868e96" },
      { label: "champion", values: s.champion_records, color: "#1f6feb" },
      { label: "shadow", values: s.shadow_records, color: "#e8590c" },
      { label: "finished rides", values: s.finished, color: "#2f9e44" },
    ], "rides");
    draw("chart-drift", x, [
      { label: "PSI", values: s.psi, color: "#1f6feb" },
      { label: "KS distance", values: s.ks, color: "#868e96" },
    ], "PSI / KS", Object.assign({ scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(threshold * 1.5, hi || 0)] } } }, thresholdLine(threshold)));
    draw("chart-quality", x, [
      { label: "RMSE champion", values: s.rmse_champion, color: "#1f6feb" },
      { label: "MAE champion", values: s.mae_champion, color: "#74c0fc" },
      { label: "RMSE shadow", values: s.rmse_shadow, color: "#e8590c" },
      { label: "MAE shadow", values: s.mae_shadow, color: "#ffc078" },
    ], "minutes");
    const reasons = Object.keys(s.dead_letters);
    draw("chart-dead", x, reasons.length ? reasons.map((r) => ({ label: r, values: s.dead_letters[r] }))
      : [{ label: "dead letters", values: x.map(() => null) }], "records");
    draw("chart-zones", x, [
      { label: "unknown zone share", values: s.unknown_zone_share, color: "#c92a2a" },
    ], "%");
    draw("chart-shadow", x, [
      { label: "champion mean", values: s.champion_mean, color: "#1f6feb" },
      { label: "shadow mean", values: s.shadow_mean, color: "#e8590c" },
      { label: "shadow - champion", values: s.shadow_minus_champion, color: "#ae3ec9", opts: { dash: [5, 4] } },
    ], "minutes");
    table(summary.latest, threshold);
  }

  function table(rows, threshold) {
    const body = document.querySelector("#latest tbody");
    body.textContent = "";
    if (!rows.length) {
      const tr = body.insertRow();
      const td = tr.insertCell();
      td.colSpan = 12;
      td.className = "empty";
      td.textContent = "no windows yet";
      return;
    }
    for (const row of rows) {
      const tr = body.insertRow();
      const cells = [
        [utc(row.start), ""], [row.version, ""], [row.role, ""], [fmt(row.records), "num"],
        [fmt(row.mean, 2), "num"], [fmt(row.psi, 3), row.psi !== null && row.psi > threshold ? "num alarm" : "num"],
        [fmt(row.ks, 3), "num"], [fmt(row.finished), "num"], [fmt(row.rmse, 2), "num"],
        [fmt(row.mae, 2), "num"], [fmt(row.dead_letters), "num"], [fmt(row.shards), "num"],
      ];
      for (const [text, cls] of cells) {
        const td = tr.insertCell();
        td.textContent = text;
        if (cls) td.className = cls;
      }
    }
  }

  function status(text, ok) {
    const el = document.getElementById("status");
    el.textContent = text;
    el.className = "status " + (ok ? "ok" : "bad");
  }

  async function refresh() {
    try {
      const response = await fetch("/api/summary", { cache: "no-store" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      render(body);
      status("updated " + new Date().toISOString().slice(11, 19) + " UTC", true);
      document.body.dataset.loaded = String(body.window_starts.length);
    } catch (err) {
      status(String(err.message || err), false);
    } finally {
      setTimeout(refresh, REFRESH_S * 1000);
    }
  }

  window.addEventListener("resize", () => {
    for (const id in charts) {
      const el = document.getElementById(id);
      charts[id].setSize({ width: Math.max(320, el.clientWidth), height: 240 });
    }
  });
  refresh();
})();
