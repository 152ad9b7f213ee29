// The import wizard: bundle (drop, choose or pick) → target (the gather wizard's connection
// card, moved here while this wizard is shown) → preflight summary → time alignment →
// import (progress, ETA, cancel, resume) → result with verification. The header switches
// between the two wizards. Server data is only ever written with textContent.

import { api, ApiError, sessionHeaders } from "./api.js";
import { $, addFact, clear, el, formatBytes, formatNumber, hideError, showError } from "./dom.js";
import { duration, ImportJob, stamp } from "./importjob.js";

const STEPS = ["imp-bundle", "imp-connection", "imp-preflight", "imp-align", "imp-run", "imp-done"];

const state = {
  current: "imp-bundle",
  bundle: null, // {bundle_id, name, ...}
  connection: null,
  report: null, // the last preflight with shift "none"
  estimateSeq: 0,
};

let job = null;

// ------------------------------------------------------------------ switching wizards

function moveConnectionCard(target) {
  const form = $("connection-form");
  const result = $("result");
  if (target === "import") {
    $("imp-conn-slot").append(form, result);
  } else {
    const nav = $("step-connection").querySelector(".actions.nav");
    nav.before(form, result);
  }
}

function switchTo(wizard) {
  const importing = wizard === "import";
  $("main").hidden = importing;
  $("gather-stepper").hidden = importing;
  $("import-main").hidden = !importing;
  $("imp-stepper").hidden = !importing;
  $("nav-gather").toggleAttribute("aria-current", !importing);
  $("nav-import").toggleAttribute("aria-current", importing);
  if (importing) $("nav-import").setAttribute("aria-current", "page");
  else $("nav-gather").setAttribute("aria-current", "page");
  document.title = importing ? "promkit console: import a bundle" : "promkit console: support bundle";
  moveConnectionCard(wizard);
  if (importing) {
    show(state.current);
  } else {
    const visible = document.querySelector("#main section.step:not([hidden]) h2");
    if (visible) visible.focus();
  }
}

// ------------------------------------------------------------------ steps

function renderStepper() {
  const index = STEPS.indexOf(state.current);
  const ol = $("imp-step-list");
  clear(ol);
  STEPS.forEach((id, i) => {
    const item = el("li", { text: $(id).dataset.title });
    if (i < index) item.className = "done";
    if (i === index) item.setAttribute("aria-current", "step");
    ol.append(item);
  });
  $("imp-step-label").textContent =
    `Import step ${index + 1} of ${STEPS.length}: ${$(state.current).dataset.title}`;
}

function show(id) {
  for (const section of document.querySelectorAll("section.istep")) section.hidden = section.id !== id;
  state.current = id;
  renderStepper();
  $(id).querySelector("h2").focus();
  window.scrollTo({ top: 0 });
  if (id === "imp-bundle") loadBundles();
  if (id === "imp-preflight") runPreflight();
  if (id === "imp-align") hideError($("imp-start-error"));
}

function go(delta) {
  const next = STEPS[STEPS.indexOf(state.current) + delta];
  if (next) show(next);
}

// ------------------------------------------------------------------ step 1: bundle

function chooseBundle(ref) {
  state.bundle = ref;
  state.report = null;
  const ready = ref !== null;
  $("imp-bundle").querySelector(".next").disabled = !ready;
  $("imp-bundle-help").hidden = ready;
  for (const radio of document.querySelectorAll("input[name=imp-bundle-pick]")) {
    radio.checked = ready && radio.value === ref.bundle_id;
  }
}

