// Code generation: options, the snippet and its wrappers with copy buttons, and a
// "send a test event" check that goes through real ingestion and reads the value back.
import { api, ApiError, freshKeys, ingest } from "./api.js";
import { announce, copyButton, el, field, formatNumber } from "./dom.js";

const NEW_KEY = "new";
const PASTE = "paste";

function codeBlock(title, text, id) {
  return el("div", { class: "code" },
    el("div", { class: "code-head" }, el("h3", { text: title }), copyButton(() => text, `Copy ${title}`)),
    el("pre", { id, tabindex: "0" }, el("code", { text })));
}

async function currentValue(metricName) {
  const overview = await api("GET", "/api/v1/web/overview");
  const metric = overview.metrics.find((m) => m.metric_name === metricName);
  return metric ? metric.current : null;
}

function testEventPanel(rawKey, configs) {
  const active = configs.filter((c) => c.status === "active");
  const result = el("p", { class: "result", id: "test-result", role: "status" });
  if (!active.length) {
    return el("section", { class: "card" }, el("h2", { text: "Send a test event" }),
      el("p", { class: "muted", text: "Create an active metric first: only defined, active metrics are accepted." }));
  }
  const select = el("select", { name: "metric" }, active.map((c) => el("option", { value: c.metric_name, text: `${c.name} (${c.metric_type})` })));
  const send = el("button", { type: "button", class: "primary", id: "send-test", text: "Send test event" });
  send.addEventListener("click", async () => {
    const config = active.find((c) => c.metric_name === select.value);
    send.disabled = true;
    result.textContent = "Sending…";
    try {
      const before = await currentValue(config.metric_name);
      const value = config.metric_type === "gauge" ? Math.round(Math.random() * 100) : 1;
      const answer = await ingest(rawKey, [{ name: config.metric_name, value, labels: {} }]);
      if (!answer.data.processed) throw new Error(answer.data.errors.map((e) => e.error).join("; "));
      let after = before;
      for (let attempt = 0; attempt < 20 && after === before; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        after = await currentValue(config.metric_name);
      }
      if (after === before && config.metric_type !== "gauge") throw new Error("the value did not change yet; try again in a moment");
      result.textContent = `Round trip OK: ${config.metric_name} is now ${formatNumber(after)} (was ${formatNumber(before)}).`;
      result.dataset.kind = "ok";
    } catch (error) {
      const message = error instanceof ApiError ? `${error.message}${error.hint ? `. ${error.hint}` : ""}` : error.message;
      result.textContent = `Test event failed: ${message}`;
      result.dataset.kind = "error";
    } finally {
      send.disabled = false;
    }
  });
  return el("section", { class: "card" }, el("h2", { text: "Send a test event" }),
    el("p", { class: "muted", text: "Sends one sample with this key through ingestion, then reads the value back." }),
    field("t-metric", "Metric", select), send, result);
}

function renderGenerated(out, generated, rawKey, configs) {
  out.replaceChildren(
    el("section", { class: "card" }, el("h2", { text: "Your snippet" }),
      el("p", { class: "muted", text: `${generated.bytes} bytes. ${generated.note}` }),
      generated.api_key ? el("p", { class: "warn" }, "New key created for this snippet: ", el("code", { class: "secret", text: generated.api_key }), copyButton(() => generated.api_key, "Copy key")) : null,
      codeBlock("HTML", generated.html, "snippet-html"),
      codeBlock("React", generated.react, "snippet-react"),
      codeBlock("Vue", generated.vue, "snippet-vue"),
      el("p", { class: "muted" }, "Custom events: ", el("code", { text: "metricsTracker.track('name', 1, {label: 'x'})" }),
        " or ", el("code", { text: '<button data-track="name">' }))),
    testEventPanel(rawKey, configs));
}

export async function codePanel(view, preferredKeyId = null) {
  const configs = await api("GET", "/api/v1/metric-configs");
  const options = [...freshKeys.entries()].map(([id, raw]) => el("option", { value: String(id), selected: id === preferredKeyId, text: `${raw.slice(0, 11)}… (created just now)` }));
  const keySelect = el("select", { name: "key" }, options,
    el("option", { value: PASTE, text: "Paste an existing key" }),
    el("option", { value: NEW_KEY, selected: !options.length, text: "Create a new key for this snippet" }));
  const paste = field("c-paste", "Existing key", el("input", { name: "pasted", spellcheck: "false", autocomplete: "off", placeholder: "mk_…" }), "Keys are stored hashed, so paste the one you saved.");
  paste.hidden = keySelect.value !== PASTE;
  keySelect.addEventListener("change", () => { paste.hidden = keySelect.value !== PASTE; });
  const form = el("form", { novalidate: true, id: "codegen" },
    field("c-key", "API key", keySelect), paste,
    el("div", { class: "checks" },
      el("label", {}, el("input", { type: "checkbox", name: "auto_track", checked: true }), " Track page views, load time, vitals and errors automatically"),
      el("label", {}, el("input", { type: "checkbox", name: "custom_events", checked: true }), " Enable data-track attributes and custom events")),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", class: "primary", text: "Generate snippet" }));
  const out = el("div", { id: "generated" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorBox = form.querySelector(".form-error");
    errorBox.hidden = true;
    let rawKey = null;
    if (keySelect.value === PASTE) rawKey = form.elements.pasted.value.trim();
    else if (keySelect.value !== NEW_KEY) rawKey = freshKeys.get(Number(keySelect.value));
    try {
      const generated = await api("POST", "/api/v1/code-generation", {
        ...(rawKey ? { api_key: rawKey } : {}),
        auto_track: form.elements.auto_track.checked,
        custom_events: form.elements.custom_events.checked,
      });
      if (generated.api_key) freshKeys.set(generated.apiKeyId, generated.api_key);
      renderGenerated(out, generated, rawKey || generated.api_key, configs);
      announce("Snippet generated");
      out.querySelector("h2").setAttribute("tabindex", "-1");
      out.querySelector("h2").focus();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      errorBox.textContent = `${error.message}${error.hint ? `. ${error.hint}` : ""}`;
      errorBox.hidden = false;
    }
  });
  view.append(el("section", { class: "card" }, el("h1", { text: "Snippet" }), form), out);
  return form;
}
