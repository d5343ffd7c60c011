// line311 wallboard: live snapshots over Server-Sent Events, rendered in place.
// Rows are keyed and updated, not rebuilt, so keyboard focus survives every update.
"use strict";

(function () {
  // the badge says the queue's state (the colour is its status: green, amber, red)
  const QUEUE_STATE_WORDS = {
    "on-goal": "On goal",
    "at-risk": "At risk",
    "below-goal": "Below goal",
    none: "No calls",
  };
  // what "SL" means, by formula (line311.queue.service_level.SlFormula), T and S in seconds
  const FORMULA_WORDS = {
    "asterisk-sl2": "(answered within T + abandoned within T) ÷ (answered + abandoned + timed out)",
    "answered-only": "answered within T ÷ answered",
    "all-calls": "answered within T ÷ (answered + abandoned + timed out)",
    "exclude-abandons-within-threshold":
      "answered within T ÷ (answered + abandoned after T + timed out)",
    "exclude-short-abandons":
      "answered within T ÷ (answered + abandoned after S + timed out)",
  };
  const STATE_WORDS = {
    available: "Available",
    reserved: "Ringing",
    on_call: "On call",
    wrap_up: "Wrap-up",
    paused: "Paused",
    logged_out: "Logged out",
  };
  const PAUSE_REASONS = ["break", "lunch", "coaching", "meeting", "training", "supervisor"];

  let me = null;
  let source = null;
  let reconnectTimer = null;
  let lastSnapshot = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setText(node, text) {
    const value = String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  function pct(x) {
    return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%";
  }

  function secs(x) {
    if (x === null || x === undefined) return "—";
    const s = Math.round(x);
    if (s < 60) return s + " s";
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const r = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + r : m + ":" + r;
  }

  function hhmm(ts) {
    const d = new Date(ts * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function say(message, kind) {
    const node = $("action-status");
    node.textContent = message;
    node.dataset.kind = kind || "info";
  }

  // ------------------------------------------------------------------ actions
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": me ? me.csrf : "" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = {};
    }
    if (response.status === 401) {
      // signed out (idle too long, elsewhere, or the account disabled): sign in again
      window.location.assign("/login");
    }
    if (!response.ok) {
      throw new Error(data.message || "HTTP " + response.status);
    }
    return data;
  }

  // ------------------------------------------------------------------ idle timeout
  // The server refuses a session unused for me.idle_timeout seconds; watching this board
  // (the live feed) is not use, so a wall screen keeps showing it. Our user's own input
  // is: it is reported at most once a minute, and once the session has been idle too
  // long the first input takes the page to sign-in.
  let lastActivity = 0;
  let activityInFlight = false;

  async function userActive() {
    if (!me || !me.idle_timeout || activityInFlight) return;
    const every = Math.min(60000, (me.idle_timeout * 1000) / 4);
    if (Date.now() - lastActivity < every) return;
    lastActivity = Date.now();
    activityInFlight = true;
    try {
      const response = await fetch("/api/activity", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": me.csrf },
      });
      if (response.status === 401) window.location.assign("/login");
    } catch (err) {
      lastActivity = 0; // unreachable: say so with the next input
    } finally {
      activityInFlight = false;
    }
  }

  async function act(label, url, body) {
    say(label + "…");
    try {
      await post(url, body);
      say(label + ": done.", "ok");
    } catch (err) {
      say(label + " failed: " + err.message, "error");
    }
  }

  // ------------------------------------------------------------------ rendering
  function keyed(container, key, create) {
    let node = container.querySelector(":scope > [data-key=\"" + CSS.escape(key) + "\"]");
    if (!node) {
      node = create();
      node.dataset.key = key;
      container.appendChild(node);
    }
    return node;
  }

  function prune(container, keys) {
    for (const child of Array.from(container.children)) {
      if (!keys.has(child.dataset.key)) child.remove();
    }
  }

  // term, then value (as HTML wants a dl's group, and a screen reader reads it)
  function figure(dl, name, label, big) {
    const wrap = el("div");
    wrap.appendChild(el("dt", {}, label));
    wrap.appendChild(el("dd", { "data-f": name, class: big ? "big" : "" }, "—"));
    dl.appendChild(wrap);
  }

  function createQueue(q) {
    const card = el("article", { class: "queue", "aria-labelledby": "q-" + q.name });
    const h = el("h3", { id: "q-" + q.name });
    h.appendChild(el("span", { class: "qname" }, q.name));
    h.appendChild(el("span", { class: "badge" }, ""));
    card.appendChild(h);
    const dl = el("dl", { class: "figures" });
    figure(dl, "waiting", "Calls waiting", true);
    figure(dl, "longest", "Longest wait", true);
    figure(dl, "sl-interval", "SL this interval");
    figure(dl, "sl-today", "SL today");
    figure(dl, "goal", "SL goal");
    figure(dl, "asa", "ASA today");
    figure(dl, "abandoned", "Abandoned today");
    figure(dl, "offered", "Offered today");
    card.appendChild(dl);
    const form = el("form", { class: "goal-form sup-only" });
    const id = "goal-" + q.name;
    form.appendChild(el("label", { for: id }, "New goal (%)"));
    const input = el("input", { id: id, type: "number", min: "1", max: "100", step: "1" });
    form.appendChild(input);
    form.appendChild(el("button", { type: "submit" }, "Set goal"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = Number(input.value);
      if (!(value > 0 && value <= 100)) {
        say("Goal must be between 1 and 100 %.", "error");
        return;
      }
      act("Set goal of " + q.name + " to " + value + "%",
        "/api/queues/" + encodeURIComponent(q.name) + "/goal", { goal: value / 100 });
    });
    card.appendChild(form);
    return card;
  }

  function renderQueues(queues) {
    const box = $("queues");
    $("no-queues").hidden = queues.length > 0;
    const keys = new Set();
    for (const q of queues) {
      keys.add(q.name);
      const card = keyed(box, q.name, () => createQueue(q));
      card.dataset.status = q.status;
      const badge = card.querySelector(".badge");
      badge.dataset.status = q.status;
      setText(badge, QUEUE_STATE_WORDS[q.state] || q.state);
      // each caller is a miss of the interval they entered in, so this interval's
      // projection counts only those who entered in it
      badge.title = q.waiting_past_threshold
        ? q.waiting_past_threshold + " waiting longer than " + q.threshold +
          " s, counted as misses where they entered: SL " + pct(q.interval.projected_sl) +
          " this interval (" + q.interval.waiting_past_threshold + " of them), " +
          pct(q.today.projected_sl) + " today"
        : "";
      const f = (name) => card.querySelector("[data-f=\"" + name + "\"]");
      // pending callbacks in smaller type, so "12 +3 cb" fits the tile's fixed width
      const waiting = f("waiting");
      if (!waiting.querySelector("small")) {
        waiting.replaceChildren(document.createTextNode(""), el("small"));
      }
      setText(waiting.firstChild, q.waiting);
      setText(waiting.lastChild, q.callbacks_pending ? " +" + q.callbacks_pending + " cb" : "");
      setText(f("longest"), secs(q.longest_wait));
      setText(f("sl-interval"), pct(q.interval.sl));
      setText(f("sl-today"), pct(q.today.sl));
      setText(f("goal"), Math.round(q.goal * 1000) / 10 + "%");
      f("goal").title = "answered within " + q.threshold + " s";
      setText(f("asa"), secs(q.today.asa));
      setText(f("abandoned"), q.today.abandoned);
      setText(f("offered"), q.today.offered);
    }
    prune(box, keys);
  }

  function createAgentRow(a) {
    const tr = el("tr");
    tr.appendChild(el("th", { scope: "row", class: "name" }));
    tr.appendChild(el("td", { class: "state" }));
    tr.appendChild(el("td", { class: "num tis" }));
    tr.appendChild(el("td", { class: "num calls" }));
    tr.appendChild(el("td", { class: "num aht" }));
    const td = el("td", { class: "sup-only" });
    const acts = el("div", { class: "acts" });
    const selId = "reason-" + a.id;
    acts.appendChild(el("label", { for: selId, class: "visually-hidden" }, "Reason"));
    const select = el("select", { id: selId, "aria-label": "Pause reason for " + a.name });
    for (const r of PAUSE_REASONS) select.appendChild(el("option", { value: r }, r));
    acts.appendChild(select);
    const pause = el("button", { type: "button", class: "pause" }, "Pause");
    pause.setAttribute("aria-label", "Pause " + a.name);
    pause.addEventListener("click", () =>
      act("Pause " + a.name, "/api/agents/" + encodeURIComponent(a.id) + "/pause",
        { reason: select.value }));
    const logout = el("button", { type: "button", class: "logout danger" }, "Log out");
    logout.setAttribute("aria-label", "Log out " + a.name);
    logout.addEventListener("click", () => {
      if (window.confirm("Log out " + a.name + "?")) {
        act("Log out " + a.name, "/api/agents/" + encodeURIComponent(a.id) + "/logout",
          { reason: select.value });
      }
    });
    acts.appendChild(pause);
    acts.appendChild(logout);
    td.appendChild(acts);
    tr.appendChild(td);
    return tr;
  }

  function renderAgents(agents) {
    const body = $("agents");
    $("no-agents").hidden = agents.length > 0;
    $("agents-table").hidden = agents.length === 0;
    const keys = new Set();
    for (const a of agents) {
      keys.add(a.id);
      const tr = keyed(body, a.id, () => createAgentRow(a));
      setText(tr.querySelector(".name"), a.name === a.id ? a.id : a.name + " (" + a.id + ")");
      const st = tr.querySelector(".state");
      st.dataset.state = a.state;
      setText(st, (STATE_WORDS[a.state] || a.state) + (a.reason ? " — " + a.reason : ""));
      setText(tr.querySelector(".tis"), secs(a.time_in_state));
      setText(tr.querySelector(".calls"), a.calls_handled);
      setText(tr.querySelector(".aht"), secs(a.aht));
    }
    prune(body, keys);
  }

  function renderCounts(counts) {
    const dl = $("agent-counts");
    const keys = new Set();
    for (const state of ["available", "reserved", "on_call", "wrap_up", "paused"]) {
      keys.add(state);
      const item = keyed(dl, state, () => {
        const wrap = el("div");
        wrap.appendChild(el("dt", {}, STATE_WORDS[state]));
        wrap.appendChild(el("dd", {}, "0"));
        return wrap;
      });
      setText(item.querySelector("dd"), counts[state] || 0);
    }
    prune(dl, keys);
  }

  function renderAlerts(alerts) {
    const list = $("alerts");
    $("no-alerts").hidden = alerts.length > 0;
    list.hidden = alerts.length === 0;
    const keys = new Set();
    for (const a of alerts) {
      keys.add(a.id);
      const li = keyed(list, a.id, () => {
        const item = el("li");
        item.appendChild(el("span", { class: "sev" }));
        item.appendChild(el("span", { class: "title" }));
        item.appendChild(el("span", { class: "msg" }));
        const b = el("button", { type: "button", class: "sup-only danger" }, "Withdraw");
        b.setAttribute("aria-label", "Withdraw alert " + a.title);
        b.addEventListener("click", () => {
          if (window.confirm("Withdraw alert \u201c" + a.title + "\u201d?")) {
            act("Withdraw alert " + a.title,
              "/api/alerts/" + encodeURIComponent(a.id) + "/withdraw");
          }
        });
        item.appendChild(b);
        return item;
      });
      setText(li.querySelector(".sev"), a.severity);
      setText(li.querySelector(".title"), a.title);
      setText(li.querySelector(".msg"), a.message || "");
    }
    prune(list, keys);
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function renderChart(snap) {
    const points = snap.chart;
    const W = 960, H = 240, L = 40, R = 50, T = 10, B = 30;
    const w = W - L - R, h = H - T - B;
    const maxOffered = Math.max(1, ...points.map((p) => p.offered));
    const n = Math.max(points.length, 1);
    const step = w / n;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    const total = points.reduce((s, p) => s + p.offered, 0);
    const last = points.length ? points[points.length - 1] : null;
    const summary = "Calls offered today: " + total + ". Service level in the current interval: "
      + pct(last ? last.sl : null) + ".";
    root.setAttribute("aria-label", summary);
    const title = svg("title");
    title.textContent = summary;
    root.appendChild(title);
    root.appendChild(svg("line", { class: "axis", x1: L, y1: T + h, x2: L + w, y2: T + h }));
    points.forEach((p, i) => {
      const bh = (p.offered / maxOffered) * h;
      root.appendChild(svg("rect", {
        class: "bar", x: L + i * step + 1, y: T + h - bh, width: Math.max(1, step - 2), height: bh,
      }));
      if (i % 8 === 0) {
        const t = svg("text", { x: L + i * step, y: H - 8 });
        t.textContent = hhmm(p.start);
        root.appendChild(t);
      }
    });
    const goal = snap.queues.length ? snap.queues[0].goal : snap.policy.default_goal;
    const gy = T + h - goal * h;
    root.appendChild(svg("line", { class: "goal", x1: L, y1: gy, x2: L + w, y2: gy }));
    const gl = svg("text", { x: L + w + 4, y: gy + 5 });
    gl.textContent = Math.round(goal * 100) + "%";
    root.appendChild(gl);
    const coords = points
      .map((p, i) => (p.sl === null ? null : (L + i * step + step / 2) + "," + (T + h - p.sl * h)))
      .filter((c) => c !== null);
    if (coords.length) {
      root.appendChild(svg("polyline", { class: "sl", points: coords.join(" ") }));
      for (const c of coords) {
        const [cx, cy] = c.split(",");
        root.appendChild(svg("circle", { class: "sl-dot", cx: cx, cy: cy, r: 5 }));
      }
    }
    const ymax = svg("text", { x: 2, y: T + 12 });
    ymax.textContent = String(maxOffered);
    root.appendChild(ymax);
    const box = $("chart");
    box.replaceChildren(root);
  }

  function renderFormula(policy) {
    const words = FORMULA_WORDS[policy.formula] || policy.formula;
    setText($("sl-formula"),
      "SL = " + words + ", with T each queue's threshold (default " + policy.threshold +
      " s) and S = " + policy.short_abandon_threshold + " s. At risk: the SL would fall " +
      "below the goal if every caller now waiting longer than T counted as a miss " +
      "(answered late or abandoned after T).");
  }

  function render(snap) {
    lastSnapshot = snap;
    // shown with the first snapshot, laid out with its data (same task: no frame in between)
    $("main").setAttribute("aria-busy", "false");
    renderAlerts(snap.alerts);
    renderQueues(snap.queues);
    renderFormula(snap.policy);
    setText($("ivr-now"), snap.ivr.in_ivr);
    setText($("ivr-share"), pct(snap.ivr.resolved_share));
    setText($("ivr-left"), snap.ivr.left_today);
    renderCounts(snap.agent_counts);
    renderAgents(snap.agents);
    renderChart(snap);
    document.body.dataset.version = String(snap.version);
  }

  // ------------------------------------------------------------------ live feed
  function setConn(state, text) {
    const node = $("conn");
    node.dataset.state = state;
    setText(node, text);
  }

  function connect() {
    if (source) source.close();
    setConn(lastSnapshot ? "reconnecting" : "connecting",
      lastSnapshot ? "Reconnecting…" : "Connecting…");
    source = new EventSource("/api/live");
    source.addEventListener("snapshot", (ev) => {
      setConn("live", "Live");
      try {
        render(JSON.parse(ev.data));
      } catch (err) {
        say("Could not show an update: " + err.message, "error");
      }
    });
    source.addEventListener("open", () => setConn("live", "Live"));
    source.addEventListener("error", () => {
      setConn("reconnecting", "Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. 401 or 503): check the session, then retry.
        clearTimeout(reconnectTimer);
        reconnectTimer = setTimeout(start, 3000);
      }
    });
  }

  async function start() {
    try {
      const response = await fetch("/api/me", { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.assign("/login");
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      me = await response.json();
    } catch (err) {
      setConn("reconnecting", "Server unreachable, retrying…");
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(start, 3000);
      return;
    }
    setText($("who"), me.username + " (" + me.role + ")");
    document.body.classList.toggle("supervisor", Boolean(me.can_act));
    connect();
  }

  function tick() {
    const d = new Date();
    setText($("clock"), d.toLocaleTimeString([], { hour12: false }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signout").addEventListener("click", async () => {
      try {
        await post("/logout");
      } finally {
        window.location.assign("/login");
      }
    });
    // a key, a click, a scroll or a touch; not pointer moves, which the browser also makes
    // up when the board changes under a resting cursor (that would keep an unattended
    // session from ever going idle)
    for (const kind of ["pointerdown", "keydown", "wheel", "touchstart"]) {
      document.addEventListener(kind, userActive, { passive: true, capture: true });
    }
    tick();
    setInterval(tick, 1000);
    start();
  });
})();
