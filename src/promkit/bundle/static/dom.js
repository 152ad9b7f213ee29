// Small DOM helpers. Server data only ever goes through textContent (never markup).

export const $ = (id) => document.getElementById(id);

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// el("li", {className: "x", text: "hello"}, child1, child2)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria-") || key === "role" || key === "for") {
      node.setAttribute(key, String(value));
    } else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function addFact(list, term, value) {
  list.append(el("dt", { text: term }), el("dd", { text: value }));
}

// An error box: the message, and "What to do: <hint>" when the server gave one.
export function showError(box, error) {
  clear(box);
  const message = error?.message ?? String(error);
  box.append(el("p", { className: "error-text", text: message }));
  if (error?.hint) box.append(el("p", { className: "hint", text: error.hint }));
  box.hidden = false;
}

export function hideError(box) {
  clear(box);
  box.hidden = true;
}

export function formatNumber(n) {
  if (n === null || n === undefined) return "unknown";
  return Number(n).toLocaleString("en-US");
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatSeconds(s) {
  if (s === null || s === undefined) return "estimating…";
  if (s < 1) return "less than a second";
  if (s < 90) return `about ${Math.round(s)} s`;
  if (s < 5400) return `about ${Math.round(s / 60)} min`;
  return `about ${(s / 3600).toFixed(1)} h`;
}