function renderBundles(list) {
  const box = $("imp-bundle-list");
  clear(box);
  $("imp-output-dir").textContent = `Bundles written to ${list.output_dir} and files uploaded here.`;
  if (!list.bundles.length) {
    box.append(el("p", { className: "muted", text: "None yet: upload a file above." }));
    return;
  }
  list.bundles.forEach((ref, i) => {
    const id = `imp-pick-${i}`;
    const radio = el("input", { type: "radio", id, name: "imp-bundle-pick", value: ref.bundle_id });
    radio.checked = state.bundle?.bundle_id === ref.bundle_id;
    radio.addEventListener("change", () => chooseBundle(ref));
    const where = ref.source === "upload" ? "uploaded" : "output folder";
    const when = new Date(ref.modified * 1000).toLocaleString();
    const row = el("div", { className: "choice" }, radio,
      el("label", { for: id },
        el("span", { className: "job-name", text: ref.name }),
        el("span", { className: "muted", text: ` ${formatBytes(ref.size_bytes)}, ${where}, ${when}` })));
    if (ref.source === "upload") {
      const remove = el("button", { type: "button", className: "remove", text: "Remove",
        "aria-label": `Remove the uploaded ${ref.name}` });
      remove.addEventListener("click", () => discard(ref));
      row.append(remove);
    }
    box.append(row);
  });
}

async function discard(ref) {
  hideError($("imp-upload-error"));
  try {
    const list = await api("/api/import/discard", { method: "POST", body: { bundle_id: ref.bundle_id } });
    if (state.bundle?.bundle_id === ref.bundle_id) chooseBundle(null);
    renderBundles(list);
    $("imp-upload-status").textContent = `Removed ${ref.name} from the staging folder.`;
  } catch (err) {
    showError($("imp-upload-error"), err);
  }
}

async function loadBundles() {
  try {
    renderBundles(await api("/api/import/bundles"));
  } catch (err) {
    showError($("imp-upload-error"), err);
  }
}

