// The support-bundle wizard: mode → time range → connection → (query) → (selection) →
// obfuscation + preview → export → done. Each step checks its input before moving on, and
// every server error is shown with what to do next. Server data is only ever written with
// textContent, never parsed as markup.

import { api, ApiError } from "./api.js";
import { setupConnection } from "./connection.js";
import { $, clear, el, hideError, showError } from "./dom.js";
import { ExportJob } from "./exportjob.js";
import { Preview } from "./preview.js";
import { Selection } from "./selection.js";
import { TimeRange } from "./timerange.js";

const state = {
  connection: null,
  queryChecked: null, // the query text that passed "Check"
  current: "step-mode",
};

const time = new TimeRange();
const selection = new Selection();
let preview = null;
let job = null;

function mode() {
  return document.querySelector("input[name=mode]:checked").value;
}

function queryType() {
  return document.querySelector("input[name=query-type]:checked").value;
}

// The steps of the current mode, in order.
function steps() {
  const list = ["step-mode", "step-time", "step-connection"];
  if (mode() === "custom") list.push("step-query");
  if (mode() === "cluster" || queryType() === "selector") list.push("step-select");
  list.push("step-obfuscation", "step-export", "step-done");
  return list;
}

function renderStepper() {
  const list = steps();
  const index = list.indexOf(state.current);
  const ol = $("step-list");
  clear(ol);
  list.forEach((id, i) => {
    const item = el("li", { text: $(id).dataset.title });
    if (i < index) item.className = "done";
    if (i === index) item.setAttribute("aria-current", "step");
    ol.append(item);
  });
  $("step-label").textContent = `Step ${index + 1} of ${list.length}: ${$(state.current).dataset.title}`;
}

function show(id) {
  for (const section of document.querySelectorAll("section.step")) section.hidden = section.id !== id;
  state.current = id;
  renderStepper();
  const heading = $(id).querySelector("h2");
  heading.focus();
  window.scrollTo({ top: 0 });
  onEnter(id);
}

function go(delta) {
  const list = steps();
  const next = list[list.indexOf(state.current) + delta];
  if (next) show(next);
}

function buildRequest() {
  const range = time.frozen;
  const request = {
    connection: state.connection,
    time_range: { start: range.start, end: range.end },
    mode: mode() === "cluster" ? "cluster" : queryType(),
    obfuscation: preview ? preview.settings() : { enabled: true },
  };
  const text = $("query-text").value.trim();
  const batchWindow = $("batch-window").value;
  if (batchWindow === "off") request.batching = { enabled: false };
  else if (batchWindow) request.batching = { window: batchWindow };
  if (request.mode === "cluster") request.jobs = selection.selected();
  if (request.mode === "selector") {
    request.selector = text;
    request.jobs = selection.selected();
  }
  if (request.mode === "query") {
    request.query = text;
    const step = $("query-step").value;
    if (step) request.step = step;
  }
  return request;
}

function discoverBody() {
  const body = {
    connection: state.connection,
    time_range: { ...time.frozen },
    mode: mode() === "cluster" ? "cluster" : "selector",
  };
  if (body.mode === "selector") body.selector = $("query-text").value.trim();
  return body;
}

function onEnter(id) {
  if (id === "step-select") {
    const body = discoverBody();
    selection.load(body, JSON.stringify(body));
  } else if (id === "step-obfuscation") {
    hideError($("start-error"));
    preview.refresh();
  }
}

// Checks before leaving a step forward; false keeps the user where they are.
const leave = {
  "step-time": () => {
    const frozen = time.freeze();
    if (frozen.error) {
      showError($("time-error"), { message: frozen.error, hint: "Pick a preset or fix the dates." });
      return false;
    }
    hideError($("time-error"));
    return true;
  },
  "step-connection": () => state.connection !== null,
  "step-query": () => state.queryChecked === $("query-text").value.trim(),
  "step-select": () => selection.check(),
};

function next() {
  const check = leave[state.current];
  if (check && !check()) return;
  go(1);
}

async function checkQuery() {
  const text = $("query-text").value.trim();
  const box = $("query-result");
  const nextButton = $("step-query").querySelector(".next");
  state.queryChecked = null;
  nextButton.disabled = true;
  clear(box);
  box.classList.remove("ok", "failed");
  if (!text) {
    showError(box, { message: "Enter a selector or a query.", hint: 'For example up{job="node"}.' });
    box.classList.add("failed");
    $("query-text").focus();
    return;
  }
  $("query-busy").textContent = "Checking…";
  try {
    const result = await api("/api/validate-query", {
      method: "POST",
      body: { connection: state.connection, query: text, time_range: { ...time.frozen } },
    });
    if (queryType() === "selector" && result.query_type !== "selector") {
      throw new ApiError("This is a query, not a plain series selector.", {
        hint: "Choose “MetricsQL / PromQL query” above, or reduce it to a selector like metric{label=\"x\"}.",
      });
    }
    box.classList.add("ok");
    box.append(el("p", {
      text: `Matches ${result.series_count} series at the end of the range.` }));
    if (result.sample_labels.length) {
      box.append(el("p", { className: "muted", text: `Labels: ${result.sample_labels.join(", ")}` }));
    }
    box.hidden = false;
    if (result.series_count === 0) {
      box.append(el("p", { className: "hint",
        text: "Nothing matches at the end of the range: check the spelling or widen the time range." }));
    }
    state.queryChecked = text;
    nextButton.disabled = false;
  } catch (err) {
    box.classList.add("failed");
    showError(box, err);
  } finally {
    $("query-busy").textContent = "";
  }
}

async function startExport() {
  const button = $("export-start");
  button.disabled = true;
  hideError($("start-error"));
  try {
    show("step-export");
    await job.start(buildRequest());
  } catch (err) {
    show("step-obfuscation");
    showError($("start-error"), err);
  } finally {
    button.disabled = false;
  }
}

function wire() {
  for (const button of document.querySelectorAll("section.step .next")) {
    button.addEventListener("click", next);
  }
  for (const button of document.querySelectorAll("section.step .back")) {
    button.addEventListener("click", () => go(-1));
  }
  for (const radio of document.querySelectorAll("input[name=mode], input[name=query-type]")) {
    radio.addEventListener("change", () => {
      $("step-field").hidden = queryType() !== "query";
      state.queryChecked = null;
      $("step-query").querySelector(".next").disabled = true;
      renderStepper();
    });
  }
  $("query-text").addEventListener("input", () => {
    $("step-query").querySelector(".next").disabled =
      state.queryChecked !== $("query-text").value.trim();
  });
  $("query-check").addEventListener("click", checkQuery);
  $("select-refresh").addEventListener("click", () => {
    const body = discoverBody();
    selection.load(body, JSON.stringify(body), true);
  });
  $("export-start").addEventListener("click", startExport);
  $("restart").addEventListener("click", () => {
    job.stop();
    show("step-mode");
  });
  setupConnection((connection) => {
    state.connection = connection;
    const nextButton = $("step-connection").querySelector(".next");
    nextButton.disabled = connection === null;
    $("conn-next-help").hidden = connection !== null;
    if (connection === null) selection.loadedKey = null;
  });
  preview = new Preview(buildRequest);
  job = new ExportJob({
    onDone: () => {
      $("done-warning").hidden = preview.settings().enabled;
      show("step-done");
    },
    onBack: () => show("step-obfuscation"),
  });
}

async function showVersion() {
  try {
    const health = await api("/api/health");
    $("version").textContent = `v${health.version}`;
  } catch {
    // the version is decoration; a failure here surfaces on the first real call
  }
}

wire();
renderStepper();
showVersion();
