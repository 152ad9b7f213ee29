// Forgotten password: ask for a reset link by mail, then choose a new password with it.
// The link's token only ever lives in this page's memory (app.js strips it from the URL).
import { ApiError, requestPasswordReset, resetPassword } from "./api.js";
import { showServerError } from "./auth.js";
import { clearErrors, el, field, setError } from "./dom.js";

const GENERIC = "If an account with this email exists, a password reset link is on its way to it.";

// Replace a view's card with an outcome and move focus to its heading.
function outcome(section, heading, message, link) {
  const title = el("h1", { text: heading, tabindex: "-1" });
  section.replaceChildren(title, el("p", { text: message }),
    el("p", {}, el("a", { href: link.href, text: link.text })));
  title.focus();
}

function focusInvalid(form) {
  const invalid = form.querySelector("[aria-invalid]");
  if (invalid) invalid.focus();
}

async function submitting(form, work) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try { return await work(); } finally { button.disabled = false; }
}

export function forgotView(view) {
  const form = el("form", { id: "forgot", novalidate: true },
    field("forgot-email", "Email", el("input", { name: "email", type: "email", autocomplete: "email", required: true })),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", class: "primary", text: "Send reset link" }));
  const section = el("section", { class: "card narrow" },
    el("h1", { text: "Reset your password" }),
    el("p", { class: "muted", text: "Enter the email of your account: a link to choose a new password will be sent to it." }),
    form,
    el("p", {}, el("a", { href: "#/signin", text: "Back to sign in" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = form.email.value.trim();
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test(email)) {
      setError(form, "email", "Enter a valid email address.");
      form.email.focus();
      return;
    }
    try {
      const answer = await submitting(form, () => requestPasswordReset(email));
      outcome(section, "Check your email", (answer && answer.message) || GENERIC,
        { href: "#/signin", text: "Back to sign in" });
    } catch (error) {
      if (error instanceof ApiError) { showServerError(form, error); focusInvalid(form); } else throw error;
    }
  });
  view.append(section);
}

function invalidLink(section) {
  outcome(section, "Link invalid or expired", "This link is invalid or expired, request a new one.",
    { href: "#/forgot", text: "Request a new link" });
}

// token: read from the link by app.js (null when the page was opened without one).
// done: called after the password changed (every session of the account is revoked).
export function resetView(view, token, done) {
  const section = el("section", { class: "card narrow" });
  view.append(section);
  if (!token) { invalidLink(section); return; }
  const form = el("form", { id: "reset", novalidate: true },
    field("reset-password", "New password", el("input", {
      name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password",
    }), "At least 8 characters."),
    field("reset-confirm", "Confirm new password", el("input", {
      name: "confirm", type: "password", required: true, autocomplete: "new-password",
    })),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", class: "primary", text: "Set new password" }));
  section.append(el("h1", { text: "Choose a new password" }), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const password = form.password.value;
    if (password.length < 8) setError(form, "password", "The password needs at least 8 characters.");
    else if (form.confirm.value !== password) setError(form, "confirm", "The two passwords do not match.");
    if (form.querySelector("[aria-invalid]")) { focusInvalid(form); return; }
    try {
      await submitting(form, () => resetPassword(token, password));
    } catch (error) {
      const badToken = error instanceof ApiError && (error.status === 401
        || error.details.some((detail) => (detail.loc || []).includes("token")));
      if (badToken) { invalidLink(section); return; }
      if (error instanceof ApiError) { showServerError(form, error); focusInvalid(form); return; }
      throw error;
    }
    token = null;
    await done();
    outcome(section, "Password changed", "Your new password is set and every session of your account was signed out.",
      { href: "#/signin", text: "Sign in" });
  });
}