// XMLHttpRequest, not fetch: it reports upload progress. The file streams from disk.
function sendFile(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/import/upload?name=${encodeURIComponent(file.name)}`);
    for (const [key, value] of Object.entries(sessionHeaders())) xhr.setRequestHeader(key, value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "json";
    const bar = $("imp-upload-progress");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = event.loaded / event.total;
    });
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else {
        reject(new ApiError(data?.error || `The upload failed: HTTP ${xhr.status}.`,
          { status: xhr.status, hint: data?.hint ?? null }));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError("The promkit console is not answering.",
      { hint: "Check that `promkit ui` is still running, then try again." })));
    xhr.send(file);
  });
}

async function upload(file) {
  if (!file) return;
  const status = $("imp-upload-status");
  const bar = $("imp-upload-progress");
  hideError($("imp-upload-error"));
  chooseBundle(null);
  bar.value = 0;
  bar.hidden = false;
  status.textContent = `Uploading ${file.name} (${formatBytes(file.size)})…`;
  try {
    const ref = await sendFile(file);
    status.textContent = `Uploaded ${ref.name}: ${ref.kind ?? "bundle"}, ${formatBytes(ref.size_bytes)}` +
      (ref.checksum ? ", with a checksum." : ".");
    await loadBundles();
    chooseBundle(ref);
  } catch (err) {
    status.textContent = "";
    showError($("imp-upload-error"), err);
  } finally {
    bar.hidden = true;
    $("imp-file").value = "";
  }
}

function wireDrop() {
  const zone = $("imp-drop");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    upload(event.dataTransfer?.files?.[0]);
  });
  $("imp-file").addEventListener("change", () => upload($("imp-file").files[0]));
  $("imp-refresh").addEventListener("click", loadBundles);
}

// ------------------------------------------------------------------ steps 3 and 4: checks

function splitList(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function shiftChoice() {
  const mode = document.querySelector("input[name=imp-shift]:checked").value;
  if (mode === "align") {
    const value = $("imp-align-time").value;
    if (!value) throw new ApiError("Choose the time for the first sample.", { hint: "Fill in the date and time." });
    return `align=${new Date(value).toISOString().replace(".000Z", "Z")}`;
  }
  if (mode === "explicit") {
    const amount = $("imp-shift-amount").value.trim();
    if (!amount) throw new ApiError("Enter how far to shift.", { hint: "For example +2h or -30m." });
    return amount;
  }
  return mode;
}

function options(shift) {
  const body = {
    bundle_id: state.bundle.bundle_id,
    connection: state.connection,
    shift,
    add_labels: splitList($("imp-add-labels").value),
    drop_labels: splitList($("imp-drop-labels").value),
  };
  const retention = $("imp-retention").value.trim();
  if (retention) body.retention = retention;
  return body;
}

function plural(n, word) {
  return `${formatNumber(n)} ${word}${n === 1 ? "" : "s"}`;
}

function renderReport(r) {
  const facts = $("imp-pre-facts");
  clear(facts);
  const bundle = r.bundle ?? {};
  addFact(facts, "Bundle", `${state.bundle.name} (${bundle.kind ?? "unknown"})`);
  addFact(facts, "Checksum", r.bundle.checksum_verified ? "verified" : "none in the bundle");
  addFact(facts, "Series", `${formatNumber(r.series)}${r.series_exact ? "" : " or more"}`);
  addFact(facts, "Samples", formatNumber(r.samples));
  if (r.first_ms !== null && r.last_ms !== null) {
    addFact(facts, "Time range", `${stamp(r.first_ms)} → ${stamp(r.last_ms)} (${duration(r.last_ms - r.first_ms)})`);
  }
  addFact(facts, "Label names", `${formatNumber(r.label_names)}, at most ${r.max_labels_seen} on one series`);
  const limit = r.target.max_labels;
  addFact(facts, "Target label limit", limit
    ? `${limit} per series${r.series_over_label_limit ? `: ${plural(r.series_over_label_limit, "series")} over it` : ", all series fit"}`
    : "unknown (the target does not publish it)");
  addFact(facts, "Target retention", r.target.retention_ms !== null
    ? `${duration(r.target.retention_ms)} (${r.target.retention_source === "override" ? "your setting" : "the server's setting"})`
    : "unknown (samples older than it are dropped by the server without being counted)");
  if (r.samples_outside_retention) {
    addFact(facts, "Outside retention", `${plural(r.samples_outside_retention, "sample")} without a time shift`);
  }
  if (r.skipped_points || r.nan_points) {
    addFact(facts, "Odd values", `${plural(r.skipped_points, "unusable point")}, ${plural(r.nan_points, "NaN")}`);
  }
  if (r.bad_lines) addFact(facts, "Lines that are not series", formatNumber(r.bad_lines));
  const list = $("imp-pre-warning-list");
  clear(list);
  for (const warning of r.warnings) list.append(el("li", { text: warning }));
  $("imp-pre-warnings").hidden = r.warnings.length === 0;
  const body = $("imp-label-body");
  clear(body);
  for (const stat of r.label_stats.slice(0, 15)) {
    body.append(el("tr", {}, el("td", { className: "labels", text: stat.name }),
      el("td", { text: formatNumber(stat.series) })));
  }
  $("imp-label-table").hidden = r.label_stats.length === 0;
}

async function runPreflight() {
  const next = $("imp-preflight").querySelector(".next");
  next.disabled = true;
  hideError($("imp-pre-error"));
  clear($("imp-pre-facts"));
  $("imp-pre-warnings").hidden = true;
  $("imp-label-table").hidden = true;
  $("imp-pre-status").textContent = "Reading the whole bundle…";
  try {
    const report = await api("/api/import/preflight", { method: "POST", body: options("none") });
    state.report = report;
    renderReport(report);
    $("imp-pre-status").textContent = "Nothing has been sent yet.";
    next.disabled = false;
  } catch (err) {
    $("imp-pre-status").textContent = "";
    showError($("imp-pre-error"), err);
  }
}

function describeEstimate(r) {
  const box = $("imp-estimate-result");
  clear(box);
  box.classList.remove("ok", "failed");
  const lines = [`Shift: ${duration(r.shift_ms)}.`];
  if (r.shifted_first_ms !== null && r.shifted_last_ms !== null) {
    lines.push(`The samples will span ${stamp(r.shifted_first_ms)} → ${stamp(r.shifted_last_ms)}.`);
  }
  if (r.target.retention_ms === null) {
    lines.push("The target's retention is unknown: enter it under More options to see what it drops.");
  } else if (r.samples_outside_retention) {
    lines.push(`${plural(r.samples_outside_retention, "sample")} of ${formatNumber(r.samples)} fall outside ` +
      `the target's retention (${duration(r.target.retention_ms)}) and will be dropped.`);
  } else {
    lines.push(`No sample falls outside the target's retention (${duration(r.target.retention_ms)}).`);
  }
  if (r.samples_in_future) {
    lines.push(`${plural(r.samples_in_future, "sample")} would land more than two days in the future; ` +
      "VictoriaMetrics refuses those.");
  }
  if (r.suggested_shift && r.shift_mode === "none") lines.push(`Suggestion: ${r.suggested_shift}.`);
  const bad = r.samples_outside_retention || r.samples_in_future;
  box.classList.add(bad ? "failed" : "ok");
  for (const text of lines) box.append(el("p", { text }));
  box.hidden = false;
}

