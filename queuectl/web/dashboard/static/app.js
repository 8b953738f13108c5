// queuectl dashboard: fills the server's page shells from the REST API and keeps them live
// with /api/events. Hand-written, no dependencies. Data goes into the page only through
// textContent and attributes (h()), never as HTML.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const enc = encodeURIComponent;
  const SVG = "http://www.w3.org/2000/svg";
  const STATES = ["pending", "processing", "failed", "dead", "completed", "cancelled"];
  const page = document.body.dataset.page;
  let info = { read_only: true };

  // ---- DOM and formatting helpers ----
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }
  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text != null) el.textContent = text;
    return el;
  }
  const setText = (sel, text) => { const el = $(sel); if (el && el.textContent !== String(text)) el.textContent = text; };
  const fmtN = (n) => Number(n || 0).toLocaleString("en-US");
  const ms = (t) => (t == null ? null : typeof t === "number" ? (t < 1e12 ? t * 1000 : t) : Date.parse(t));
  function span(sec) {
    if (sec == null || Number.isNaN(sec)) return "–";
    sec = Math.max(0, sec);
    if (sec < 10) return sec.toFixed(1) + "s";
    if (sec < 60) return Math.round(sec) + "s";
    if (sec < 3600) return Math.floor(sec / 60) + "m " + Math.floor(sec % 60) + "s";
    if (sec < 86400) return Math.floor(sec / 3600) + "h " + Math.floor((sec % 3600) / 60) + "m";
    return Math.floor(sec / 86400) + "d " + Math.floor((sec % 86400) / 3600) + "h";
  }
  // A cell whose age keeps counting on the client (one timer, no server requests).
  function since(t, suffix = " ago") {
    const at = ms(t);
    if (at == null) return h("span", {}, "–");
    return h("time", { datetime: new Date(at).toISOString(), title: new Date(at).toISOString(), "data-since": at, "data-suffix": suffix },
      span((Date.now() - at) / 1000) + suffix);
  }
  setInterval(() => {
    for (const el of $$("[data-since]")) el.textContent = span((Date.now() - Number(el.dataset.since)) / 1000) + el.dataset.suffix;
  }, 1000);
  const badge = (state) => h("span", { class: "state state-" + state }, state);
  const jobLink = (id) => h("a", { href: "/jobs/" + enc(id) }, id);
  function cmd(text) {
    const b = h("button", { type: "button", class: "cmd", title: text, "aria-expanded": "false" }, text);
    b.addEventListener("click", () => b.setAttribute("aria-expanded", String(b.classList.toggle("open"))));
    return b;
  }
  const listOf = (d, key) => (Array.isArray(d) ? d : (d && d[key]) || []);
  function throttle(fn, wait) {
    let timer = null, again = false;
    return function run() {
      if (timer) { again = true; return; }
      fn();
      timer = setTimeout(() => { timer = null; if (again) { again = false; run(); } }, wait);
    };
  }

  // ---- API ----
  class ApiError extends Error {
    constructor(status, body) { super((body && body.error) || "HTTP " + status); this.status = status; this.field = body && body.field; }
  }
  const cookie = (name) => { const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)")); return m ? decodeURIComponent(m[1]) : null; };
  async function api(method, path, body, signal) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" }, signal };
    if (method !== "GET") { const t = cookie("queuectl_csrf"); if (t) opts.headers["X-Queuectl-Csrf"] = t; }
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch(path, opts);
    if (r.status === 401) location.assign("/login?next=" + enc(location.pathname + location.search));
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { error: text.slice(0, 200) }; }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }
  function flash(message, error = false) {
    const el = $("#flash");
    el.textContent = message;
    el.classList.toggle("error", error);
    clearTimeout(flash.timer);
    if (!error) flash.timer = setTimeout(() => { el.textContent = ""; }, 6000);
  }
  const writable = () => !info.read_only;
  function confirmAction(message, label) {
    const d = $("#confirm");
    $("#confirm-msg").textContent = message;
    $("#confirm-ok").textContent = label;
    d.returnValue = "";
    d.showModal();
    $("#confirm-cancel").focus();
    return new Promise((resolve) => d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true }));
  }
  // Run one action: confirm if asked, call the API, report, then refresh the view.
  async function act({ ask, label, method = "POST", path, body, done, after }) {
    if (ask && !(await confirmAction(ask, label))) return;
    try {
      const out = await api(method, path, body);
      flash(typeof done === "function" ? done(out) : done);
      if (after) await after(out);
    } catch (e) { flash(e.message, true); }
  }
  const button = (label, onclick, cls = "") => h("button", { type: "button", class: cls, onclick }, label);

  // ---- live events ----
  const handlers = { status: [], jobs: [], workers: [] };
  const on = (name, fn) => handlers[name].push(fn);
  // One event stream per browser, whatever the number of tabs: a browser allows six
  // connections to a host, so a stream per tab left the seventh tab blank. The tab that
  // holds the "queuectl-events" lock reads the stream and relays each event to the other
  // tabs over a BroadcastChannel; when it closes, the lock (and the stream) passes to
  // another tab. A new tab asks the leader for its latest status at once.
  // "Pause live updates": events are held back (the last of each kind kept) and applied
  // when the user resumes, so nothing moves under a reader.
  let livePaused = false;
  const held = new Map();
  function deliver(name, raw) {
    if (livePaused) { held.set(name, raw); document.body.dataset.held = String(held.size); return; }
    let data = null;
    try { data = JSON.parse(raw); } catch { /* a hint without a body */ }
    for (const fn of handlers[name]) fn(data);
  }
  function setupLiveToggle() {
    const toggle = $("#live-toggle");
    if (!toggle) return;
    toggle.addEventListener("click", () => {
      livePaused = !livePaused;
      toggle.setAttribute("aria-pressed", String(livePaused));
      toggle.textContent = livePaused ? "Resume live updates" : "Pause live updates";
      if (!livePaused) { const due = [...held]; held.clear(); for (const [name, raw] of due) deliver(name, raw); }
    });
  }
  // Live re-renders keep the user's place: the focused control (found again by its row
  // and label), and what was expanded.
  function rowKey(el) {
    const row = el.closest("[data-id],[data-worker],[data-queue],[data-key]");
    if (!row) return null;
    const id = row.dataset.id || row.dataset.worker || row.dataset.queue || row.dataset.key;
    return [id, el.tagName, el.getAttribute("aria-label") || el.textContent.trim().slice(0, 80)].join("|");
  }
  function keepPlace(container, render) {
    const active = document.activeElement;
    const focusKey = active && container.contains(active) ? rowKey(active) : null;
    const open = new Set($$("details[open]", container).map(rowKey));
    render();
    for (const d of $$("details", container)) if (open.has(rowKey(d))) d.open = true;
    if (focusKey) {
      const again = $$("button, a, input, summary, details", container).find((el) => rowKey(el) === focusKey);
      if (again) again.focus();
    }
  }
  function showLive(on) {
    const live = $("#live");
    live.classList.toggle("on", on);
    live.title = on ? "Live updates: connected" : "Live updates: reconnecting";
  }
  function connect() {
    const channel = "BroadcastChannel" in window && navigator.locks ? new BroadcastChannel("queuectl-events") : null;
    let lastStatus = null;
    function lead() {
      const es = new EventSource("/api/events");
      for (const name of Object.keys(handlers)) {
        es.addEventListener(name, (e) => {
          if (name === "status") lastStatus = e.data;
          deliver(name, e.data);
          if (channel) channel.postMessage({ name, raw: e.data });
        });
      }
      es.onopen = () => showLive(true);
      es.onerror = () => showLive(false);
    }
    if (!channel) { lead(); return; }
    channel.onmessage = (e) => {
      if (e.data.ask) { if (lastStatus) channel.postMessage({ name: "status", raw: lastStatus }); return; }
      showLive(true);
      deliver(e.data.name, e.data.raw);
    };
    navigator.locks.request("queuectl-events", () => { lead(); return new Promise(() => {}); });
    channel.postMessage({ ask: "status" });
  }
  // The event stream starts with the server's latest status snapshot, shared by every
  // client; only when none arrives soon does a page ask /api/status itself (a count over
  // the whole table).
  let firstStatus = null;
  const statusReady = new Promise((resolve) => { firstStatus = resolve; });
  let latestStatus = null;
  on("status", (st) => { if (st) { latestStatus = st; firstStatus(st); } });
  function currentStatus() {
    const fallback = new Promise((resolve) => setTimeout(resolve, 3000)).then(() => latestStatus || api("GET", "/api/status"));
    return Promise.race([statusReady, fallback]);
  }
  function navBadge(st) {
    const n = (st.jobs && st.jobs.dead) || 0, el = $("#nav-dead");
    el.hidden = n === 0;
    setText("#nav-dead", fmtN(n));
  }
  on("status", (st) => st && navBadge(st));

  // ---- overview ----
  function renderStatus(st) {
    for (const s of STATES) setText("#count-" + s, fmtN(st.jobs[s]));
    setText("#count-scheduled", fmtN(st.scheduled));
    const alive = Array.isArray(st.workers) ? st.workers.filter((w) => w.alive !== false).length : st.workers;
    setText("#workers-alive", fmtN(alive));
    setText("#slots-busy", fmtN(st.slots_busy) + " / " + fmtN(st.slots));
    // Paused queues show as such (one with no job yet too), each with its button.
    const paused = new Set(st.paused || []), every = paused.has("*");
    const names = [...new Set([...Object.keys(st.queues || {}), ...[...paused].filter((q) => q !== "*")])].sort();
    const toggle = (path, done) => act({ path, done, after: async () => renderStatus(await currentStatus()) });
    $("#paused-all").hidden = !every;
    $("#paused-all-act").replaceChildren(...(every && writable() ? [button("Resume all", () => toggle("/api/queues/resume", "Every queue resumed."), "small")] : []));
    const rows = names.map((q) => {
      const c = (st.queues || {})[q] || {};
      const finished = (c.completed || 0) + (c.dead || 0);
      const rate = finished ? ((100 * (c.dead || 0)) / finished).toFixed(1) + "%" : "–";
      const oldest = c.oldest_pending_age == null ? h("span", {}, "–") : since(Date.now() - c.oldest_pending_age * 1000, "");
      const isPaused = paused.has(q) || every;
      const path = "/api/queues/" + enc(q) + (paused.has(q) ? "/resume" : "/pause");
      return h("tr", { "data-queue": q, class: isPaused ? "paused" : "" },
        h("td", {}, h("a", { href: "/jobs?queue=" + enc(q) }, q)),
        h("td", { class: "num" }, fmtN(c.pending || 0)), h("td", { class: "num" }, fmtN(c.processing || 0)),
        h("td", { class: "num" }, oldest), h("td", { class: "num" }, rate),
        h("td", {}, h("span", { class: "state " + (isPaused ? "state-failed" : "state-completed") }, isPaused ? "paused" : "running")),
        writable() ? h("td", {}, every ? null : button(paused.has(q) ? "Resume" : "Pause",
          () => toggle(path, `${q} ${paused.has(q) ? "resumed" : "paused"}.`), "small")) : null);
    });
    keepPlace($("#queues tbody"), () => $("#queues tbody").replaceChildren(...rows));
  }
  function renderChart(minutes) {
    const W = 600, H = 130, top = 8, bottom = 112, slots = 60, bw = W / slots;
    const now = Math.floor(Date.now() / 60000) * 60000, first = now - (slots - 1) * 60000;
    const data = Array.from({ length: slots }, () => ({ completed: 0, failed: 0 }));
    for (const m of minutes) {
      const i = Math.round((Math.floor(ms(m.start) / 60000) * 60000 - first) / 60000);
      if (i >= 0 && i < slots) { data[i].completed += m.completed || 0; data[i].failed += m.failed || 0; }
    }
    const max = Math.max(1, ...data.map((d) => d.completed + d.failed));
    const scale = (bottom - top) / max;
    const kids = [svg("line", { class: "grid", x1: 0, x2: W, y1: bottom, y2: bottom }),
      svg("text", { class: "axis", x: 0, y: H - 2 }, "60 min ago"),
      svg("text", { class: "axis", x: W, y: H - 2, "text-anchor": "end" }, "now"),
      svg("text", { class: "axis", x: 0, y: top + 4 }, "max " + max + "/min")];
    let done = 0, failed = 0;
    data.forEach((d, i) => {
      done += d.completed; failed += d.failed;
      if (!d.completed && !d.failed) return;
      const g = svg("g", {});
      const at = new Date(first + i * 60000).toISOString().slice(11, 16);
      g.append(svg("title", {}, `${at} UTC: ${d.completed} completed, ${d.failed} failed`));
      const hOk = d.completed * scale, hFail = d.failed * scale;
      g.append(svg("rect", { class: "bar-ok", x: i * bw + 1, width: bw - 2, y: bottom - hOk, height: hOk }));
      g.append(svg("rect", { class: "bar-fail", x: i * bw + 1, width: bw - 2, y: bottom - hOk - hFail, height: hFail }));
      kids.push(g);
    });
    $("#chart").replaceChildren(...kids);
    setText("#chart-sum", `Last hour: ${fmtN(done)} completed, ${fmtN(failed)} failed (per minute; green completed, red failed).`);
  }
  async function overview() {
    const loadChart = async () => { try { renderChart(listOf(await api("GET", "/api/throughput?minutes=60"), "minutes")); } catch (e) { setText("#chart-sum", e.message); } };
    on("status", (st) => st && renderStatus(st));
    const chart = throttle(loadChart, 10000);
    on("status", chart);
    setInterval(loadChart, 60000); // the window slides even when nothing happens
    renderStatus(await currentStatus());
    chart();
  }

  // ---- jobs ----
  function whenCell(j) {
    const runAt = ms(j.run_at);
    if ((j.state === "pending" || j.state === "failed") && runAt > Date.now()) {
      return h("td", { title: "runs at " + j.run_at }, "runs " + new Date(runAt).toISOString().slice(0, 16).replace("T", " ") + "Z");
    }
    return h("td", {}, since(j.updated_at));
  }
  async function jobsPage() {
    const form = $("#filters"), params = new URLSearchParams(location.search);
    const wanted = (params.get("state") || "").split(",").concat(params.getAll("state").slice(1));
    for (const box of $$("input[name=state]", form)) box.checked = wanted.includes(box.value);
    for (const name of ["queue", "id_prefix", "search", "order"]) if (params.get(name)) form.elements[name].value = params.get(name);
    const view = { cursors: [null], page: 0 }, selected = new Set();
    function query() {
      const q = new URLSearchParams();
      const states = $$("input[name=state]:checked", form).map((b) => b.value);
      if (states.length) q.set("state", states.join(","));
      for (const name of ["queue", "id_prefix", "search"]) { const v = form.elements[name].value.trim(); if (v) q.set(name, v); }
      if (form.elements.order.value !== "newest") q.set("order", form.elements.order.value);
      return q;
    }
    function updateBulk() {
      setText("#selected-count", selected.size + " selected");
      for (const b of $$("[data-bulk]")) b.disabled = selected.size === 0;
    }
    // A list answers the filter it was asked with: a newer request aborts the older one,
    // and a response that does not answer the filter shown now is dropped, never drawn
    // (a slow unfiltered page must not fill a "dead" view, where "select all" + Delete
    // would then delete the wrong jobs).
    let inflight = null;
    function dropped() { document.body.dataset.dropped = String(Number(document.body.dataset.dropped || 0) + 1); }
    async function load() {
      const q = query();
      q.set("limit", "50");
      const cursor = view.cursors[view.page];
      if (cursor) q.set("cursor", cursor);
      const asked = q.toString();
      if (inflight) inflight.abort();
      const mine = inflight = new AbortController();
      let d;
      try { d = await api("GET", "/api/jobs?" + asked, undefined, mine.signal); } catch (e) {
        if (e.name === "AbortError") { dropped(); return; }
        if (mine === inflight) flash(e.message, true);
        return;
      } finally { if (mine === inflight) inflight = null; }
      const now = query();
      now.set("limit", "50");
      if (view.cursors[view.page]) now.set("cursor", view.cursors[view.page]);
      // "scheduled" is a view of pending jobs, not a state a row carries: no row check then.
      const states = now.get("state") && !now.get("state").includes("scheduled") ? now.get("state").split(",") : null;
      if (now.toString() !== asked || (states && d.jobs.some((j) => !states.includes(j.state)))) {
        dropped();
        return;
      }
      const ids = new Set(d.jobs.map((j) => j.id));
      for (const id of selected) if (!ids.has(id)) selected.delete(id);
      const rows = d.jobs.map((j) => h("tr", { "data-id": j.id, "data-state": j.state },
        writable() ? h("td", {}, h("input", { type: "checkbox", class: "pick", "aria-label": "select " + j.id, checked: selected.has(j.id), value: j.id })) : null,
        h("td", {}, jobLink(j.id)), h("td", {}, badge(j.state)), h("td", {}, j.queue),
        h("td", { class: "num" }, `${j.attempts}/${j.max_retries + 1}`), whenCell(j), h("td", {}, cmd(j.command))));
      keepPlace($("#jobs tbody"), () => $("#jobs tbody").replaceChildren(...rows));
      $("#jobs-empty").hidden = rows.length > 0;
      view.next = d.next_cursor;
      $("#prev").disabled = view.page === 0;
      $("#next").disabled = !d.next_cursor;
      $("#select-all").checked = rows.length > 0 && selected.size === rows.length;
      updateBulk();
    }
    const refresh = throttle(load, 1000);
    function restart() {
      view.cursors = [null]; view.page = 0;
      selected.clear(); // a new filter: nothing chosen from the old rows stays chosen
      const q = query();
      history.replaceState(null, "", q.toString() ? "/jobs?" + q : "/jobs");
      load();
    }
    let typing = null;
    form.addEventListener("input", (e) => {
      clearTimeout(typing);
      typing = setTimeout(restart, e.target.type === "checkbox" || e.target.tagName === "SELECT" ? 0 : 300);
    });
    form.addEventListener("submit", (e) => { e.preventDefault(); restart(); });
    $("#next").addEventListener("click", () => { view.cursors[view.page + 1] = view.next; view.page += 1; load(); });
    $("#prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); load(); });
    $("#jobs tbody").addEventListener("change", (e) => {
      if (!e.target.classList.contains("pick")) return;
      if (e.target.checked) selected.add(e.target.value); else selected.delete(e.target.value);
      updateBulk();
    });
    $("#select-all").addEventListener("change", (e) => {
      for (const box of $$("#jobs .pick")) { box.checked = e.target.checked; if (box.checked) selected.add(box.value); else selected.delete(box.value); }
      updateBulk();
    });
    const verbs = { cancel: "Cancel", requeue: "Requeue", delete: "Delete" };
    for (const b of $$("[data-bulk]")) {
      b.addEventListener("click", () => {
        const verb = b.dataset.bulk, ids = [...selected];
        act({ ask: `${verbs[verb]} ${ids.length} job(s)? ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}`, label: verbs[verb],
          path: "/api/jobs/" + verb, body: { ids }, done: `${verbs[verb]}: ${ids.length} job(s) done.`,
          after: () => { selected.clear(); return load(); } });
      });
    }
    currentStatus().then((st) => {
      $("#queue-names").replaceChildren(...Object.keys(st.queues || {}).map((q) => h("option", { value: q })));
    }).catch(() => {});
    on("jobs", refresh);
    await load();
  }

  // ---- one job ----
  // Names shown, values masked (they may be secrets) until the user asks for them.
  function envList(env) {
    const names = Object.keys(env || {});
    if (!names.length) return null;
    const values = names.map((k) => h("span", { class: "env-value", "data-name": k }, "••••"));
    const reveal = button("Show values", () => {
      values.forEach((el) => { el.textContent = env[el.dataset.name]; });
      reveal.remove();
    }, "small");
    return h("span", { class: "env" },
      ...names.flatMap((k, i) => [h("code", {}, k, "=", values[i]), i < names.length - 1 ? " " : ""]), " ", reveal);
  }

  async function jobPage() {
    const id = document.body.dataset.jobId, base = "/api/jobs/" + enc(id);
    let signature = "", follow = null, hosts = {};
    const field = (k, v) => [h("dt", {}, k), h("dd", {}, v == null || v === "" ? "–" : v)];
    function actions(job) {
      const s = job.state, out = [], again = () => load(true);
      if (["pending", "failed", "processing"].includes(s)) {
        out.push(button("Cancel", () => act({ ask: `Cancel job ${id}?${s === "processing" ? " Its command is killed." : ""}`, label: "Cancel job", path: base + "/cancel", done: "Cancel requested.", after: again }), "danger"));
      }
      if (s === "dead") out.push(button("Retry from DLQ", () => act({ path: "/api/dlq/retry", body: { ids: [id] }, done: "Retried: the job is pending again.", after: again }), "primary"));
      if (["completed", "failed", "dead", "cancelled"].includes(s)) {
        out.push(button("Requeue", () => act({ ask: `Run job ${id} again?`, label: "Requeue", path: base + "/requeue", done: "Requeued.", after: again })));
      }
      if (["completed", "dead", "cancelled"].includes(s)) {
        out.push(button("Delete", () => act({ ask: `Delete job ${id} and its history? This cannot be undone.`, label: "Delete", method: "DELETE", path: base, done: "Deleted.", after: () => location.assign("/jobs") }), "danger"));
      }
      out.push(h("a", { class: "button", href: "/enqueue?copy=" + enc(id) }, "Enqueue a copy"));
      $("#job-actions").replaceChildren(...out);
    }
    // `run` numbers every attempt ever made (attempt numbers restart after a DLQ retry).
    function attemptItem(a, job, run, runs) {
      const running = a.finished_at == null && job.state === "processing";
      const cls = running ? "running" : a.exit_code === 0 && !a.error ? "ok" : "bad";
      const start = ms(a.started_at), end = ms(a.finished_at);
      const w = hosts[a.worker_id];
      const facts = h("div", { class: "facts" },
        h("span", {}, h("b", {}, "started "), a.started_at || "–"),
        h("span", {}, h("b", {}, "ended "), a.finished_at || (running ? "running" : "–")),
        h("span", {}, h("b", {}, "duration "), running ? since(start, "") : span(end && start ? (end - start) / 1000 : null)),
        h("span", {}, h("b", {}, "exit code "), a.exit_code == null ? "–" : String(a.exit_code)),
        h("span", {}, h("b", {}, "worker "), a.worker_id || "–", w ? ` (${w.host}, pid ${w.pid})` : ""));
      const out = h("details", { open: running || run === runs },
        h("summary", {}, "Output"), h("h4", {}, "stdout"), h("pre", { class: "out", id: `out-${run}-stdout` }, a.stdout || ""),
        h("h4", {}, "stderr"), h("pre", { class: "out", id: `out-${run}-stderr` }, a.stderr || ""));
      const title = run === a.attempt ? `Attempt ${a.attempt} ` : `Run ${run} (attempt ${a.attempt}) `;
      return h("li", { class: "attempt " + cls, "data-run": run, "data-attempt": a.attempt },
        h("h3", {}, title, running ? badge("processing") : null), facts,
        a.error ? h("p", { class: "err" }, a.error) : null, out);
    }
    function startFollow(run) {
      if (follow) return;
      const boxes = { stdout: $(`#out-${run}-stdout`), stderr: $(`#out-${run}-stderr`) };
      if (!boxes.stdout) return;
      boxes.stdout.textContent = ""; boxes.stderr.textContent = "";
      follow = new EventSource(base + "/output?follow=1");
      for (const stream of ["stdout", "stderr"]) {
        follow.addEventListener(stream, (e) => {
          const box = boxes[stream], atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
          box.append(JSON.parse(e.data));
          if (atEnd) box.scrollTop = box.scrollHeight;
        });
      }
      follow.addEventListener("end", () => { follow.close(); follow = null; load(true); });
      follow.onerror = () => { if (follow && follow.readyState === EventSource.CLOSED) follow = null; };
    }
    async function load(force) {
      let d;
      try { d = await api("GET", base); } catch (e) {
        if (e.status === 404) { setText("#job-state", "not found"); $("#job-actions").replaceChildren(); }
        flash(e.message, true); return;
      }
      const { job, attempts } = d;
      const sig = [job.state, job.updated_at, attempts.length].join("|");
      if (!force && sig === signature) return;
      if (follow && job.state === "processing" && !force) return; // the stream keeps it current
      signature = sig;
      const st = $("#job-state");
      st.className = "state state-" + job.state; st.textContent = job.state;
      if (writable()) actions(job);
      $("#spec").replaceChildren(
        ...field("command", h("pre", {}, job.command)), ...field("queue", job.queue),
        ...field("priority", String(job.priority)), ...field("attempts", `${job.attempts} of ${job.max_retries + 1}`),
        ...field("timeout", job.timeout ? job.timeout + " s" : "none"), ...field("run at", job.run_at),
        ...field("directory", job.cwd ? h("code", {}, job.cwd) : "the worker's own"),
        ...field("environment", envList(job.env)), ...field("keep daemons", job.keep_daemons ? "yes" : "no"),
        ...field("created", job.created_at), ...field("updated", job.updated_at),
        ...field("worker", job.worker_id), ...field("exit code", job.exit_code == null ? null : String(job.exit_code)),
        ...field("last error", job.last_error ? h("span", { class: "err" }, job.last_error) : null));
      const openNow = new Set($$("#attempts details[open]").map((d) => d.closest("li").dataset.run));
      const items = attempts.map((a, i) => attemptItem(a, job, i + 1, attempts.length)).reverse();
      for (const li of items) if (openNow.has(li.dataset.run)) $("details", li).open = true;
      $("#attempts").replaceChildren(...items);
      $("#attempts-empty").hidden = attempts.length > 0;
      const current = attempts.findIndex((a) => a.finished_at == null);
      if (job.state === "processing" && current >= 0) startFollow(current + 1);
    }
    try { hosts = Object.fromEntries(listOf(await api("GET", "/api/workers?all=1"), "workers").map((w) => [w.id, w])); } catch { hosts = {}; }
    on("jobs", throttle(() => load(false), 1000));
    await load(true);
  }

  // ---- dead letter queue ----
  async function dlqPage() {
    const view = { cursors: [null], page: 0 }, again = () => load();
    const retryGroup = (g) => act({ path: "/api/dlq/retry", body: { group: g.key }, done: `Retried ${g.count} job(s) with this error.`, after: again });
    async function load() {
      try {
        const groups = listOf(await api("GET", "/api/dlq/groups"), "groups");
        $("#dlq-groups tbody").replaceChildren(...groups.map((g) => h("tr", { "data-group": g.key },
          h("td", { class: "err" }, g.error || "(no error text)"), h("td", { class: "num" }, g.exit_code == null ? "–" : String(g.exit_code)),
          h("td", { class: "num group-count" }, fmtN(g.count)), h("td", {}, g.newest_job_id ? jobLink(g.newest_job_id) : "–"),
          writable() ? h("td", {}, button("Retry group", () => retryGroup(g), "small")) : null)));
        $("#groups-empty").hidden = groups.length > 0;
        const q = new URLSearchParams({ limit: "50" }), cursor = view.cursors[view.page];
        if (cursor) q.set("cursor", cursor);
        const d = await api("GET", "/api/dlq?" + q), jobs = listOf(d, "jobs");
        $("#dlq-jobs tbody").replaceChildren(...jobs.map((j) => h("tr", { "data-id": j.id },
          h("td", {}, jobLink(j.id)), h("td", {}, j.queue), h("td", { class: "num" }, String(j.attempts)),
          h("td", {}, since(j.updated_at)), h("td", { class: "err" }, j.last_error || "–"), h("td", {}, cmd(j.command)),
          writable() ? h("td", {}, button("Retry", () => act({ path: "/api/dlq/retry", body: { ids: [j.id] }, done: `Retried ${j.id}.`, after: again }), "small")) : null)));
        view.next = d.next_cursor;
        $("#prev").disabled = view.page === 0;
        $("#next").disabled = !d.next_cursor;
      } catch (e) { flash(e.message, true); }
    }
    $("#retry-all").addEventListener("click", () => act({ ask: "Retry every dead job?", label: "Retry all", path: "/api/dlq/retry", body: { all: true }, done: "Retried all dead jobs.", after: again }));
    $("#purge").addEventListener("click", () => act({ ask: "Delete every dead job for good?", label: "Purge", path: "/api/dlq/purge", body: { older_than: null }, done: "Purged the dead letter queue.", after: again }));
    $("#next").addEventListener("click", () => { view.cursors[view.page + 1] = view.next; view.page += 1; load(); });
    $("#prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); load(); });
    on("jobs", throttle(load, 1000));
    await load();
  }

  // ---- workers ----
  async function workersPage() {
    const all = $("#show-dead");
    const stop = (w, now) => act({ ask: now ? `Stop worker ${w.id} now? Its running jobs are killed and put back.` : `Stop worker ${w.id} after its running jobs finish?`,
      label: now ? "Stop now" : "Stop", path: "/api/workers/stop", body: { worker_id: w.id, now }, done: "Stop requested.", after: () => load() });
    async function load() {
      let list;
      try { list = listOf(await api("GET", "/api/workers" + (all.checked ? "?all=1" : "")), "workers"); } catch (e) { flash(e.message, true); return; }
      const rows = list.map((w) => {
        const status = !w.alive ? "dead" : w.stop_requested ? "stopping" : "alive";
        return h("tr", { class: w.alive ? "" : "dead", "data-worker": w.id },
          h("td", {}, h("code", {}, w.id)), h("td", {}, w.host), h("td", { class: "num" }, String(w.pid)),
          h("td", {}, (w.queues || []).join(", ") || "all"),
          h("td", { class: "num" }, `${(w.running || []).length} / ${w.slots}`),
          h("td", {}, ...(w.running || []).flatMap((id, i) => (i ? [", ", jobLink(id)] : [jobLink(id)]))),
          h("td", { class: "num" }, w.heartbeat_at ? since(w.heartbeat_at) : span(w.heartbeat_age)),
          h("td", {}, h("span", { class: "state " + (w.alive ? "state-completed" : "state-dead") }, status)),
          writable() ? h("td", {}, w.alive ? [button("Stop", () => stop(w, false), "small"), " ", button("Stop now", () => stop(w, true), "small danger")] : null) : null);
      });
      keepPlace($("#workers tbody"), () => $("#workers tbody").replaceChildren(...rows));
      $("#workers-empty").hidden = list.length > 0;
    }
    all.addEventListener("change", load);
    on("workers", throttle(load, 1000));
    await load();
  }

  // ---- enqueue ----
  async function enqueuePage() {
    const form = $("#enqueue");
    if (!writable()) { $(".ro-note").hidden = false; return; }
    const copy = new URLSearchParams(location.search).get("copy");
    if (copy) {
      try {
        const { job } = await api("GET", "/api/jobs/" + enc(copy));
        // A copy keeps every field of the spec (not the id: that one is taken).
        for (const k of ["command", "queue", "priority", "timeout", "max_retries", "cwd"]) if (job[k] != null) form.elements[k].value = job[k];
        if (job.env) form.elements.env.value = Object.entries(job.env).map(([k, v]) => `${k}=${v}`).join("\n");
        form.elements.keep_daemons.checked = !!job.keep_daemons;
      } catch (e) { flash(e.message, true); }
    }
    const NUMERIC = ["priority", "delay", "timeout", "max_retries"];
    function clearErrors() {
      for (const el of $$(".field-error", form)) el.textContent = "";
      for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors();
      const spec = {};
      for (const el of $$("input, textarea", form)) {
        const v = el.value.trim();
        if (el.type === "checkbox") { if (el.checked) spec[el.name] = true; continue; }
        if (!v) continue;
        if (el.name === "env") {
          const env = {};
          for (const line of el.value.split("\n").filter((l) => l.trim())) {
            const at = line.indexOf("=");
            if (at < 1) { $("#err-env").textContent = `expected NAME=VALUE, got "${line}"`; el.setAttribute("aria-invalid", "true"); el.focus(); return; }
            env[line.slice(0, at)] = line.slice(at + 1);
          }
          spec.env = env;
        } else if (el.name === "run_at") spec.run_at = Number.isNaN(Date.parse(v)) ? v : new Date(v).toISOString();
        else if (NUMERIC.includes(el.name) && /^-?\d+(\.\d+)?$/.test(v)) spec[el.name] = Number(v);
        else spec[el.name] = el.name === "command" ? el.value : v; // the API reports wrong types
      }
      try {
        const out = await api("POST", "/api/jobs", spec);
        location.assign("/jobs/" + enc(out.id));
      } catch (err) {
        const input = err.field && form.elements[err.field];
        const box = input ? $("#err-" + err.field) : $("#err-form");
        box.textContent = err.message;
        if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      }
    });
  }

  // ---- config ----
  async function configPage() {
    async function load() {
      const items = listOf(await api("GET", "/api/config"), "items");
      $("#config tbody").replaceChildren(...items.map((it) => {
        const input = h("input", { value: it.value, "aria-label": it.key, name: it.key, readonly: !writable(), "aria-describedby": "cerr-" + it.key });
        const err = h("p", { class: "field-error", id: "cerr-" + it.key });
        const save = async () => {
          err.textContent = ""; input.removeAttribute("aria-invalid");
          try { await api("PUT", "/api/config/" + enc(it.key), { value: input.value }); flash(`${it.key} = ${input.value}`); await load(); } catch (e) {
            err.textContent = e.message; input.setAttribute("aria-invalid", "true"); input.focus();
          }
        };
        input.addEventListener("keydown", (e) => { if (e.key === "Enter" && writable()) save(); });
        const reset = () => act({ ask: `Reset ${it.key} to its default (${it.default})?`, label: "Reset", method: "DELETE", path: "/api/config/" + enc(it.key), done: `${it.key} reset.`, after: load });
        return h("tr", { "data-key": it.key, class: it.is_default ? "" : "changed" },
          h("td", {}, h("code", {}, it.key)), h("td", {}, input, err), h("td", {}, h("code", {}, String(it.default))),
          h("td", {}, it.meaning || ""),
          writable() ? h("td", {}, button("Save", save, "small"), " ", it.is_default ? null : button("Reset", reset, "small")) : null);
      }));
    }
    try { await load(); } catch (e) { flash(e.message, true); }
  }

  const PAGES = { overview, jobs: jobsPage, job: jobPage, dlq: dlqPage, workers: workersPage, enqueue: enqueuePage, config: configPage };
  async function start() {
    try { info = await api("GET", "/api/info"); } catch (e) { flash(e.message, true); }
    $("#sign-out").hidden = !info.auth_required; // a session ends on the server
    if (writable()) for (const el of $$(".act")) el.hidden = false;
    document.body.classList.toggle("read-only", !writable());
    connect();
    setupLiveToggle();
    try { await PAGES[page](); } catch (e) { flash(e.message, true); }
    document.body.dataset.ready = "1";
    performance.mark("queuectl-ready"); // the benchmark reads it: data on screen
  }
  start();
})();
