// The single-page app: hash routes, session restore, navigation.
import { ApiError, currentUser, restore, signOut } from "./api.js";
import { signInView, signUpView } from "./auth.js";
import { codePanel } from "./code.js";
import { dashboardView } from "./dashboard.js";
import { el } from "./dom.js";
import { keysView } from "./keys.js";
import { metricsView } from "./metrics.js";
import { onboardingView } from "./onboarding.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const PUBLIC = new Set(["#/signin", "#/signup"]);

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

async function route() {
  const hash = location.hash || "#/";
  const user = currentUser();
  nav.hidden = !user;
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === hash.split("/").slice(0, 2).join("/")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren();
  try {
    if (!user && !PUBLIC.has(hash)) { go("#/signin"); return; }
    if (user && PUBLIC.has(hash)) { go("#/"); return; }
    if (hash === "#/signin") signInView(view, () => go("#/"));
    else if (hash === "#/signup") signUpView(view, () => go("#/start"));
    else if (hash === "#/start") await onboardingView(view);
    else if (hash === "#/metrics") await metricsView(view);
    else if (hash.startsWith("#/metrics/")) await metricsView(view, hash.slice("#/metrics/".length));
    else if (hash === "#/keys") await keysView(view);
    else if (hash === "#/code") await codePanel(view);
    else await dashboardView(view);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) { await signOut().catch(() => {}); go("#/signin"); return; }
    view.replaceChildren(el("section", { class: "card" }, el("h1", { text: "Something went wrong" }),
      el("p", { class: "error", text: error instanceof ApiError ? `${error.message}${error.hint ? `. ${error.hint}` : ""}` : String(error) })));
  }
  const heading = view.querySelector("h1");
  if (heading && !view.contains(document.activeElement)) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
}

document.getElementById("signout").addEventListener("click", async () => {
  await signOut();
  go("#/signin");
});
window.addEventListener("hashchange", route);
restore().then(route);
