// Import steps 5 and 6: start the import job, poll its status (progress, ETA), cancel,
// resume, and show the result with the target's verification. Server data goes through
// textContent only.

import { api } from "./api.js";
import {
  $, addFact, clear, el, formatBytes, formatNumber, formatSeconds, hideError, showError,
} from "./dom.js";

const POLL_MS = 500;

export function stamp(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

export function duration(ms) {
  const sign = ms < 0 ? "-" : "";
  let rest = Math.floor(Math.abs(ms) / 1000);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n) parts.push(`${n}${unit}`);
  }
  return sign + (parts.join(" ") || "0s");
}

const TITLES = {
  pending: "Import queued",
  running: "Importing",
  canceled: "Import canceled",
  failed: "Import failed",
  completed: "Import complete",
};

const CHECK_WORDS = {
  ok: "arrived",
  more: "arrived (the target already had more)",
  missing: "missing",
  pending: "not checked",
  skipped: "not checked (too many series)",
};

export class ImportJob {
  constructor({ onDone, onBack }) {
    this.onDone = onDone;
    this.job = null;
    this.timer = null;
    $("imp-cancel").addEventListener("click", () => this.cancel());
    $("imp-resume").addEventListener("click", () => this.resume());
    $("imp-run-back").addEventListener("click", () => onBack());
  }

  reset() {
    clearTimeout(this.timer);
    this.job = null;
    $("imp-run-title").textContent = "Starting import…";
    $("imp-progress").value = 0;
    $("imp-run-text").textContent = "";
    clear($("imp-run-facts"));
    hideError($("imp-run-error"));
    for (const id of ["imp-cancel", "imp-resume", "imp-run-back"]) $(id).hidden = true;
  }

  async start(request) {
    this.reset();
    this.show(await api("/api/import/start", { method: "POST", body: request }));
    this.poll();
  }

  poll() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), POLL_MS);
  }

  async tick() {
    if (!this.job) return;
    try {
      const job = await api(`/api/import/status?id=${encodeURIComponent(this.job.job_id)}`);
      this.show(job);
      if (job.state === "pending" || job.state === "running") this.poll();
    } catch (err) {
      showError($("imp-run-error"), err);
    }
  }

  async act(path, button) {
    button.disabled = true;
    hideError($("imp-run-error"));
    try {
      this.show(await api(path, { method: "POST", body: { job_id: this.job.job_id } }));
      this.poll();
    } catch (err) {
      showError($("imp-run-error"), err);
    } finally {
      button.disabled = false;
    }
  }

  cancel() {
    return this.act("/api/import/cancel", $("imp-cancel"));
  }

  resume() {
    return this.act("/api/import/resume", $("imp-resume"));
  }

  show(job) {
    this.job = job;
    const active = job.state === "pending" || job.state === "running";
    const pct = `${Math.round(job.progress * 100)} %`;
    const bar = $("imp-progress");
    bar.value = job.progress;
    bar.setAttribute("aria-valuetext", pct);
    const chunks = job.total_windows ? ` · ${job.completed_windows} / ${job.total_windows} chunks` : "";
    $("imp-run-title").textContent = TITLES[job.state] ?? job.state;
    const sent = job.state === "running" && job.total_windows > 0 &&
      job.completed_windows >= job.total_windows;
    let text = `${pct}${chunks}`;
    if (job.state === "canceled") {
      text = `Stopped at ${pct}${chunks}. Resume continues after the last chunk the target acknowledged.`;
    } else if (sent) {
      text = `${pct}${chunks}. Everything is sent; checking that the target shows it…`;
    }
    $("imp-run-text").textContent = text;
    const facts = $("imp-run-facts");
    clear(facts);
    addFact(facts, "State", job.state);
    addFact(facts, "Samples sent", formatNumber(job.samples));
    if (active && !sent) addFact(facts, "Time left", formatSeconds(job.eta_seconds));
    if (job.current_range) {
      addFact(facts, "Last chunk", `${stamp(job.current_range[0])} → ${stamp(job.current_range[1])}`);
    }
    if (job.resumes) addFact(facts, "Resumed", `${job.resumes} time(s)`);
    $("imp-cancel").hidden = !active;
    $("imp-resume").hidden = !(job.state === "canceled" || job.state === "failed");
    $("imp-run-back").hidden = active || job.state === "completed";
    if (job.state === "failed") {
      showError($("imp-run-error"), { message: job.error ?? "The import failed.", hint: job.hint });
    }
    if (job.state === "completed" && job.result) this.complete(job.result);
  }

  complete(result) {
    const verification = result.verification;
    const verdict = $("imp-verdict");
    clear(verdict);
    verdict.classList.remove("ok", "failed");
    if (verification) {
      verdict.classList.add(verification.verified ? "ok" : "failed");
      verdict.append(
        el("p", { className: "error-text", text: verification.verified
          ? "Verified: the target shows what was sent."
          : "Not verified: the target does not show everything yet." }),
        el("p", { text: verification.message }),
        el("p", { className: "muted", text: `Checked on the target for ${verification.waited_seconds} s.` }),
      );
    } else {
      verdict.append(el("p", { text: "The target was not checked (verification was off)." }));
    }
    $("imp-done-title").textContent = verification && !verification.verified
      ? "Import finished, check the target"
      : "Import finished";
    const facts = $("imp-done-facts");
    clear(facts);
    addFact(facts, "Target", result.import_url + (result.tenant_id ? ` (tenant ${result.tenant_id})` : ""));
    addFact(facts, "Samples sent", formatNumber(result.samples_sent));
    addFact(facts, "Lines", formatNumber(result.lines));
    addFact(facts, "Shift", duration(result.shift_ms));
    if (result.first_ms !== null && result.last_ms !== null) {
      addFact(facts, "Time range on the target", `${stamp(result.first_ms)} → ${stamp(result.last_ms)}`);
    }
    addFact(facts, "Dropped (outside retention)", formatNumber(result.dropped_retention));
    addFact(facts, "Unusable points skipped", formatNumber(result.skipped_values));
    if (result.bad_lines) addFact(facts, "Lines that are not series", formatNumber(result.bad_lines));
    addFact(facts, "Uploaded", `${result.chunks} chunks, ${formatBytes(result.bytes_sent)} gzip, ${result.retries} retries`);
    if (result.resumed_from_chunk) addFact(facts, "Resumed from chunk", String(result.resumed_from_chunk));
    addFact(facts, "Checksum", result.checksum_verified ? "verified" : "none in the bundle");
    const body = $("imp-check-body");
    clear(body);
    const checks = verification?.checks ?? [];
    for (const check of checks) {
      const found = (value) => (value === null || value === undefined ? "?" : formatNumber(value));
      body.append(el("tr", {},
        el("td", { className: "metric", text: check.name }),
        el("td", { text: `${formatNumber(check.expected_series)} / ${found(check.found_series)}` }),
        el("td", { text: `${formatNumber(check.expected_samples)} / ${found(check.found_samples)}` }),
        el("td", { text: CHECK_WORDS[check.status] ?? check.status }),
      ));
    }
    $("imp-check-table").hidden = checks.length === 0;
    this.onDone(result);
  }

  stop() {
    clearTimeout(this.timer);
    this.job = null;
  }
}
