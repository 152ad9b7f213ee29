// API keys: create (the raw key is shown once, with a copy button), rename, (de)activate, delete.
import { api, ApiError, freshKeys } from "./api.js";
import { showServerError } from "./auth.js";
import { announce, clearErrors, copyButton, el, field, formatTime } from "./dom.js";

export function revealKey(created) {
  freshKeys.set(created.id, created.api_key);
  const value = el("code", { class: "secret", id: "new-key", text: created.api_key });
  return el("div", { class: "reveal", role: "region", "aria-label": "New API key" },
    el("p", { class: "warn", text: "Copy this key now: it is stored hashed and will not be shown again." }),
    el("div", { class: "copyline" }, value, copyButton(() => created.api_key, "Copy key")));
}

export function createKeyForm(onCreated) {
  const form = el("form", { class: "inline-form", novalidate: true },
    field("k-name", "Key name", el("input", { name: "key_name", maxlength: 255, value: "Website", required: true })),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", class: "primary", text: "Create key" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const created = await api("POST", "/api/v1/api-keys", { key_name: form.elements.key_name.value.trim() || "API key" });
      announce("API key created: copy it now");
      onCreated(created);
    } catch (error) {
      if (error instanceof ApiError) showServerError(form, error); else throw error;
    }
  });
  return form;
}

function keyItem(key, refresh) {
  const nameHeading = el("h3", { text: key.key_name });
  const renameForm = el("form", { class: "inline-form", hidden: true },
    field(`k-rename-${key.id}`, "New name", el("input", { name: "key_name", value: key.key_name, maxlength: 255 })),
    el("p", { class: "form-error", role: "alert", hidden: true }),
    el("button", { type: "submit", text: "Save name" }));
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PATCH", `/api/v1/api-keys/${key.id}`, { key_name: renameForm.elements.key_name.value.trim() });
      announce("Key renamed");
      refresh();
    } catch (error) {
      if (error instanceof ApiError) showServerError(renameForm, error); else throw error;
    }
  });
  let armed = false;
  const remove = el("button", { type: "button", class: "danger", text: "Delete" });
  remove.addEventListener("click", async () => {
    if (!armed) { armed = true; remove.textContent = "Confirm: delete"; return; }
    await api("DELETE", `/api/v1/api-keys/${key.id}`);
    freshKeys.delete(key.id);
    announce("Key deleted");
    refresh();
  });
  return el("li", { class: "item", "data-key": key.id },
    el("div", { class: "item-main" }, nameHeading,
      el("p", { class: "muted" }, el("code", { text: key.masked_key }), " · ",
        el("span", { class: key.is_active ? "badge on" : "badge off", text: key.is_active ? "active" : "inactive" }),
        ` · last used ${formatTime(key.last_used_at)}`),
      renameForm),
    el("div", { class: "actions" },
      el("button", {
        type: "button", text: "Rename", "aria-label": `Rename ${key.key_name}`,
        onclick: () => { renameForm.hidden = false; renameForm.elements.key_name.focus(); },
      }),
      el("button", {
        type: "button", text: key.is_active ? "Deactivate" : "Activate",
        onclick: async () => {
          await api("PATCH", `/api/v1/api-keys/${key.id}`, { is_active: !key.is_active });
          announce(key.is_active ? "Key deactivated" : "Key activated");
          refresh();
        },
      }),
      remove));
}

export async function keysView(view) {
  const keys = await api("GET", "/api/v1/api-keys");
  const slot = el("div");
  const refresh = (created) => {
    view.replaceChildren();
    keysView(view).then(() => {
      if (created) {
        const reveal = revealKey(created);
        view.querySelector("#key-slot").append(reveal);
        reveal.querySelector("button").focus();
      }
    });
  };
  slot.id = "key-slot";
  view.append(
    el("section", { class: "card" }, el("h1", { text: "API keys" }),
      el("p", { class: "muted", text: "Web sites send samples with a key. Keys are stored hashed: only the prefix is shown after creation." }),
      keys.length
        ? el("ul", { class: "items", "aria-label": "API keys" }, keys.map((k) => keyItem(k, () => refresh())))
        : el("p", { class: "muted", text: "No keys yet." })),
    el("section", { class: "card" }, el("h2", { text: "New key" }), slot, createKeyForm((created) => refresh(created))));
}