async function estimate() {
  const seq = ++state.estimateSeq;
  const box = $("imp-estimate-result");
  let shift;
  try {
    shift = shiftChoice();
  } catch (err) {
    box.classList.remove("ok");
    box.classList.add("failed");
    showError(box, err);
    return;
  }
  $("imp-estimate-busy").textContent = "Checking…";
  try {
    const report = await api("/api/import/preflight", { method: "POST", body: options(shift) });
    if (seq === state.estimateSeq) describeEstimate(report);
  } catch (err) {
    if (seq === state.estimateSeq) {
      box.classList.remove("ok");
      box.classList.add("failed");
      showError(box, err);
    }
  } finally {
    if (seq === state.estimateSeq) $("imp-estimate-busy").textContent = "";
  }
}

function wireAlignment() {
  for (const radio of document.querySelectorAll("input[name=imp-shift]")) {
    radio.addEventListener("change", () => {
      const mode = document.querySelector("input[name=imp-shift]:checked").value;
      $("imp-align-field").hidden = mode !== "align";
      $("imp-explicit-field").hidden = mode !== "explicit";
      $("imp-estimate-result").hidden = true;
      if (mode === "none" || mode === "now") estimate();
    });
  }
  $("imp-estimate").addEventListener("click", estimate);
}

// ------------------------------------------------------------------ step 5: start

async function startImport() {
  const button = $("imp-start");
  hideError($("imp-start-error"));
  let body;
  try {
    body = { ...options(shiftChoice()), chunk_kib: Number($("imp-chunk").value) };
  } catch (err) {
    showError($("imp-start-error"), err);
    return;
  }
  button.disabled = true;
  try {
    show("imp-run");
    await job.start(body);
  } catch (err) {
    show("imp-align");
    showError($("imp-start-error"), err);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ wiring

function wire() {
  for (const button of document.querySelectorAll("section.istep .next")) {
    button.addEventListener("click", () => go(1));
  }
  for (const button of document.querySelectorAll("section.istep .back")) {
    button.addEventListener("click", () => go(-1));
  }
  $("nav-gather").addEventListener("click", () => switchTo("gather"));
  $("nav-import").addEventListener("click", () => switchTo("import"));
  $("connection-form").addEventListener("promkit:connection", (event) => {
    state.connection = event.detail.connection;
    const ok = state.connection !== null;
    $("imp-connection").querySelector(".next").disabled = !ok;
    $("imp-conn-help").hidden = ok;
  });
  wireDrop();
  wireAlignment();
  $("imp-start").addEventListener("click", startImport);
  $("imp-restart").addEventListener("click", () => {
    job.stop();
    chooseBundle(null);
    show("imp-bundle");
  });
  job = new ImportJob({
    onDone: () => show("imp-done"),
    onBack: () => show("imp-align"),
  });
  if (window.location.hash === "#import") switchTo("import");
}

wire();
