/* promkit tracker: generated per API key and options. No cookies, no storage. */
(function (w, d) {
  "use strict";
  var C = /*PROMKIT_CONFIG*/ null;
  if (!C || w.__promkitTracker) return;
  w.__promkitTracker = 1;
  var MAX_BATCH = 10, WAIT = 5000, RETRIES = 3, MAX_QUEUE = 200, MAX_LABEL = 128;
  var batch = [], timer = 0, queue = [], sending = 0;

  function def(name) { return Object.prototype.hasOwnProperty.call(C.m, name) ? C.m[name] : null; }
  function labelsFor(m, labels) {
    var out = {}, k, v;
    for (k in labels || {}) {
      if (m.l.indexOf(k) < 0) continue;
      v = labels[k];
      if (v === null || v === undefined) continue;
      out[k] = String(v).slice(0, MAX_LABEL);
    }
    return out;
  }
  // record(name, value, labels, operation): false when the metric is not defined here.
  function record(name, value, labels, op) {
    var m = def(name);
    if (!m) return false;
    var v = typeof value === "number" ? value : Number(value);
    if (!isFinite(v)) return false;
    var s = { name: name, type: m.t, value: v, labels: labelsFor(m, labels) };
    if (op) s.operation = op;
    batch.push(s);
    if (batch.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(flush, WAIT);
    return true;
  }
  function post(items, attempt) {
    sending++;
    fetch(C.e, {
      method: "POST", keepalive: true, credentials: "omit",
      headers: { "Content-Type": "application/json", "X-API-Key": C.k },
      body: JSON.stringify({ metrics: items })
    }).then(function (r) {
      sending--;
      // Only overload and server errors are worth a retry; a 4xx will fail again.
      if (r.status === 429 || r.status >= 500) retry(items, attempt);
    }, function () { sending--; retry(items, attempt); });
  }
  function retry(items, attempt) {
    if (attempt < RETRIES) {
      setTimeout(function () { post(items, attempt + 1); }, 1000 * Math.pow(2, attempt));
    } else {
      queue = queue.concat(items).slice(-MAX_QUEUE);
    }
  }
  function flush() {
    if (timer) { clearTimeout(timer); timer = 0; }
    var items = queue.concat(batch);
    queue = []; batch = [];
    for (var i = 0; i < items.length; i += 100) post(items.slice(i, i + 100), 0);
  }
  // On pagehide fetch may be cancelled: a beacon survives, with the key in the URL.
  function beacon() {
    if (timer) { clearTimeout(timer); timer = 0; }
    var items = queue.concat(batch);
    if (!items.length) return;
    queue = []; batch = [];
    var body = JSON.stringify({ metrics: items.slice(0, 100) });
    var url = C.e + (C.e.indexOf("?") < 0 ? "?" : "&") + "api_key=" + encodeURIComponent(C.k);
    var sent = false;
    try { sent = navigator.sendBeacon(url, new Blob([body], { type: "text/plain" })); } catch (e) {}
    if (!sent) post(items, RETRIES);
  }

  var api = {
    track: function (n, v, l) { return record(n, v === undefined ? 1 : v, l); },
    increment: function (n, by, l) {
      var m = def(n); if (!m) return false;
      return record(n, by === undefined ? 1 : by, l, m.t === "gauge" ? "inc" : null);
    },
    decrement: function (n, by, l) {
      var m = def(n); if (!m || m.t !== "gauge") return false;
      return record(n, by === undefined ? 1 : by, l, "dec");
    },
    set: function (n, v, l) {
      var m = def(n); if (!m || m.t !== "gauge") return false;
      return record(n, v, l, "set");
    },
    observe: function (n, v, l) {
      var m = def(n); if (!m || (m.t !== "histogram" && m.t !== "summary")) return false;
      return record(n, v, l);
    },
    flush: flush,
    pending: function () { return batch.length + queue.length; }
  };
  function page() { return { page: location.pathname }; }

  w.addEventListener("pagehide", function () { vitals(); beacon(); });
  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState === "hidden") { vitals(); beacon(); }
  });
  w.addEventListener("online", function () { if (queue.length) flush(); });

  // ---- automatic tracking (a=1)
  var lastPath = null, reported = {};
  function pageView() {
    if (location.pathname === lastPath) return;
    lastPath = location.pathname;
    record("page_views", 1, page());
  }
  function vitals() {
    for (var name in reported) {
      if (reported[name] !== null) { record(name, reported[name], page()); reported[name] = null; }
    }
  }
  function observe(type, cb, opts) {
    try {
      var o = new PerformanceObserver(function (list) { list.getEntries().forEach(cb); });
      var options = { type: type, buffered: true };
      for (var k in opts || {}) options[k] = opts[k];
      o.observe(options);
    } catch (e) {}
  }
  function timings() {
    var nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    if (!nav || nav.loadEventEnd <= 0) return false;
    var s0 = nav.startTime, pairs = [
      ["page_load_time", nav.loadEventEnd - s0], ["ttfb", nav.responseStart - s0],
      ["dom_content_loaded", nav.domContentLoadedEventEnd - s0],
      ["dns_lookup_time", nav.domainLookupEnd - nav.domainLookupStart],
      ["tcp_connect_time", nav.connectEnd - nav.connectStart]
    ];
    pairs.forEach(function (p) { if (p[1] >= 0) record(p[0], Math.round(p[1]), page()); });
    return true;
  }
  function autoTrack() {
    pageView();
    ["pushState", "replaceState"].forEach(function (fn) {
      var orig = history[fn];
      history[fn] = function () {
        var r = orig.apply(this, arguments);
        setTimeout(pageView, 0);
        return r;
      };
    });
    w.addEventListener("popstate", pageView);
    w.addEventListener("hashchange", pageView);
    // loadEventEnd is only set after the load handlers ran: read it a tick later.
    if (d.readyState === "complete") setTimeout(timings, 0);
    else w.addEventListener("load", function () { setTimeout(timings, 0); });
    observe("paint", function (e) {
      if (e.name === "first-contentful-paint") record("fcp", Math.round(e.startTime), page());
    });
    observe("largest-contentful-paint", function (e) { reported.lcp = Math.round(e.startTime); });
    var cls = 0;
    observe("layout-shift", function (e) {
      if (!e.hadRecentInput) { cls += e.value; reported.cls = Math.round(cls * 1000) / 1000; }
    });
    var inp = 0;
    observe("event", function (e) {
      if (e.interactionId && e.duration > inp) { inp = e.duration; reported.inp = inp; }
    }, { durationThreshold: 40 });
    // Listen, never assign window.onerror: the page's own handlers keep working.
    w.addEventListener("error", function (e) {
      if (e && e.target && e.target !== w) return;  // resource load errors
      record("javascript_errors", 1, { page: location.pathname, kind: "error" });
    });
    w.addEventListener("unhandledrejection", function () {
      record("javascript_errors", 1, { page: location.pathname, kind: "rejection" });
    });
  }

  // ---- attribute events (c=1): <button data-track="signup_clicks" data-label-plan="pro">
  function attributes(el) {
    var labels = {}, a;
    for (var i = 0; i < el.attributes.length; i++) {
      a = el.attributes[i];
      if (a.name.indexOf("data-label-") === 0) labels[a.name.slice(11).replace(/-/g, "_")] = a.value;
    }
    var raw = el.getAttribute("data-value");
    return { name: el.getAttribute("data-track"), value: raw === null ? 1 : Number(raw), labels: labels };
  }
  function customEvents() {
    d.addEventListener("click", function (e) {
      var el = e.target && e.target.closest && e.target.closest("[data-track]");
      if (!el || el.tagName === "FORM") return;
      var ev = attributes(el);
      record(ev.name, ev.value, ev.labels);
    }, true);
    d.addEventListener("submit", function (e) {
      var el = e.target;
      if (!el || !el.getAttribute || el.getAttribute("data-track") === null) return;
      var ev = attributes(el);
      record(ev.name, ev.value, ev.labels);
    }, true);
  }

  if (C.a) autoTrack();
  if (C.c) customEvents();
  // Commands queued by the snippet before this file loaded: ["track", name, value, labels].
  var early = w.metricsTracker;
  var run = function (cmd) { if (cmd && api[cmd[0]]) api[cmd[0]].apply(null, cmd.slice(1)); };
  w.metricsTracker = { push: run };
  for (var k in api) w.metricsTracker[k] = api[k];
  w.MetricsTracker = w.metricsTracker;
  if (early && early.length) early.forEach(run);
})(window, document);
