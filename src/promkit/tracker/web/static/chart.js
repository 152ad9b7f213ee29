// A dependency-free SVG line chart: one series of {t, v} points, axes with min/max labels.
import { formatNumber } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function timeLabel(seconds, span) {
  const date = new Date(seconds * 1000);
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (span <= 12 * 3600) return time;
  const day = date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return span > 2 * 86400 ? day : `${day} ${time}`;
}

export function lineChart(points, { title, start, end, width = 600, height = 180 } = {}) {
  const pad = { left: 48, right: 12, top: 10, bottom: 24 };
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "data-points": points.length,
    "data-width": width,
  });
  const last = points.length ? points[points.length - 1] : null;
  root.append(svg("title", {}, `${title}: ${points.length} points${last ? `, latest ${formatNumber(last.v)}` : ""}`));
  const t0 = start ?? (points[0] ? points[0].t : 0);
  const t1 = end ?? (last ? last.t : 1);
  let lo = Math.min(...points.map((p) => p.v));
  let hi = Math.max(...points.map((p) => p.v));
  if (!points.length) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 1; hi += 1; }
  const x = (t) => pad.left + ((t - t0) / Math.max(1, t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  const axis = { class: "axis" };
  root.append(svg("line", { ...axis, x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom }));
  root.append(svg("line", { ...axis, x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom }));
  root.append(svg("text", { class: "tick", x: pad.left - 4, y: pad.top + 8, "text-anchor": "end" }, formatNumber(hi)));
  root.append(svg("text", { class: "tick", x: pad.left - 4, y: height - pad.bottom, "text-anchor": "end" }, formatNumber(lo)));
  root.append(svg("text", { class: "tick", x: pad.left, y: height - 6 }, timeLabel(t0, t1 - t0)));
  root.append(svg("text", { class: "tick", x: width - pad.right, y: height - 6, "text-anchor": "end" }, timeLabel(t1, t1 - t0)));
  if (points.length) {
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    root.append(svg("path", { class: "line", d }));
    for (const p of points) {
      root.append(svg("circle", { class: "point", cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.5 }));
    }
  } else {
    root.append(svg("text", { class: "empty", x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data in this range yet"));
  }
  return root;
}
