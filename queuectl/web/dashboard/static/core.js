// The dashboard's shared parts: DOM and formatting helpers, the REST API, actions, and the
// live event stream (/api/events) every page listens to. Data goes into the page only
// through textContent and attributes (h()), never as HTML.
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
export const enc = encodeURIComponent;
const SVG = "http://www.w3.org/2000/svg";
export const STATES = ["pending", "processing", "failed", "dead", "completed", "cancelled"];

// ---- DOM and formatting helpers ----
export function h(tag, attrs, ...kids) {
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
export function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text != null) el.textContent = text;
  return el;
}
export const setText = (sel, text) => { const el = $(sel); if (el && el.textContent !== String(text)) el.textContent = text; };
export const fmtN = (n) => Number(n || 0).toLocaleString("en-US");
export const ms = (t) => (t == null ? null : typeof t === "number" ? (t < 1e12 ? t * 1000 : t) : Date.parse(t));
export function span(sec) {
  if (sec == null || Number.isNaN(sec)) return "–";
  sec = Math.max(0, sec);
  if (sec < 10) return sec.toFixed(1) + "s";
  if (sec < 60) return Math.round(sec) + "s";
  if (sec < 3600) return Math.floor(sec / 60) + "m " + Math.floor(sec % 60) + "s";
  if (sec < 86400) return Math.floor(sec / 3600) + "h " + Math.floor((sec % 3600) / 60) + "m";
  return Math.floor(sec / 86400) + "d " + Math.floor((sec % 86400) / 3600) + "h";
}
// A cell whose age keeps counting on the client (one timer, no server requests).
export function since(t, suffix = " ago") {
  const at = ms(t);
  if (at == null) return h("span", {}, "–");
  return h("time", { datetime: new Date(at).toISOString(), title: new Date(at).toISOString(), "data-since": at, "data-suffix": suffix },
    span((Date.now() - at) / 1000) + suffix);
}
setInterval(() => {
  for (const el of $$("[data-since]")) el.textContent = span((Date.now() - Number(el.dataset.since)) / 1000) + el.dataset.suffix;
}, 1000);
// Times in the browser's own zone. A datetime-local value ("2026-12-06T15:30") is a wall
// time here: sent with this zone's offset at that date ("...T15:30:00+01:00"), never as
// UTC, so the server stores the moment the user meant.
const pad = (n) => String(Math.abs(Math.trunc(n))).padStart(2, "0");
export const zoneName = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
export function localIso(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
  if (!m) return null;
  const at = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  const off = -at.getTimezoneOffset();
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] || "00"}${off < 0 ? "-" : "+"}${pad(off / 60)}:${pad(off % 60)}`;
}
// An ISO time or epoch as "2026-12-06 15:30:00" in the browser's zone.
export function localTime(t) {
  const d = new Date(ms(t));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export const badge = (state) => h("span", { class: "state state-" + state }, state);
export const jobLink = (id) => h("a", { href: "/jobs/" + enc(id) }, id);
export function cmd(text) {
  const b = h("button", { type: "button", class: "cmd", title: text, "aria-expanded": "false" }, text);
  b.addEventListener("click", () => b.setAttribute("aria-expanded", String(b.classList.toggle("open"))));
  return b;
}
export const listOf = (d, key) => (Array.isArray(d) ? d : (d && d[key]) || []);
export function throttle(fn, wait) {
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
export async function api(method, path, body, signal) {
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
export function flash(message, error = false) {
  const el = $("#flash");
  el.textContent = message;
  el.classList.toggle("error", error);
  clearTimeout(flash.timer);
  if (!error) flash.timer = setTimeout(() => { el.textContent = ""; }, 6000);
}
// What the server is and allows (GET /api/info): read-only until it says otherwise.
export let info = { read_only: true };
export async function loadInfo() { info = await api("GET", "/api/info"); }
export const writable = () => !info.read_only;
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
export async function act({ ask, label, method = "POST", path, body, done, after }) {
  if (ask && !(await confirmAction(ask, label))) return;
  try {
    const out = await api(method, path, body);
    flash(typeof done === "function" ? done(out) : done);
    if (after) await after(out);
  } catch (e) { flash(e.message, true); }
}
export const button = (label, onclick, cls = "") => h("button", { type: "button", class: cls, onclick }, label);

// ---- live events ----
const handlers = { status: [], jobs: [], workers: [] };
export const on = (name, fn) => handlers[name].push(fn);
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
export function setupLiveToggle() {
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
export function keepPlace(container, render) {
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
export function connect() {
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
export function currentStatus() {
  const fallback = new Promise((resolve) => setTimeout(resolve, 3000)).then(() => latestStatus || api("GET", "/api/status"));
  return Promise.race([statusReady, fallback]);
}
function navBadge(st) {
  const n = (st.jobs && st.jobs.dead) || 0, el = $("#nav-dead");
  el.hidden = n === 0;
  setText("#nav-dead", fmtN(n));
}
on("status", (st) => st && navBadge(st));
// What a requeue or DLQ retry adds: how many jobs cancelled because of those came back
// with them (the API's brought_back), or nothing.
export function cameBack(out) {
  const n = ((out && out.brought_back) || []).length;
  if (!n) return "";
  return ` ${fmtN(n)} ${n === 1 ? "job" : "jobs"} cancelled along the workflow came back too.`;
}
