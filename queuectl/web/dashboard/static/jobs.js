// The jobs page: a filtered list, a page at a time by cursor (the filter and the page live
// in the URL, so reload and back/forward return to them), with how many jobs match, a
// column chooser (kept in localStorage) and a selection for the bulk actions: rows, or
// every job that matches the filter (then the server acts on the filter itself).
import { heldNote } from "./limits.js";
import { $, $$, act, api, badge, cameBack, cmd, currentStatus, flash, fmtN, h, jobLink, keepPlace, ms, on, setText, since, span, throttle, writable } from "./core.js";

const FILTERS = ["queue", "id_prefix", "search", "fingerprint"]; // fingerprint: a DLQ group's key
const PAGE = 50;
const COLUMNS_KEY = "queuectl.jobs.hidden-columns";

function whenCell(j) {
  const runAt = ms(j.run_at);
  if ((j.state === "pending" || j.state === "failed") && runAt > Date.now()) {
    return h("td", { class: "c-when", title: "runs at " + j.run_at }, "runs " + new Date(runAt).toISOString().slice(0, 16).replace("T", " ") + "Z");
  }
  return h("td", { class: "c-when" }, since(j.updated_at));
}

// A running job: since it started (its claim); a finished one: from its enqueue to its end.
function durationCell(j) {
  if (j.state === "processing") return h("td", { class: "c-duration num", title: "running since " + j.updated_at }, since(j.updated_at, ""));
  if (!j.final) return h("td", { class: "c-duration num blank" }, "–");
  return h("td", { class: "c-duration num", title: "from enqueue to end" }, span((ms(j.updated_at) - ms(j.created_at)) / 1000));
}

// ("blank": a cell with nothing to say, left out of a phone's card)
const errorCell = (j) => (j.last_error ? h("td", { class: "c-error" }, h("span", { class: "err clip", title: j.last_error }, j.last_error)) : h("td", { class: "c-error blank" }, "–"));

function jobRow(j, selected) {
  return h("tr", { "data-id": j.id, "data-state": j.state },
    writable() ? h("td", { class: "sel" }, h("input", { type: "checkbox", class: "pick", "aria-label": "select " + j.id, checked: selected.has(j.id), value: j.id })) : null,
    h("td", { class: "c-id" }, jobLink(j.id)), h("td", { class: "c-state" }, badge(j.state), j.blocked ? [" ", h("span", { class: "state state-blocked", title: `waiting for ${j.waiting_for}` }, "blocked")] : null, j.held_back ? [" ", heldNote(j.held_back)] : null), h("td", { class: "c-queue" }, j.queue),
    h("td", { class: "c-attempts num" }, `${j.attempts}/${j.max_retries + 1}`), whenCell(j), durationCell(j), errorCell(j),
    h("td", { class: "c-command" }, cmd(j.command)));
}

// The form shows the filters the URL names (and nothing else: back/forward refills it).
function fillFilters(form) {
  const params = new URLSearchParams(location.search);
  const wanted = (params.get("state") || "").split(",").concat(params.getAll("state").slice(1));
  for (const box of $$("input[name=state]", form)) box.checked = wanted.includes(box.value);
  for (const name of FILTERS) form.elements[name].value = params.get(name) || "";
  form.elements.order.value = params.get("order") === "oldest" ? "oldest" : "newest";
  showGroup(form);
}

// A DLQ group's jobs: the fingerprint filter shows as a chip; the API takes no other
// filter beside it, so those are disabled until it is cleared.
function showGroup(form) {
  const key = form.elements.fingerprint.value;
  $("#group-filter").hidden = !key;
  setText("#group-key", key);
  for (const name of ["queue", "id_prefix", "search"]) form.elements[name].disabled = !!key;
}

// The page the URL names (page=N with its cursor); the cursors of the pages before it
// come from the history entry, when it has them (reload and back/forward keep it).
function viewFromLocation() {
  const params = new URLSearchParams(location.search);
  const cursor = params.get("cursor");
  const page = cursor ? Math.max(1, (parseInt(params.get("page"), 10) || 2) - 1) : 0;
  const saved = history.state && Array.isArray(history.state.cursors) ? history.state.cursors : [];
  const cursors = [null];
  for (let i = 1; i < page; i++) cursors[i] = saved[i];
  if (page) cursors[page] = cursor;
  return { cursors, page };
}

function dropped() { document.body.dataset.dropped = String(Number(document.body.dataset.dropped || 0) + 1); }
const jobsN = (n) => fmtN(n) + (n === 1 ? " job" : " jobs");

class JobList {
  constructor(form) {
    this.form = form;
    this.view = viewFromLocation();
    this.selected = new Set();
    this.matching = false; // every job that answers the filter, not only rows
    this.total = null;
    this.rows = 0;
    this.inflight = null;
  }

