// The console's only network access: its own JSON API, with the per-process session token.
// Every error is turned into an ApiError carrying the server's message and hint.

const TOKEN = document.querySelector('meta[name="promkit-session"]')?.content ?? "";

// Headers that authorise a request to the console (for callers that cannot use api()).
export function sessionHeaders() {
  return { "X-Promkit-Token": TOKEN };
}

export class ApiError extends Error {
  constructor(message, { status = 0, hint = null, details = {} } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.hint = hint;
    this.details = details;
  }
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { "X-Promkit-Token": TOKEN, Accept: "application/json" };
  const init = { method, headers, signal, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The promkit console is not answering.", {
      hint: "Check that `promkit ui` is still running in your terminal, then reload this page.",
    });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && typeof data.error === "string" && data.error) ||
      `The console answered HTTP ${response.status}.`;
    const hint = data && typeof data.hint === "string" ? data.hint : null;
    throw new ApiError(message, { status: response.status, hint, details: data ?? {} });
  }
  return data;
}

// Save a file the console serves (a bundle) through the browser's download mechanism.
// The token travels in a header, so the file is fetched here and handed over as a blob.
export async function download(path, filename) {
  let response;
  try {
    response = await fetch(path, {
      headers: { "X-Promkit-Token": TOKEN },
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError("The promkit console is not answering.", {
      hint: "Check that `promkit ui` is still running in your terminal, then reload this page.",
    });
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(data?.error || `Download failed: HTTP ${response.status}.`, {
      status: response.status,
      hint: data?.hint ?? null,
    });
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}
