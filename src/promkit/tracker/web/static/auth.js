// Sign-up and sign-in forms.
import { ApiError, signIn, signUp } from "./api.js";
import { clearErrors, el, field, formError, setError } from "./dom.js";

function showServerError(form, error) {
  let placed = false;
  for (const detail of error.details || []) {
    const loc = detail.loc || [];
    const name = loc[0] === "body" ? loc[1] : loc[loc.length - 1];
    placed = setError(form, name, String(detail.msg).replace(/^Value error, /, "")) || placed;
  }
  if (!placed && error.status === 409 && form.querySelector('[name="metric_name"]')) {
    placed = setError(form, "metric_name", error.message);
  }
  if (!placed) formError(form, error.hint ? `${error.message}. ${error.hint}` : error.message);
}

function credentialsForm(id, submitLabel, extra = []) {
  return el("form", { id, novalidate: true },
    extra,
    field(`${id}-email`, "Email", el("input", { name: "email", type: "email", autocomplete: "email", required: true })),
    field(`${id}-password`, "Password", el("input", {
      name: "password", type: "password", required: true, minlength: 8,
      autocomplete: id === "signup" ? "new-password" : "current-password",
    }), id === "signup" ? "At least 8 characters." : ""),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", class: "primary", text: submitLabel }));
}

function validate(form, isSignup) {
  clearErrors(form);
  const email = form.email.value.trim();
  const password = form.password.value;
  let ok = true;
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test(email)) { setError(form, "email", "Enter a valid email address."); ok = false; }
  if (isSignup && password.length < 8) { setError(form, "password", "The password needs at least 8 characters."); ok = false; }
  if (!isSignup && !password) { setError(form, "password", "Enter your password."); ok = false; }
  if (!ok) form.querySelector("[aria-invalid]").focus();
  return ok ? { email, password } : null;
}

export function signInView(view, done) {
  const form = credentialsForm("signin", "Sign in");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = validate(form, false);
    if (!values) return;
    try {
      await signIn(values.email, values.password);
      done();
    } catch (error) {
      if (error instanceof ApiError) showServerError(form, error); else throw error;
    }
  });
  view.append(el("section", { class: "card narrow" },
    el("h1", { text: "Sign in" }), form,
    el("p", {}, el("a", { href: "#/forgot", text: "Forgot password?" })),
    el("p", {}, "No account yet? ", el("a", { href: "#/signup", text: "Create one" }))));
}

export function signUpView(view, done) {
  const name = field("signup-name", "Name (optional)", el("input", { name: "name", autocomplete: "name", maxlength: 255 }));
  const form = credentialsForm("signup", "Create account", [name]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = validate(form, true);
    if (!values) return;
    try {
      await signUp(values.email, values.password, form.elements.namedItem("name").value.trim());
      await signIn(values.email, values.password);
      done(true);
    } catch (error) {
      if (error instanceof ApiError) showServerError(form, error); else throw error;
    }
  });
  view.append(el("section", { class: "card narrow" },
    el("h1", { text: "Create your account" }), form,
    el("p", {}, "Already registered? ", el("a", { href: "#/signin", text: "Sign in" }))));
}

export { showServerError };
