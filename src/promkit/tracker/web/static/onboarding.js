// Onboarding: first metric -> first key (shown once) -> snippet and a test event.
import { api } from "./api.js";
import { codePanel } from "./code.js";
import { el } from "./dom.js";
import { createKeyForm, revealKey } from "./keys.js";
import { metricForm } from "./metrics.js";

const STEPS = ["Define a metric", "Create an API key", "Add the snippet"];

function stepper(active) {
  return el("ol", { class: "stepper", "aria-label": "Setup steps" },
    STEPS.map((label, index) => el("li", {
      class: index < active ? "done" : index === active ? "active" : "",
      "aria-current": index === active ? "step" : null,
      text: `${index < active ? "✓ " : ""}${label}`,
    })));
}

export async function onboardingView(view, state = {}) {
  const [configs, keys] = await Promise.all([api("GET", "/api/v1/metric-configs"), api("GET", "/api/v1/api-keys")]);
  const step = !configs.length ? 0 : !state.key && !keys.some((k) => k.is_active) ? 1 : 2;
  const rerender = (next) => { view.replaceChildren(); onboardingView(view, { ...state, ...next }); };
  view.append(el("section", { class: "card" }, el("h1", { text: "Set up tracking" }), stepper(step)));
  if (step === 0) {
    view.append(el("section", { class: "card" }, el("h2", { text: "1. Define your first metric" }),
      el("p", { class: "muted", text: "For example a counter named Page Views with a page label." }),
      metricForm(null, () => rerender({}))));
  } else if (step === 1) {
    view.append(el("section", { class: "card" }, el("h2", { text: "2. Create an API key" }),
      el("p", { class: "muted", text: "Your web site sends samples with this key." }),
      createKeyForm((created) => rerender({ key: created }))));
  } else {
    const section = el("section", { class: "card" }, el("h2", { text: "3. Add the snippet to your site" }));
    if (state.key) section.append(revealKey(state.key));
    view.append(section);
    await codePanel(view, state.key ? state.key.id : null);
    view.append(el("p", {}, el("a", { class: "button", href: "#/", text: "Go to the dashboard" })));
  }
  const heading = view.querySelector("h2");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
}
