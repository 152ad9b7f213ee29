// Obfuscation settings and the live preview: a few series of the selection, obfuscated by
// the server exactly as the export will be. Label values are rendered as text only.

import { api } from "./api.js";
import { $, clear, el, hideError, showError } from "./dom.js";

const FIXED = new Set(["__name__", "instance", "job", "vm_account_id", "vm_project_id"]);

function splitList(text) {
  return [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
}

export class Preview {
  constructor(buildRequest) {
    this.buildRequest = buildRequest;
    this.labelNames = new Set();
    this.timer = null;
    this.seq = 0;
    const refresh = () => this.schedule();
    for (const id of ["obf-enabled", "obf-instance", "obf-job", "obf-ips", "obf-tenant"]) {
      $(id).addEventListener("change", refresh);
    }
    $("obf-enabled").addEventListener("change", () => {
      $("obf-options").disabled = !$("obf-enabled").checked;
    });
    $("obf-custom").addEventListener("change", refresh);
    $("drop-labels").addEventListener("input", refresh);
  }

  settings() {
    const custom = [...$("obf-custom").querySelectorAll("input:checked")].map(
      (b) => b.dataset.label);
    return {
      enabled: $("obf-enabled").checked,
      instance: $("obf-instance").checked,
      job: $("obf-job").checked,
      ip_literals: $("obf-ips").checked,
      tenant: $("obf-tenant").checked,
      custom_labels: custom,
      drop_labels: splitList($("drop-labels").value),
    };
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 300);
  }

  renderLabelChoices() {
    const box = $("obf-custom");
    const checked = new Set(this.settings().custom_labels);
    const names = [...this.labelNames].filter((n) => !FIXED.has(n)).sort();
    if (!names.length) return;
    clear(box);
    names.forEach((name, i) => {
      const id = `custom-label-${i}`;
      box.append(el("span", { className: "check inline" },
        el("input", { type: "checkbox", id, checked: checked.has(name), dataset: { label: name } }),
        el("label", { for: id, text: name })));
    });
  }

  render(preview) {
    const body = $("preview-body");
    clear(body);
    for (const sample of preview.samples) {
      const labels = el("td", { className: "labels" });
      for (const [key, value] of Object.entries(sample.labels)) {
        this.labelNames.add(key);
        labels.append(el("span", { className: "label-chip", text: `${key}="${value}"` }), " ");
      }
      const value = sample.value === null || sample.value === undefined ? "—" : String(sample.value);
      body.append(el("tr", {},
        el("td", { className: "metric", text: sample.metric_name || sample.name }),
        labels,
        el("td", { className: "value", text: value })));
    }
    $("preview-table").hidden = preview.samples.length === 0;
    const how = preview.obfuscated ? "obfuscated as in the bundle" : "NOT obfuscated";
    $("preview-status").textContent =
      `${preview.count} series at the end of the range, ${how}.`;
    this.renderLabelChoices();
  }

  async refresh() {
    const seq = ++this.seq;
    hideError($("preview-error"));
    $("preview-status").textContent = "Loading preview…";
    try {
      const preview = await api("/api/sample", {
        method: "POST", body: { config: this.buildRequest(), limit: 10 },
      });
      if (seq === this.seq) this.render(preview);
    } catch (err) {
      if (seq !== this.seq) return;
      $("preview-status").textContent = "";
      $("preview-table").hidden = true;
      showError($("preview-error"), err);
    }
  }
}
