// The jobs page: a filtered list (the filters live in the URL), a page at a time by
// cursor, with a selection for the bulk actions; it refreshes on the jobs events.
import { $, $$, act, api, badge, cameBack, cmd, currentStatus, flash, h, jobLink, keepPlace, ms, on, setText, since, throttle, writable } from "./core.js";

const FILTERS = ["queue", "id_prefix", "search", "fingerprint"]; // fingerprint: a DLQ group's key

function whenCell(j) {
  const runAt = ms(j.run_at);
  if ((j.state === "pending" || j.state === "failed") && runAt > Date.now()) {
    return h("td", { title: "runs at " + j.run_at }, "runs " + new Date(runAt).toISOString().slice(0, 16).replace("T", " ") + "Z");
  }
  return h("td", {}, since(j.updated_at));
}

function jobRow(j, selected) {
  return h("tr", { "data-id": j.id, "data-state": j.state },
    writable() ? h("td", {}, h("input", { type: "checkbox", class: "pick", "aria-label": "select " + j.id, checked: selected.has(j.id), value: j.id })) : null,
    h("td", {}, jobLink(j.id)), h("td", {}, badge(j.state), j.blocked ? [" ", h("span", { class: "state state-blocked", title: `waiting for ${j.waiting_for}` }, "blocked")] : null), h("td", {}, j.queue),
    h("td", { class: "num" }, `${j.attempts}/${j.max_retries + 1}`), whenCell(j), h("td", {}, cmd(j.command)));
}

// The form shows the filters the URL names.
function fillFilters(form) {
  const params = new URLSearchParams(location.search);
  const wanted = (params.get("state") || "").split(",").concat(params.getAll("state").slice(1));
  for (const box of $$("input[name=state]", form)) box.checked = wanted.includes(box.value);
  for (const name of [...FILTERS, "order"]) if (params.get(name)) form.elements[name].value = params.get(name);
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

function dropped() { document.body.dataset.dropped = String(Number(document.body.dataset.dropped || 0) + 1); }

class JobList {
  constructor(form) {
    this.form = form;
    this.view = { cursors: [null], page: 0 };
    this.selected = new Set();
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

  // The list's request for the filter and page shown now.
  pageQuery() {
    const q = this.query();
    q.set("limit", "50");
    const cursor = this.view.cursors[this.view.page];
    if (cursor) q.set("cursor", cursor);
    return q.toString();
  }

  updateBulk() {
    setText("#selected-count", this.selected.size + " selected");
    for (const b of $$("[data-bulk]")) b.disabled = this.selected.size === 0;
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

  async load() {
    const asked = this.pageQuery();
    const d = await this.fetchPage(asked);
    if (!d) return;
    if (!this.answersShownFilter(asked, d)) { dropped(); return; }
    const ids = new Set(d.jobs.map((j) => j.id));
    for (const id of this.selected) if (!ids.has(id)) this.selected.delete(id);
    const rows = d.jobs.map((j) => jobRow(j, this.selected));
    keepPlace($("#jobs tbody"), () => $("#jobs tbody").replaceChildren(...rows));
    $("#jobs-empty").hidden = rows.length > 0;
    this.view.next = d.next_cursor;
    $("#prev").disabled = this.view.page === 0;
    $("#next").disabled = !d.next_cursor;
    $("#select-all").checked = rows.length > 0 && this.selected.size === rows.length;
    this.updateBulk();
  }

  restart() {
    this.view.cursors = [null]; this.view.page = 0;
    this.selected.clear(); // a new filter: nothing chosen from the old rows stays chosen
    const q = this.query();
    history.replaceState(null, "", q.toString() ? "/jobs?" + q : "/jobs");
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
    typing = setTimeout(() => list.restart(), e.target.type === "checkbox" || e.target.tagName === "SELECT" ? 0 : 300);
  });
  list.form.addEventListener("submit", (e) => { e.preventDefault(); list.restart(); });
  $("#group-clear").addEventListener("click", () => { list.form.elements.fingerprint.value = ""; showGroup(list.form); list.restart(); });
  const view = list.view;
  $("#next").addEventListener("click", () => { view.cursors[view.page + 1] = view.next; view.page += 1; list.load(); });
  $("#prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); list.load(); });
}

const VERBS = { cancel: "Cancel", requeue: "Requeue", delete: "Delete" };

function wireSelection(list) {
  $("#jobs tbody").addEventListener("change", (e) => {
    if (!e.target.classList.contains("pick")) return;
    list.pick(e.target);
    list.updateBulk();
  });
  $("#select-all").addEventListener("change", (e) => {
    for (const box of $$("#jobs .pick")) { box.checked = e.target.checked; list.pick(box); }
    list.updateBulk();
  });
  for (const b of $$("[data-bulk]")) {
    b.addEventListener("click", () => {
      const verb = VERBS[b.dataset.bulk], ids = [...list.selected];
      act({ ask: `${verb} ${ids.length} job(s)? ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}`, label: verb,
        path: "/api/jobs/" + b.dataset.bulk, body: { ids }, done: (r) => `${verb}: ${ids.length} job(s) done.` + cameBack(r),
        after: () => { list.selected.clear(); return list.load(); } });
    });
  }
}

export default async function jobsPage() {
  const form = $("#filters");
  fillFilters(form);
  const list = new JobList(form);
  wireFilters(list);
  wireSelection(list);
  currentStatus().then((st) => {
    $("#queue-names").replaceChildren(...Object.keys(st.queues || {}).map((q) => h("option", { value: q })));
  }).catch(() => {});
  on("jobs", throttle(() => list.load(), 1000));
  await list.load();
}
