// The single-page app: hash routes, session restore, navigation.
import { ApiError, currentUser, restore, signOut } from "./api.js";
import { signInView, signUpView } from "./auth.js";
import { codePanel } from "./code.js";
import { dashboardView } from "./dashboard.js";
import { el } from "./dom.js";
import { keysView } from "./keys.js";
import { metricsView } from "./metrics.js";
import { onboardingView } from "./onboarding.js";
import { forgotView, resetView } from "./reset.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const PUBLIC = new Set(["#/signin", "#/signup", "#/forgot"]);
// Open to everyone, signed in or not: a reset link from a mail.
const OPEN = new Set(["#/reset"]);

// A reset link's token moves from the URL into the reset view's memory: out of history,
// bookmarks and the address bar.
function takeResetToken(hash) {
  const token = new URLSearchParams(hash.split("?")[1] || "").get("token");
  history.replaceState(null, "", `${location.pathname}${location.search}#/reset`);
  return token;
}

async function afterReset() {
  // The reset revoked every session of the account, this page's included.
  if (currentUser()) { await signOut().catch(() => {}); nav.hidden = true; }
}

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

async function route() {
  const hash = location.hash || "#/";
  const path = hash.split("?")[0];
  const user = currentUser();
  nav.hidden = !user;
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === hash.split("/").slice(0, 2).join("/")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren();
  try {
    if (OPEN.has(path)) resetView(view, takeResetToken(hash), afterReset);
    else if (!user && !PUBLIC.has(hash)) { go("#/signin"); return; }
    else if (user && PUBLIC.has(hash)) { go("#/"); return; }
    else if (hash === "#/signin") signInView(view, () => go("#/"));
    else if (hash === "#/forgot") forgotView(view);
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
