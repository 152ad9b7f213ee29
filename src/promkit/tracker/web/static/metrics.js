// Metric definitions: list, create, edit, pause/resume, delete, with inline validation.
import { api, ApiError } from "./api.js";
import { showServerError } from "./auth.js";
import { announce, clearErrors, el, field, setError } from "./dom.js";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ["counter", "gauge", "histogram", "summary"];

function derive(title) {
  let name = title.trim().toLowerCase().replace(/[^a-z0-9_]/g, "_").replace(/_+/g, "_").replace(/^_|_$/g, "");
  if (!name || /^[0-9]/.test(name)) name = `metric_${name}`.replace(/_$/, "");
  return name;
}

function parseList(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

// Client-side checks mirror the server's; the server's answer is shown the same way.
function validate(form) {
  clearErrors(form);
  const f = form.elements;
  const values = {
    name: f.namedItem("name").value.trim(),
    metric_type: f.metric_type.value,
    help_text: f.help_text.value.trim() || null,
    status: f.status.value,
  };
  const metricName = f.metric_name.value.trim() || derive(values.name);
  const labels = parseList(f.labels.value);
  const bucketsText = f.buckets.value.trim();
  let ok = true;
  const fail = (name, message) => { setError(form, name, message); ok = false; };
  if (!values.name) fail("name", "Give the metric a name.");
  if (!METRIC_NAME.test(metricName)) fail("metric_name", "Use letters, digits, _ and :, not starting with a digit.");
  else if (/_(total|count|sum|bucket)$/.test(metricName)) fail("metric_name", "Names ending in _total, _count, _sum or _bucket are reserved.");
  const badLabel = labels.find((l) => !LABEL_NAME.test(l) || l.startsWith("__") || ["user_id", "le", "quantile"].includes(l));
  if (badLabel) fail("labels", `"${badLabel}" is not a valid label name (letters, digits, _; not __…, user_id, le or quantile).`);
  else if (new Set(labels).size !== labels.length) fail("labels", "Label names must be unique.");
  else if (labels.length > 10) fail("labels", "At most 10 labels.");
  let buckets = null;
  if (bucketsText) {
    if (values.metric_type !== "histogram") fail("buckets", "Buckets are only for histograms.");
    buckets = parseList(bucketsText).map(Number);
    if (buckets.some((b) => !Number.isFinite(b))) fail("buckets", "Buckets are numbers separated by commas.");
    else if (buckets.some((b, i) => i && b <= buckets[i - 1])) fail("buckets", "Buckets must be strictly increasing.");
  }
  if (!ok) { form.querySelector("[aria-invalid]").focus(); return null; }
  return { ...values, metric_name: metricName, labels: labels.map((name) => ({ name })), ...(buckets ? { buckets } : {}) };
}

export function metricForm(existing, onSaved) {
  const select = (name, options, value) => el("select", { name },
    options.map((o) => el("option", { value: o, selected: o === value, text: o })));
  const form = el("form", { class: "metric-form", novalidate: true },
    field("m-name", "Name", el("input", { name: "name", required: true, maxlength: 255, value: existing?.name ?? "" }), "Shown on the dashboard, e.g. Page Views."),
    field("m-metric-name", "Metric name", el("input", { name: "metric_name", maxlength: 150, value: existing?.metric_name ?? "", spellcheck: "false" }), "Prometheus name; derived from the name when empty."),
    field("m-type", "Type", select("metric_type", TYPES, existing?.metric_type ?? "counter")),
    field("m-labels", "Labels", el("input", { name: "labels", value: (existing?.labels ?? []).map((l) => l.name).join(", "), spellcheck: "false" }), "Comma-separated label names, e.g. page, plan."),
    field("m-buckets", "Histogram buckets", el("input", { name: "buckets", value: (existing?.buckets ?? []).join(", ") }), "Comma-separated upper bounds; defaults apply when empty."),
    field("m-help", "Help text", el("input", { name: "help_text", maxlength: 1000, value: existing?.help_text ?? "" })),
    field("m-status", "Status", select("status", ["active", "paused"], existing?.status ?? "active")),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", class: "primary", text: existing ? "Save changes" : "Create metric" }));
  const nameInput = form.elements.namedItem("name");
  nameInput.addEventListener("input", () => {
    form.elements.metric_name.placeholder = derive(nameInput.value);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = validate(form);
    if (!body) return;
    if (body.metric_type !== "histogram") delete body.buckets;
    try {
      const saved = existing
        ? await api("PATCH", `/api/v1/metric-configs/${existing.id}`, body)
        : await api("POST", "/api/v1/metric-configs", body);
      announce(existing ? `Saved ${saved.metric_name}` : `Created ${saved.metric_name}`);
      onSaved(saved);
    } catch (error) {
      if (error instanceof ApiError) showServerError(form, error); else throw error;
    }
  });
  return form;
}

function confirmButton(label, action) {
  const button = el("button", { type: "button", class: "danger", text: label });
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Confirm: ${label.toLowerCase()}`;
      setTimeout(() => { armed = false; button.textContent = label; }, 4000);
      return;
    }
    await action();
  });
  return button;
}

function metricItem(config, refresh) {
  const paused = config.status !== "active";
  return el("li", { class: "item", "data-metric": config.metric_name },
    el("div", { class: "item-main" },
      el("h3", { text: config.name }),
      el("p", { class: "muted" },
        el("code", { text: config.metric_name }), ` · ${config.metric_type} · `,
        el("span", { class: paused ? "badge off" : "badge on", text: config.status }),
        config.labels.length ? ` · labels: ${config.labels.map((l) => l.name).join(", ")}` : "")),
    el("div", { class: "actions" },
      el("a", { class: "button", href: `#/metrics/${config.id}`, text: "Edit", "aria-label": `Edit ${config.name}` }),
      el("button", {
        type: "button", text: paused ? "Resume" : "Pause",
        onclick: async () => {
          await api("PATCH", `/api/v1/metric-configs/${config.id}`, { status: paused ? "active" : "paused" });
          announce(`${config.metric_name} ${paused ? "resumed" : "paused"}`);
          refresh();
        },
      }),
      confirmButton("Delete", async () => {
        await api("DELETE", `/api/v1/metric-configs/${config.id}`);
        announce(`Deleted ${config.metric_name}`);
        refresh();
      })));
}

export async function metricsView(view, id) {
  const configs = await api("GET", "/api/v1/metric-configs");
  if (id) {
    const existing = configs.find((c) => String(c.id) === id);
    view.append(el("section", { class: "card" },
      el("h1", { text: existing ? `Edit ${existing.name}` : "Metric not found" }),
      existing ? metricForm(existing, () => { location.hash = "#/metrics"; }) : el("a", { href: "#/metrics", text: "Back to metrics" })));
    return;
  }
  const refresh = () => { view.replaceChildren(); metricsView(view); };
  const list = el("ul", { class: "items", "aria-label": "Metric definitions" }, configs.map((c) => metricItem(c, refresh)));
  view.append(
    el("section", { class: "card" }, el("h1", { text: "Metrics" }),
      configs.length ? list : el("p", { class: "muted", text: "No metrics yet: define your first one below." })),
    el("section", { class: "card" }, el("h2", { text: "New metric" }), metricForm(null, refresh)));
}
