// What the export and import steps share: start a console job, poll its status, cancel and
// resume it. Each step renders a status into its own elements (subclass `show`).

import { api } from "./api.js";
import { $, clear, hideError, showError } from "./dom.js";

const POLL_MS = 500;

export function stamp(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

export class JobRunner {
  // prefix: "/api/export" or "/api/import"; ids: the step's element ids (title, progress,
  // text, facts, error, cancel, resume, back); starting: the title while the job starts.
  constructor(prefix, ids, starting, { onDone, onBack }) {
    this.prefix = prefix;
    this.ids = ids;
    this.starting = starting;
    this.onDone = onDone;
    this.job = null;
    this.timer = null;
    $(ids.cancel).addEventListener("click", () => this.cancel());
    $(ids.resume).addEventListener("click", () => this.resume());
    $(ids.back).addEventListener("click", () => onBack());
  }

  reset() {
    clearTimeout(this.timer);
    this.job = null;
    $(this.ids.title).textContent = this.starting;
    $(this.ids.progress).value = 0;
    $(this.ids.text).textContent = "";
    clear($(this.ids.facts));
    hideError($(this.ids.error));
    for (const id of [this.ids.cancel, this.ids.resume, this.ids.back]) $(id).hidden = true;
  }

  async start(request) {
    this.reset();
    this.show(await api(`${this.prefix}/start`, { method: "POST", body: request }));
    this.poll();
  }

  poll() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), POLL_MS);
  }

  async tick() {
    if (!this.job) return;
    try {
      const job = await api(`${this.prefix}/status?id=${encodeURIComponent(this.job.job_id)}`);
      this.show(job);
      if (job.state === "pending" || job.state === "running") this.poll();
    } catch (err) {
      showError($(this.ids.error), err);
    }
  }

  async act(action, button) {
    button.disabled = true;
    hideError($(this.ids.error));
    try {
      this.show(await api(`${this.prefix}/${action}`, { method: "POST", body: { job_id: this.job.job_id } }));
      this.poll();
    } catch (err) {
      showError($(this.ids.error), err);
    } finally {
      button.disabled = false;
    }
  }

  cancel() {
    return this.act("cancel", $(this.ids.cancel));
  }

  resume() {
    return this.act("resume", $(this.ids.resume));
  }

  stop() {
    clearTimeout(this.timer);
    this.job = null;
  }
}
