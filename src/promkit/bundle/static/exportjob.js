// Export step: start a background job, poll its status (progress, ETA), cancel, resume,
// and hand the finished bundle to the completion step.

import { download } from "./api.js";
import { $, addFact, clear, formatBytes, formatNumber, formatSeconds, hideError, showError } from "./dom.js";
import { JobRunner, stamp } from "./jobrunner.js";

export class ExportJob extends JobRunner {
  constructor({ onDone, onBack }) {
    super("/api/export", {
      title: "export-title",
      progress: "export-progress",
      text: "export-text",
      facts: "export-facts",
      error: "export-error",
      cancel: "export-cancel",
      resume: "export-resume",
      back: "export-back",
    }, "Starting export…", { onDone, onBack });
    $("download").addEventListener("click", () => this.save(false));
    $("download-sha").addEventListener("click", () => this.save(true));
  }

  show(job) {
    this.job = job;
    const active = job.state === "pending" || job.state === "running";
    const bar = $("export-progress");
    bar.value = job.progress;
    bar.setAttribute("aria-valuetext", `${Math.round(job.progress * 100)} %`);
    const pct = `${Math.round(job.progress * 100)} %`;
    const windows = job.total_windows ? ` · ${job.completed_windows} / ${job.total_windows} windows` : "";
    const titles = {
      pending: "Export queued",
      running: "Exporting",
      canceled: "Export canceled",
      failed: "Export failed",
      completed: "Export complete",
    };
    $("export-title").textContent = titles[job.state] ?? job.state;
    $("export-text").textContent = job.state === "canceled"
      ? `Stopped at ${pct}${windows}. Resume continues after the last complete window.`
      : `${pct}${windows}`;
    const facts = $("export-facts");
    clear(facts);
    addFact(facts, "State", job.state);
    addFact(facts, "Samples so far", formatNumber(job.samples));
    if (active) addFact(facts, "Time left", formatSeconds(job.eta_seconds));
    if (job.current_range) {
      addFact(facts, "Last window", `${stamp(job.current_range[0])} → ${stamp(job.current_range[1])}`);
    }
    addFact(facts, "Staging folder", job.staging_dir);
    if (job.resumes) addFact(facts, "Resumed", `${job.resumes} time(s)`);
    $("export-cancel").hidden = !active;
    $("export-cancel").disabled = false;
    $("export-resume").hidden = !(job.state === "canceled" || job.state === "failed");
    $("export-back").hidden = active || job.state === "completed";
    if (job.state === "failed") {
      showError($("export-error"), { message: job.error ?? "The export failed.", hint: job.hint });
    } else if (job.state !== "canceled") {
      hideError($("export-error"));
    }
    if (job.state === "completed" && job.result) this.complete(job);
  }

  complete(job) {
    const result = job.result;
    const facts = $("done-facts");
    clear(facts);
    addFact(facts, "File", job.archive_name);
    addFact(facts, "Saved at", result.bundle_path);
    addFact(facts, "Size", formatBytes(result.size_bytes));
    addFact(facts, "SHA-256", result.sha256);
    addFact(facts, "Checksum file", result.sha256_path);
    addFact(facts, "Series", formatNumber(result.counts.series));
    addFact(facts, "Samples", formatNumber(result.counts.samples));
    addFact(facts, "Export id", result.export_id);
    $("download-status").textContent = "";
    this.onDone(job);
  }

  async save(checksum) {
    const name = this.job.archive_name + (checksum ? ".sha256" : "");
    const status = $("download-status");
    status.textContent = "Preparing download…";
    try {
      const size = await download(`/api/download?path=${encodeURIComponent(name)}`, name);
      status.textContent = `Downloaded ${name} (${formatBytes(size)}).`;
    } catch (err) {
      status.textContent = `${err.message}${err.hint ? ` ${err.hint}` : ""}`;
    }
  }
}
