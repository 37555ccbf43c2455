/*
 * app.js - the admin page's live view (docs/admin.md). Plain JavaScript, no
 * build step. Reads one snapshot from admin/stats, then follows admin/events
 * (a snapshot a second) and keeps ten minutes of points for the charts.
 * The browser sends the credentials it logged in with (HTTP Basic) on these
 * requests by itself; the page never sees or stores the token.
 */
"use strict";

(function () {
  var HISTORY_MS = 10 * 60 * 1000;
  var RECONNECT_MS = 5000;
  var REASONS = ["sold_out", "duplicate", "policy", "closed", "other"];
  var SVG_NS = "http://www.w3.org/2000/svg";
  var history = [];
  var snapshots = 0;

  function $(id) { return document.getElementById(id); }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function fmtCount(n) { return n === null || n === undefined ? "\u2013" : String(n); }

  function fmtRate(r) {
    if (r === null || r === undefined) return "\u2013";
    return r < 10 ? r.toFixed(1) : String(Math.round(r));
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "\u2013";
    return (ms < 10 ? ms.toFixed(2) : String(Math.round(ms))) + " ms";
  }

  function setConn(state, text) {
    var el = $("conn");
    el.dataset.state = state;
    setText(el, text || state);
  }

  function renderCards(s) {
    ["requests", "forbidden", "rate_limited", "unavailable"].forEach(function (k) {
      setText($("rate-" + k), fmtRate(s.rates ? s.rates[k] : null));
    });
    setText($("queue-depth"), fmtCount(s.queue_depth));
    /* The last window when it saw a booking, else since the start. */
    var lat = s.accept_latency || {};
    var use = lat.recent && lat.recent.count > 0 ? lat.recent : lat.since_start || {};
    setText($("latency-p50"), fmtMs(use.p50_ms));
    setText($("latency-p99"), fmtMs(use.p99_ms));
    setText($("event-streams"), fmtCount(s.event_streams));
    setText($("updated"), "updated " + new Date(s.time_ms).toLocaleTimeString());
  }

  function renderBackends(s) {
    var ul = $("backends");
    ["queue", "inventory", "storage"].forEach(function (kind) {
      var b = (s.backends || {})[kind];
      var li = ul.querySelector('li[data-kind="' + kind + '"]');
      if (!li) {
        li = document.createElement("li");
        li.dataset.kind = kind;
        ul.appendChild(li);
      }
      if (!b) return;
      li.dataset.ready = b.ready ? "yes" : "no";
      setText(li, kind + " (" + b.plugin + "): " +
        (b.ready ? "ready" : "down" + (b.detail ? " \u2013 " + b.detail : "")));
    });
  }

  function cell(row, sale, field) {
    var td = row.querySelector('td[data-field="' + field + '"]');
    if (!td) {
      td = document.createElement("td");
      td.dataset.sale = sale;
      td.dataset.field = field;
      row.appendChild(td);
    }
    return td;
  }

  function renderSales(s) {
    var body = $("sales").tBodies[0];
    (s.sales || []).forEach(function (sale) {
      var id = sale.sale_id;
      var row = body.querySelector('tr[data-sale="' + CSS.escape(id) + '"]');
      if (!row) {
        row = document.createElement("tr");
        row.dataset.sale = id;
        body.appendChild(row);
      }
      setText(cell(row, id, "sale_id"), id);
      setText(cell(row, id, "state"), sale.error ? sale.error : sale.state);
      cell(row, id, "state").dataset.state = sale.error ? "unavailable" : sale.state;
      ["inventory", "available", "held", "booked", "expired", "queued",
       "queue_full"].forEach(function (f) {
        setText(cell(row, id, f), fmtCount(sale[f]));
      });
      /* The depth against its limit: "12 / 10000" (0: no limit). */
      if (sale.max_queued)
        setText(cell(row, id, "queued"), fmtCount(sale.queued) + " / " + sale.max_queued);
      REASONS.forEach(function (r) {
        setText(cell(row, id, "rejected." + r), fmtCount((sale.rejected || {})[r]));
      });
    });
  }

  function sum(sales, field) {
    return sales.reduce(function (acc, s) { return acc + (s[field] || 0); }, 0);
  }

  function record(s) {
    var sales = s.sales || [];
    var r = s.rates || {};
    history.push({
      t: s.time_ms,
      requests: r.requests, forbidden: r.forbidden, rate_limited: r.rate_limited,
      available: sum(sales, "available"), held: sum(sales, "held"),
      booked: sum(sales, "booked")
    });
    while (history.length && history[0].t < s.time_ms - HISTORY_MS) history.shift();
  }

  function el(name, attrs) {
    var e = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (v <= steps[i] * p) return steps[i] * p;
    return 10 * p;
  }

  /* Lines of `series` over the last ten minutes, ending now. */
  function drawChart(svg, legend, series) {
    var W = 640, H = 180, L = 44, R = 8, T = 8, B = 22;
    var now = history.length ? history[history.length - 1].t : Date.now();
    var max = 0;
    history.forEach(function (p) {
      series.forEach(function (s) { if (p[s.key] > max) max = p[s.key]; });
    });
    max = niceMax(max);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    function x(t) { return L + (W - L - R) * (1 - (now - t) / HISTORY_MS); }
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    [0, 0.5, 1].forEach(function (f) {
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), "class": "grid" }));
      var label = el("text", { x: L - 6, y: y(max * f) + 4, "class": "axis", "text-anchor": "end" });
      label.textContent = String(+(max * f).toPrecision(3));
      svg.appendChild(label);
    });
    [[now - HISTORY_MS, "-10 min", "start"], [now - HISTORY_MS / 2, "-5 min", "middle"],
     [now, "now", "end"]].forEach(function (a) {
      var t = el("text", { x: x(a[0]), y: H - 6, "class": "axis", "text-anchor": a[2] });
      t.textContent = a[1];
      svg.appendChild(t);
    });
    series.forEach(function (s, i) {
      var pts = history.filter(function (p) { return p[s.key] !== null && p[s.key] !== undefined; })
        .map(function (p) { return x(p.t).toFixed(1) + "," + y(p[s.key]).toFixed(1); });
      if (pts.length === 1) pts.push(pts[0]);
      svg.appendChild(el("polyline", { points: pts.join(" "), "class": "line s" + i }));
    });
    if (!legend.childNodes.length) {
      series.forEach(function (s, i) {
        var span = document.createElement("span");
        span.className = "key s" + i;
        span.textContent = s.label;
        legend.appendChild(span);
      });
    }
  }

  function apply(s) {
    renderCards(s);
    renderBackends(s);
    renderSales(s);
    record(s);
    drawChart($("chart-rates"), $("legend-rates"), [
      { key: "requests", label: "requests" }, { key: "forbidden", label: "403" },
      { key: "rate_limited", label: "429" }]);
    drawChart($("chart-stock"), $("legend-stock"), [
      { key: "available", label: "available" }, { key: "held", label: "held" },
      { key: "booked", label: "booked" }]);
    snapshots++;
    document.body.dataset.snapshots = String(snapshots);
  }

  function follow() {
    var es = new EventSource("admin/events");
    es.addEventListener("stats", function (e) {
      setConn("live");
      apply(JSON.parse(e.data));
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        /* Refused (a bound, or the daemon went away): try again later. */
        es.close();
        setConn("offline", "offline, retrying");
        setTimeout(follow, RECONNECT_MS);
      } else {
        setConn("reconnecting");
      }
    };
  }

  function start() {
    fetch("admin/stats", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(apply)
      .catch(function (e) { setConn("offline", "offline: " + e.message); });
    follow();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
