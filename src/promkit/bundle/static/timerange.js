// Time range step: presets, custom start/end as wall time in a chosen time zone, sent to
// the server as UTC instants (RFC 3339).

import { $, el } from "./dom.js";

const ZONES = [
  ["local", "Browser local time"],
  ["UTC", "UTC"],
  ["America/New_York", "New York"],
  ["America/Los_Angeles", "Los Angeles"],
  ["Europe/London", "London"],
  ["Europe/Paris", "Paris / Berlin"],
  ["Europe/Moscow", "Moscow"],
  ["Asia/Kolkata", "India"],
  ["Asia/Shanghai", "Shanghai"],
  ["Asia/Singapore", "Singapore"],
  ["Asia/Tokyo", "Tokyo"],
  ["Australia/Sydney", "Sydney"],
];

const MINUTE = 60_000;

function zoneName(choice) {
  return choice === "local" ? Intl.DateTimeFormat().resolvedOptions().timeZone : choice;
}

function parts(ts, zone) {
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const out = {};
  for (const p of fmt.formatToParts(new Date(ts))) out[p.type] = p.value;
  return out;
}

// Offset (ms) of `zone` from UTC at instant `ts`.
function offset(zone, ts) {
  const p = parts(ts, zone);
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return wall - Math.floor(ts / 1000) * 1000;
}

// "YYYY-MM-DDTHH:MM" wall time in `zone` → epoch ms (null when unparsable).
export function wallToInstant(text, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(text || "");
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let ts = wall - offset(zone, wall);
  ts = wall - offset(zone, ts); // second pass settles DST edges
  return ts;
}

export function instantToWall(ts, zone) {
  const p = parts(ts, zone);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

function describe(ts, zone) {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, dateStyle: "medium", timeStyle: "short",
  }).format(new Date(ts));
}

export class TimeRange {
  constructor() {
    this.preset = 60; // minutes; null = custom
    const select = $("time-zone");
    for (const [value, label] of ZONES) {
      const text = value === "local" ? `${label} (${zoneName("local")})` : label;
      select.append(el("option", { value, text }));
    }
    for (const button of document.querySelectorAll("[data-preset]")) {
      button.addEventListener("click", () => this.applyPreset(Number(button.dataset.preset)));
    }
    for (const id of ["time-start", "time-end"]) {
      $(id).addEventListener("input", () => {
        this.preset = null;
        this.markPreset();
        this.summarize();
      });
    }
    select.addEventListener("change", () => {
      if (this.preset) this.applyPreset(this.preset);
      else this.summarize();
    });
    this.applyPreset(60);
  }

  get zone() {
    return zoneName($("time-zone").value);
  }

  markPreset() {
    for (const button of document.querySelectorAll("[data-preset]")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.preset) === this.preset));
    }
  }

  applyPreset(minutes) {
    this.preset = minutes;
    const end = Math.floor(Date.now() / MINUTE) * MINUTE;
    $("time-end").value = instantToWall(end, this.zone);
    $("time-start").value = instantToWall(end - minutes * MINUTE, this.zone);
    this.markPreset();
    this.summarize();
  }

  // {start, end} as epoch ms, or an error message.
  read() {
    if (this.preset) {
      const end = Date.now();
      return { start: end - this.preset * MINUTE, end };
    }
    const start = wallToInstant($("time-start").value, this.zone);
    const end = wallToInstant($("time-end").value, this.zone);
    if (start === null || end === null) return { error: "Enter both the start and the end." };
    if (end <= start) return { error: "The end must be after the start." };
    if (start > Date.now()) return { error: "The range starts in the future." };
    return { start, end };
  }

  summarize() {
    const range = this.read();
    $("time-summary").textContent = range.error
      ? range.error
      : `${describe(range.start, this.zone)} → ${describe(range.end, this.zone)} (${this.zone})`;
  }

  // The body field: RFC 3339 UTC strings, fixed when the user leaves this step.
  freeze() {
    const range = this.read();
    if (range.error) return range;
    this.frozen = {
      start: new Date(range.start).toISOString(),
      end: new Date(range.end).toISOString(),
    };
    return this.frozen;
  }
}
