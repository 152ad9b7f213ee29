// Tiny DOM helpers. User data only ever goes through textContent / attributes, never HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "text") {
      node.textContent = String(value);
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

let statusTimer = 0;
export function announce(message, kind = "info") {
  const box = document.getElementById("status");
  box.textContent = message;
  box.dataset.kind = kind;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { box.textContent = ""; }, 6000);
}

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 0.01)) return value.toExponential(2);
  return String(Math.round(value * 100) / 100);
}

export function formatTime(iso) {
  if (!iso) return "never";
  return new Date(iso).toLocaleString();
}

// A button that copies text to the clipboard, with a fallback for insecure contexts.
export function copyButton(getText, label = "Copy") {
  return el("button", {
    type: "button",
    class: "copy",
    onclick: async (event) => {
      const text = getText();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        const area = el("textarea", { class: "offscreen", "aria-hidden": "true" });
        area.value = text;
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      event.target.textContent = "Copied";
      announce("Copied to the clipboard");
      setTimeout(() => { event.target.textContent = label; }, 1500);
    },
  }, label);
}

// A form field: label, input, and an inline error message wired for screen readers.
export function field(id, label, input, help = "") {
  input.id = id;
  const error = el("p", { class: "error", id: `${id}-error`, hidden: true });
  const parts = [el("label", { for: id, text: label }), input];
  if (help) {
    const hint = el("p", { class: "help", id: `${id}-help`, text: help });
    input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
    parts.push(hint);
  } else {
    input.setAttribute("aria-describedby", `${id}-error`);
  }
  parts.push(error);
  return el("div", { class: "field" }, parts);
}

export function setError(form, name, message) {
  const input = form.querySelector(`[name="${name}"]`);
  const error = input ? form.querySelector(`#${input.id}-error`) : null;
  if (!input || !error) return false;
  error.textContent = message;
  error.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll(".error")) { node.textContent = ""; node.hidden = true; }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const top = form.querySelector(".form-error");
  if (top) { top.textContent = ""; top.hidden = true; }
}

export function formError(form, message) {
  const top = form.querySelector(".form-error");
  if (top) { top.textContent = message; top.hidden = !message; }
}
