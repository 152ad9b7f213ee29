"""The tracking snippet (under 300 bytes), its framework wrappers, and tracker.js per key.

tracker.js is a static template inside the package with the key's configuration inlined:
the endpoint, the options, and the user's *active* metric definitions (type and label
names). Its ETag is the hash of the rendered body, so it changes whenever a definition,
an option or the endpoint changes and browsers revalidating a cached copy get the new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from promkit.tracker.catalog import Definition

CONFIG_MARKER = "/*PROMKIT_CONFIG*/ null"
SNIPPET_LIMIT = 300


@cache
def _template() -> str:
    text = (resources.files("promkit.tracker") / "static" / "tracker.js").read_text("utf-8")
    assert CONFIG_MARKER in text
    return text


def _js_string(value: str) -> str:
    """A JS string literal that is also safe inside an HTML <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace("\u2028", "\\u2028")


def tracker_url(base_url: str, api_key: str, auto_track: bool, custom_events: bool) -> str:
    from urllib.parse import quote

    return (
        f"{base_url.rstrip('/')}/api/v1/tracker.js?k={quote(api_key, safe='')}"
        f"&a={int(auto_track)}&c={int(custom_events)}"
    )


def snippet(base_url: str, api_key: str, auto_track: bool, custom_events: bool) -> str:
    """The JS one-liner: a command queue plus an async <script> that loads tracker.js."""
    src = _js_string(tracker_url(base_url, api_key, auto_track, custom_events))
    return (
        "(function(w,d,s){w.metricsTracker=w.metricsTracker||[];"
        "s=d.createElement('script');s.async=1;"
        f"s.src={src};d.head.appendChild(s)}})(window,document)"
    )


@dataclass(frozen=True)
class Wrappers:
    html: str
    react: str
    vue: str


def wrappers(code: str) -> Wrappers:
    return Wrappers(
        html=f"<script>{code}</script>",
        react=(
            'import { useEffect } from "react";\n\n'
            "// Call once in your root component: useMetricsTracker();\n"
            "export function useMetricsTracker() {\n"
            "  useEffect(() => {\n"
            "    if (window.__promkitSnippet) return;\n"
            "    window.__promkitSnippet = true;\n"
            f"    {code};\n"
            "  }, []);\n"
            "}\n"
            "export const track = (...args) =>\n"
            '  (window.metricsTracker = window.metricsTracker || []).push(["track", ...args]);\n'
        ),
        vue=(
            "// app.use(metricsTracker); then this.$track(name, value, labels)\n"
            "export default {\n"
            "  install(app) {\n"
            f"    {code};\n"
            "    app.config.globalProperties.$track = (...args) =>\n"
            "      (window.metricsTracker = window.metricsTracker || [])\n"
            '        .push(["track", ...args]);\n'
            "  },\n"
            "};\n"
        ),
    )


@dataclass(frozen=True)
class Script:
    body: bytes
    etag: str


def render_tracker(
    api_key: str,
    endpoint: str,
    definitions: Iterable[Definition],
    auto_track: bool,
    custom_events: bool,
) -> Script:
    metrics = {
        d.metric_name: {"t": d.metric_type, "l": sorted(d.label_names)}
        for d in sorted(definitions, key=lambda d: d.metric_name)
        if d.status == "active"
    }
    config = {"k": api_key, "e": endpoint, "m": metrics, "a": auto_track, "c": custom_events}
    literal = json.dumps(config, separators=(",", ":"), sort_keys=True)
    literal = literal.replace("<", "\\u003c").replace("\u2028", "\\u2028")
    body = _template().replace(CONFIG_MARKER, literal, 1).encode()
    return Script(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')


__all__ = [
    "SNIPPET_LIMIT",
    "Script",
    "Wrappers",
    "render_tracker",
    "snippet",
    "tracker_url",
    "wrappers",
]