  query() {
    const q = new URLSearchParams(), form = this.form;
    const states = $$("input[name=state]:checked", form).map((b) => b.value);
    if (states.length) q.set("state", states.join(","));
    for (const name of FILTERS) { const el = form.elements[name], v = el.value.trim(); if (v && !el.disabled) q.set(name, v); }
    if (form.elements.order.value !== "newest") q.set("order", form.elements.order.value);
    return q;
  }

  // The filter as POST /api/jobs/bulk takes it.
  filterBody() {
    const q = this.query(), body = {};
    if (q.get("state")) body.state = q.get("state").split(",");
    for (const name of FILTERS) if (q.get(name)) body[name] = q.get(name);
    return body;
  }

  // The list's request for the filter and page shown now.
  pageQuery() {
    const q = this.query();
    q.set("limit", String(PAGE));
    const cursor = this.view.cursors[this.view.page];
    if (cursor) q.set("cursor", cursor);
    return q.toString();
  }

  // The URL of the filter and page shown now, in the history (pushed, or replacing).
  record(push) {
    const q = this.query();
    if (this.view.page) { q.set("page", String(this.view.page + 1)); q.set("cursor", this.view.cursors[this.view.page]); }
    const url = q.toString() ? "/jobs?" + q : "/jobs";
    const same = url === location.pathname + location.search;
    history[push && !same ? "pushState" : "replaceState"]({ cursors: this.view.cursors }, "", url);
  }

  clearSelection() { this.selected.clear(); this.matching = false; }

  everyText() { return this.total && this.total.exact ? "all " + jobsN(this.total.n) : "every job"; }

  updateBulk() {
    const more = this.view.page > 0 || Boolean(this.view.next);
    const wholePage = this.rows > 0 && this.selected.size === this.rows;
    const every = this.everyText();
    setText("#selected-count", this.matching ? `${every[0].toUpperCase()}${every.slice(1)} matching this filter selected` : this.selected.size + " selected");
    const wider = $("#select-matching");
    // (a DLQ group's jobs: the DLQ page retries or purges a whole group)
    wider.hidden = !(this.matching || (wholePage && more)) || Boolean(this.query().get("fingerprint"));
    setText("#select-matching", this.matching ? "Clear selection" : `Select ${this.everyText()} matching this filter`);
    for (const b of $$("[data-bulk]")) b.disabled = !this.matching && this.selected.size === 0;
  }

  // A list answers the filter it was asked with: a newer request aborts the older one,
  // and a response that does not answer the filter shown now is dropped, never drawn
  // (a slow unfiltered page must not fill a "dead" view, where "select all" + Delete
  // would then delete the wrong jobs).
  async fetchPage(asked) {
    if (this.inflight) this.inflight.abort();
    const mine = this.inflight = new AbortController();
    try { return await api("GET", "/api/jobs?" + asked, undefined, mine.signal); } catch (e) {
      if (e.name === "AbortError") { dropped(); return null; }
      if (mine === this.inflight) flash(e.message, true);
      return null;
    } finally { if (mine === this.inflight) this.inflight = null; }
  }

  answersShownFilter(asked, d) {
    const now = new URLSearchParams(this.pageQuery());
    // "scheduled" and "blocked" are views of pending jobs, not states a row carries: no row check then.
    const states = now.get("state") && !/scheduled|blocked/.test(now.get("state")) ? now.get("state").split(",") : null;
    return now.toString() === asked && !(states && d.jobs.some((j) => !states.includes(j.state)));
  }

  // How many match: the server's count when it is cheap (exact, or "more than" a cap);
  // for a command search, what the pages so far have shown.
  showTotal(d) {
    const seen = this.view.page * PAGE + d.jobs.length;
    this.total = d.total ? { n: d.total.count, exact: d.total.exact } : { n: seen, exact: !d.next_cursor };
    setText("#jobs-total", (this.total.exact ? "" : "more than ") + jobsN(this.total.n));
    const pages = this.total.exact ? Math.max(this.view.page + 1, Math.ceil(this.total.n / PAGE)) : 0;
    setText("#page-no", "Page " + fmtN(this.view.page + 1) + (pages ? " of " + fmtN(pages) : ""));
  }

  async load() {
    const asked = this.pageQuery();
    const d = await this.fetchPage(asked);
    if (!d) return;
    if (!this.answersShownFilter(asked, d)) { dropped(); return; }
    const ids = new Set(d.jobs.map((j) => j.id));
    for (const id of this.selected) if (!ids.has(id)) this.selected.delete(id);
    if (this.matching) for (const id of ids) this.selected.add(id);
    const rows = d.jobs.map((j) => jobRow(j, this.selected));
    keepPlace($("#jobs tbody"), () => $("#jobs tbody").replaceChildren(...rows));
    $("#jobs-empty").hidden = rows.length > 0;
    this.rows = rows.length;
    this.view.next = d.next_cursor;
    $("#prev").disabled = this.view.page === 0;
    $("#next").disabled = !d.next_cursor;
    $("#select-all").checked = rows.length > 0 && this.selected.size === rows.length;
    this.showTotal(d);
    this.updateBulk();
  }

