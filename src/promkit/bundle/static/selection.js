// Component/job selection: discovery results as checkboxes with instance counts and series
// estimates. An empty selection is refused here and by the server (never "export all").

import { api } from "./api.js";
import { $, clear, el, formatNumber, hideError, showError } from "./dom.js";

function jobText(job) {
  const inst = `${job.instances} instance${job.instances === 1 ? "" : "s"}`;
  const series = job.series_estimate === null || job.series_estimate === undefined
    ? "series unknown" : `~${formatNumber(job.series_estimate)} series`;
  return `${inst} · ${series}`;
}

export class Selection {
  constructor() {
    this.jobs = new Map(); // job name -> info
    this.loadedKey = null;
    $("select-all").addEventListener("click", () => this.setAll(true));
    $("select-none").addEventListener("click", () => this.setAll(false));
    $("select-list").addEventListener("change", (event) => this.onChange(event));
  }

  boxes() {
    return [...$("select-list").querySelectorAll("input[data-job]")];
  }

  selected() {
    return this.boxes().filter((b) => b.checked).map((b) => b.dataset.job);
  }

  setAll(value) {
    for (const box of $("select-list").querySelectorAll("input[type=checkbox]")) {
      box.checked = value;
      box.indeterminate = false;
    }
    this.summarize();
  }

  onChange(event) {
    const target = event.target;
    if (target.dataset.component) {
      const group = target.closest("fieldset");
      for (const box of group.querySelectorAll("input[data-job]")) box.checked = target.checked;
    }
    this.syncGroups();
    this.summarize();
  }

  syncGroups() {
    for (const group of $("select-list").querySelectorAll("fieldset")) {
      const all = group.querySelector("input[data-component]");
      if (!all) continue;
      const jobs = [...group.querySelectorAll("input[data-job]")];
      const on = jobs.filter((b) => b.checked).length;
      all.checked = on === jobs.length;
      all.indeterminate = on > 0 && on < jobs.length;
    }
  }

  summarize() {
    const chosen = this.selected();
    let instances = 0;
    let series = 0;
    let unknown = false;
    for (const name of chosen) {
      const info = this.jobs.get(name);
      instances += info.instances;
      if (info.series_estimate === null || info.series_estimate === undefined) unknown = true;
      else series += info.series_estimate;
    }
    $("select-summary").textContent = chosen.length === 0
      ? "Nothing selected."
      : `${chosen.length} job${chosen.length === 1 ? "" : "s"} selected · ${formatNumber(instances)} ` +
        `instances · ~${formatNumber(series)} series${unknown ? " (some unknown)" : ""}`;
    if (chosen.length) hideError($("select-error"));
  }

  jobBox(job, idPrefix) {
    const id = `${idPrefix}-${this.jobs.size}`;
    this.jobs.set(job.job, job);
    const box = el("input", { type: "checkbox", id, checked: true, dataset: { job: job.job } });
    const label = el("label", { for: id },
      el("span", { className: "job-name", text: job.job }), " ",
      el("span", { className: "muted", text: jobText(job) }));
    return el("div", { className: "check" }, box, label);
  }

  render(result) {
    const list = $("select-list");
    clear(list);
    this.jobs.clear();
    if (result.mode === "cluster") {
      result.components.forEach((comp, i) => {
        const allId = `comp-${i}`;
        const legend = el("legend", {},
          el("span", { className: "component", text: comp.component }), " ",
          el("span", { className: "muted", text: jobText({
            instances: comp.instances, series_estimate: comp.series_estimate }) }));
        const all = el("div", { className: "check" },
          el("input", { type: "checkbox", id: allId, checked: true,
            dataset: { component: comp.component } }),
          el("label", { for: allId, text: `All ${comp.component} jobs` }));
        const set = el("fieldset", { className: "component-group" }, legend, all);
        for (const job of comp.jobs) set.append(this.jobBox(job, `job-${i}`));
        list.append(set);
      });
    } else {
      const set = el("fieldset", { className: "component-group" },
        el("legend", { text: "Jobs matched by the selector" }));
      for (const job of result.jobs) set.append(this.jobBox(job, "sel"));
      list.append(set);
    }
    if (result.hint) list.append(el("p", { className: "hint", text: result.hint }));
    this.summarize();
  }

  async load(body, key, force = false) {
    if (!force && key === this.loadedKey) return;
    const busy = $("select-busy");
    hideError($("select-error"));
    busy.textContent = "Looking for components and jobs…";
    $("select-intro").textContent = body.mode === "cluster"
      ? "VictoriaMetrics components found in the time range, with their jobs."
      : "Jobs whose series match your selector in the time range.";
    try {
      const result = await api("/api/discover", { method: "POST", body });
      this.render(result);
      this.loadedKey = key;
    } catch (err) {
      clear($("select-list"));
      this.jobs.clear();
      this.loadedKey = null;
      showError($("select-error"), err);
    } finally {
      busy.textContent = "";
    }
  }

  // true when at least one job is chosen; otherwise shows what to do.
  check() {
    if (this.selected().length) return true;
    showError($("select-error"), {
      message: "Nothing selected: choose at least one job.",
      hint: "An empty selection would export nothing (promkit never falls back to " +
        "\"everything\"). Tick the jobs support asked for, or use Select all.",
    });
    return false;
  }
}
