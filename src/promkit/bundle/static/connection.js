// Connection step: build a connection from the form, ask the local server to validate it,
// show flavour/version/endpoint or the error and what to do next.

import { api, ApiError } from "./api.js";
import { $, addFact, clear, el } from "./dom.js";

const AUTH_FIELDSETS = { basic: "auth-basic", bearer: "auth-bearer", header: "auth-header" };

const FLAVOUR_NAMES = {
  vmsingle: "VictoriaMetrics single-node",
  vmselect: "VictoriaMetrics cluster (vmselect)",
  vmauth: "vmauth (VictoriaMetrics auth proxy)",
  prometheus: "Prometheus",
  unknown: "Prometheus-compatible API",
};

export function readConnection() {
  const authType = $("auth-type").value;
  const auth = { type: authType };
  if (authType === "basic") {
    auth.username = $("username").value;
    auth.password = $("password").value;
  } else if (authType === "bearer") {
    auth.token = $("token").value;
  } else if (authType === "header") {
    auth.header_name = $("header-name").value.trim();
    auth.header_value = $("header-value").value;
  }
  const connection = { url: $("url").value.trim(), auth };
  const tenant = $("tenant").value.trim();
  if (tenant) connection.tenant_id = tenant;
  connection.skip_tls_verify = !$("tls-verify").checked;
  const caFile = $("ca-file").value.trim();
  if (caFile) connection.ca_file = caFile;
  return connection;
}

function showAuthFields() {
  const type = $("auth-type").value;
  for (const [kind, id] of Object.entries(AUTH_FIELDSETS)) {
    $(id).hidden = kind !== type;
  }
}

function renderAttempts(attempts) {
  const box = $("attempts");
  const list = $("attempts-list");
  clear(list);
  if (!Array.isArray(attempts) || attempts.length === 0) {
    box.hidden = true;
    return;
  }
  for (const attempt of attempts) {
    const where = String(attempt.endpoint ?? "");
    const status = attempt.status ? ` (HTTP ${attempt.status})` : "";
    const outcome = attempt.ok ? `ok${status}` : String(attempt.error ?? `failed${status}`);
    list.append(el("li", { text: `${where} — ${outcome}` }));
  }
  box.hidden = false;
}

function resetResult(kind, title) {
  const section = $("result");
  section.hidden = false;
  section.classList.remove("ok", "failed");
  section.classList.add(kind);
  $("result-title").textContent = title;
  clear($("result-facts"));
  $("result-summary").hidden = true;
  $("result-error").hidden = true;
  $("result-hint").hidden = true;
  return section;
}

export function renderSuccess(result) {
  const section = resetResult("ok", "Connected");
  const summary = $("result-summary");
  summary.textContent = String(result.message ?? "");
  summary.hidden = !result.message;
  const facts = $("result-facts");
  const flavour = String(result.flavour ?? "unknown");
  const name = FLAVOUR_NAMES[flavour];
  addFact(facts, "Flavour", name ? `${flavour} (${name})` : flavour);
  addFact(facts, "Version", result.version ? String(result.version) : "not reported by the server");
  addFact(facts, "Endpoint", String(result.endpoint ?? ""));
  if (result.tenant_id) addFact(facts, "Tenant", String(result.tenant_id));
  if (result.export_endpoint && result.export_endpoint !== result.endpoint) {
    addFact(facts, "Export endpoint", String(result.export_endpoint));
  }
  renderAttempts(result.attempts);
  section.focus();
}

export function renderFailure(error) {
  const section = resetResult("failed", "Connection failed");
  const message = $("result-error");
  message.textContent = error.message;
  message.hidden = false;
  if (error.hint) {
    const hint = $("result-hint");
    hint.textContent = error.hint;
    hint.hidden = false;
  }
  renderAttempts(error.details?.attempts);
  section.focus();
}

function localProblem(connection) {
  if (!connection.url) return ["Enter the server URL.", "url"];
  const auth = connection.auth;
  if (auth.type === "basic" && !auth.username) return ["Enter the username.", "username"];
  if (auth.type === "bearer" && !auth.token) return ["Enter the token.", "token"];
  if (auth.type === "header" && !auth.header_name) {
    return ["Enter the header name.", "header-name"];
  }
  return null;
}

// onResult(connection | null): the validated connection, or null when it is not (any more).
// The card is shared by the gather and import wizards: every outcome is also dispatched on
// the form as a "promkit:connection" event ({connection, result}) for the other listeners.
export function setupConnection(onResult) {
  const form = $("connection-form");
  const report = (connection, result = null) => {
    onResult(connection, result);
    form.dispatchEvent(new CustomEvent("promkit:connection", { detail: { connection, result } }));
  };
  $("auth-type").addEventListener("change", showAuthFields);
  $("tls-verify").addEventListener("change", () => {
    $("tls-warning").hidden = $("tls-verify").checked;
  });
  // Any edit invalidates an earlier successful test.
  form.addEventListener("input", () => report(null));
  form.addEventListener("change", () => report(null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("test-button");
    const busy = $("busy");
    const connection = readConnection();
    report(null);
    const problem = localProblem(connection);
    if (problem) {
      renderFailure(new ApiError(problem[0], { hint: "Fill in the highlighted field." }));
      $(problem[1]).focus();
      return;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    busy.textContent = "Testing…";
    try {
      const result = await api("/api/validate", { method: "POST", body: { connection } });
      renderSuccess(result);
      report(connection, result);
    } catch (err) {
      renderFailure(err instanceof ApiError ? err : new ApiError(String(err)));
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      busy.textContent = "";
    }
  });
  showAuthFields();
}
