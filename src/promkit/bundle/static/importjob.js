// Import steps 5 and 6: start the import job, poll its status (progress, ETA), cancel,
// resume, and show the result with the target's verification. Server data goes through
// textContent only.

import { $, addFact, clear, el, formatBytes, formatNumber, formatSeconds, showError } from "./dom.js";
import { JobRunner, stamp } from "./jobrunner.js";

export { stamp };

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

export class ImportJob extends JobRunner {
  constructor({ onDone, onBack }) {
    super("/api/import", {
      title: "imp-run-title",
      progress: "imp-progress",
      text: "imp-run-text",
      facts: "imp-run-facts",
      error: "imp-run-error",
      cancel: "imp-cancel",
      resume: "imp-resume",
      back: "imp-run-back",
    }, "Starting import…", { onDone, onBack });
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
}