  restart(push) {
    this.view = { cursors: [null], page: 0 };
    this.clearSelection(); // a new filter: nothing chosen from the old rows stays chosen
    this.record(push);
    this.load();
  }

  turn(page) {
    const view = this.view;
    if (page > view.page) view.cursors[page] = view.next;
    view.page = view.cursors[page] === undefined ? 0 : page; // a page whose cursor is unknown: the first
    this.record(true);
    this.load();
  }

  pick(box) {
    if (box.checked) this.selected.add(box.value); else this.selected.delete(box.value);
  }
}

function wireFilters(list) {
  let typing = null;
  list.form.addEventListener("input", (e) => {
    clearTimeout(typing);
    const chosen = e.target.type === "checkbox" || e.target.tagName === "SELECT";
    typing = setTimeout(() => list.restart(chosen), chosen ? 0 : 300);
  });
  list.form.addEventListener("submit", (e) => { e.preventDefault(); list.restart(true); });
  $("#next").addEventListener("click", () => list.turn(list.view.page + 1));
  $("#prev").addEventListener("click", () => list.turn(list.view.page - 1));
  $("#group-clear").addEventListener("click", () => { list.form.elements.fingerprint.value = ""; showGroup(list.form); list.restart(true); });
  window.addEventListener("popstate", () => {
    fillFilters(list.form);
    list.view = viewFromLocation();
    list.clearSelection();
    list.load();
  });
}

// The optional columns the user hid, kept in this browser.
function wireColumns() {
  const table = $("#jobs"), boxes = $$("#columns input[name=column]");
  let hidden = [];
  try { hidden = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "[]"); } catch { hidden = []; }
  if (!Array.isArray(hidden)) hidden = [];
  const apply = () => { table.dataset.hide = hidden.join(" "); };
  for (const box of boxes) {
    box.checked = !hidden.includes(box.value);
    box.addEventListener("change", () => {
      hidden = boxes.filter((b) => !b.checked).map((b) => b.value);
      try { localStorage.setItem(COLUMNS_KEY, JSON.stringify(hidden)); } catch { /* storage off: this page only */ }
      apply();
    });
  }
  apply();
  // A drop-down: a click elsewhere or Escape closes it.
  const chooser = $("#columns");
  document.addEventListener("click", (e) => { if (chooser.open && !chooser.contains(e.target)) chooser.open = false; });
  chooser.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && chooser.open) { chooser.open = false; $("summary", chooser).focus(); }
  });
}

const VERBS = { cancel: "Cancel", requeue: "Requeue", delete: "Delete" };

function bulkAction(list, action) {
  const verb = VERBS[action], after = () => { list.clearSelection(); return list.load(); };
  if (list.matching) {
    const shown = list.query().toString().replaceAll("&", ", ") || "no filter: every job";
    return act({ ask: `${verb} ${list.everyText()} matching this filter (${shown})?`, label: verb,
      path: "/api/jobs/bulk", body: { action, ...list.filterBody() }, done: (out) => `${verb}: ${jobsN(out.count)} done.`, after });
  }
  const ids = [...list.selected];
  return act({ ask: `${verb} ${ids.length} job(s)? ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}`, label: verb,
    path: "/api/jobs/" + action, body: { ids }, done: (r) => `${verb}: ${ids.length} job(s) done.` + cameBack(r), after });
}

function wireSelection(list) {
  $("#jobs tbody").addEventListener("change", (e) => {
    if (!e.target.classList.contains("pick")) return;
    list.matching = false; // one row unticked: the rows ticked, no longer the whole filter
    list.pick(e.target);
    list.updateBulk();
  });
  $("#select-all").addEventListener("change", (e) => {
    list.matching = false;
    for (const box of $$("#jobs .pick")) { box.checked = e.target.checked; list.pick(box); }
    list.updateBulk();
  });
  $("#select-matching").addEventListener("click", () => {
    const all = !list.matching;
    list.matching = all;
    for (const box of $$("#jobs .pick")) { box.checked = all; list.pick(box); }
    $("#select-all").checked = all;
    list.updateBulk();
  });
  for (const b of $$("[data-bulk]")) b.addEventListener("click", () => bulkAction(list, b.dataset.bulk));
}

export default async function jobsPage() {
  const form = $("#filters");
  fillFilters(form);
  const list = new JobList(form);
  wireFilters(list);
  wireColumns();
  wireSelection(list);
  currentStatus().then((st) => {
    $("#queue-names").replaceChildren(...Object.keys(st.queues || {}).map((q) => h("option", { value: q })));
  }).catch(() => {});
  on("jobs", throttle(() => list.load(), 1000));
  await list.load();
}
