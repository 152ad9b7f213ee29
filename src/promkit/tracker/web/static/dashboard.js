// Dashboard: ingestion statistics, per metric the current value and a 1 h / 24 h / 7 d chart,
// and the Grafana export. Every number comes from the server, scoped to the signed-in user.
import { api, ApiError } from "./api.js";
import { lineChart } from "./chart.js";
import { el, formatNumber, formatTime } from "./dom.js";

const RANGES = [["1h", "1 h"], ["24h", "24 h"], ["7d", "7 d"]];
const SECONDS = { "1h": 3600, "24h": 86400, "7d": 604800 };
let timer = 0;
let currentResize = () => {};

function download(name, data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
}

function stat(label, value, id) {
  return el("div", { class: "stat" }, el("span", { class: "stat-label", text: label }), el("strong", { id, text: value }));
}

async function drawChart(card, metric, range) {
  const slot = card.querySelector(".chart-slot");
  for (const button of card.querySelectorAll(".ranges button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === range));
  }
  card.dataset.range = range;
  try {
    const history = await api("GET", `/api/v1/web/metrics/${metric.id}/history?range=${range}`);
    if (history.source === "live") {
      slot.replaceChildren(el("p", { class: "muted", text: "Live value only: no TSDB is connected." }));
      return;
    }
    const end = Date.now() / 1000;
    const width = Math.max(280, Math.round(slot.clientWidth || 600));
    if (card.dataset.range !== range) return; // another range was picked meanwhile
    slot.replaceChildren(lineChart(history.points, { title: metric.name, start: end - SECONDS[range], end, width }));
    slot.dataset.range = range;
  } catch (error) {
    const message = error instanceof ApiError ? `${error.message}${error.hint ? `. ${error.hint}` : ""}` : String(error);
    slot.replaceChildren(el("p", { class: "error", text: `Chart unavailable: ${message}` }));
  }
}

function metricCard(metric) {
  const card = el("article", { class: "card metric", "data-metric": metric.metric_name, "aria-label": metric.name },
    el("header", { class: "metric-head" },
      el("div", {}, el("h2", { text: metric.name }),
        el("p", { class: "muted" }, el("code", { text: metric.metric_name }), ` · ${metric.metric_type} · ${metric.status} · ${metric.series} series`)),
      el("div", { class: "value" }, el("span", { class: "stat-label", text: "current" }), el("strong", { class: "current", text: formatNumber(metric.current) }))),
    el("div", { class: "ranges", role: "group", "aria-label": `Time range for ${metric.name}` },
      RANGES.map(([range, label]) => el("button", {
        type: "button", "data-range": range, "aria-pressed": String(range === "1h"), text: label,
        onclick: () => drawChart(card, metric, range),
      }))),
    el("div", { class: "chart-slot" }));
  drawChart(card, metric, "1h");
  return card;
}

export async function dashboardView(view) {
  clearInterval(timer);
  const overview = await api("GET", "/api/v1/web/overview");
  if (!overview.metrics.length || !overview.keys.length) {
    view.append(el("section", { class: "card banner" },
      el("h2", { text: "Welcome! Let's set up tracking" }),
      el("p", { text: "Three steps: define a metric, create an API key, paste the snippet." }),
      el("a", { class: "button primary", href: "#/start", text: "Start setup" })));
  }
  const ing = overview.ingestion;
  view.append(el("section", { class: "card" },
    el("div", { class: "title-row" }, el("h1", { text: "Dashboard" }),
      el("button", { type: "button", id: "refresh", text: "Refresh", onclick: () => { view.replaceChildren(); dashboardView(view); } })),
    el("div", { class: "stats" },
      stat("Accepted samples", formatNumber(ing.accepted), "stat-accepted"),
      stat("Rejected samples", formatNumber(ing.rejected), "stat-rejected"),
      stat("Last seen", formatTime(ing.last_seen), "stat-last-seen"),
      stat("Series", formatNumber(overview.series_total), "stat-series")),
    el("p", { class: "muted small", text: ing.note }),
    overview.hint ? el("p", { class: "hint", id: "tsdb-hint", text: overview.hint }) : null));
  const grid = el("div", { class: "grid" }, overview.metrics.map(metricCard));
  view.append(grid);
  view.append(el("section", { class: "card" }, el("h2", { text: "Grafana" }),
    el("p", { class: "muted", text: "A datasource and a dashboard with your metrics, scoped to your account." }),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "grafana-datasource", text: "Download datasource", onclick: async () => download("promkit-datasource.json", (await api("GET", "/api/v1/web/grafana")).datasource) }),
      el("button", { type: "button", id: "grafana-dashboard", text: "Download dashboard", onclick: async () => download("promkit-dashboard.json", (await api("GET", "/api/v1/web/grafana")).dashboard) }))));
  const redraw = () => {
    if (!document.body.contains(grid)) { clearInterval(timer); window.removeEventListener("resize", onResize); return; }
    for (const card of grid.querySelectorAll(".metric")) {
      const metric = overview.metrics.find((m) => m.metric_name === card.dataset.metric);
      drawChart(card, metric, card.dataset.range || "1h");
    }
  };
  let resizeTimer = 0;
  const onResize = () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(redraw, 200); };
  window.removeEventListener("resize", currentResize);
  currentResize = onResize;
  window.addEventListener("resize", onResize);
  timer = setInterval(redraw, 15000);
}
