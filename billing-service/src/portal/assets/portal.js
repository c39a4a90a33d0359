// The overview's daily chart: uPlot (served from its npm package) over the JSON data block the
// server rendered. No inline script anywhere; the table under the chart carries the same figures.
(function () {
  "use strict";
  var holder = document.getElementById("daily-chart");
  var data = document.getElementById("daily-data");
  if (!holder || !data || typeof uPlot === "undefined") return;
  var days = JSON.parse(data.textContent || "[]");
  if (days.length === 0) return;
  // One slot per UTC day (an index, not a timestamp: no time-zone conversion, bars centred on their day).
  var xs = days.map(function (d, i) { return i; });
  var dayLabel = function (i) {
    var d = days[i];
    return d ? new Date(d.day + "T00:00:00Z").toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" }) : "";
  };
  var every = Math.max(1, Math.ceil(days.length / 10));
  var input = days.map(function (d) { return Number(d.inputTokens); });
  var output = days.map(function (d) { return Number(d.outputTokens); });
  var compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
  var bars = uPlot.paths.bars;
  var size = function () { return { width: Math.max(holder.clientWidth, 240), height: holder.clientWidth < 500 ? 200 : 260 }; };
  var opts = Object.assign(size(), {
    cursor: { points: { show: false } },
    legend: { show: true, live: false },
    scales: { x: { time: false, range: function () { return [-0.6, days.length - 0.4]; } }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
    axes: [
      {
        stroke: "#475467", grid: { show: false }, ticks: { stroke: "#eaecf0" },
        splits: function () { return xs.filter(function (i) { return i % every === 0; }); },
        values: function (u, vals) { return vals.map(dayLabel); },
      },
      { stroke: "#475467", grid: { stroke: "#eaecf0" }, ticks: { stroke: "#eaecf0" }, size: 60, values: function (u, vals) { return vals.map(function (v) { return compact.format(v); }); } },
    ],
    series: [
      { label: "Day" },
      { label: "Input tokens", fill: "#1f4e8c", stroke: "#1f4e8c", paths: bars({ size: [0.38, 36], align: -1 }), points: { show: false }, value: function (u, v) { return v == null ? "" : v.toLocaleString("en-US"); } },
      { label: "Output tokens", fill: "#2e9e8f", stroke: "#2e9e8f", paths: bars({ size: [0.38, 36], align: 1 }), points: { show: false }, value: function (u, v) { return v == null ? "" : v.toLocaleString("en-US"); } },
    ],
  });
  var plot = new uPlot(opts, [xs, input, output], holder);
  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; plot.setSize(size()); });
  });
})();
