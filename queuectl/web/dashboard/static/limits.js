// Limits on the dashboard: a queue's concurrency limit and rate, a concurrency key's limit
// (each shown, and edited in place where the server is writable), and why a due job is not
// running (`held_back`, the server's words). The server validates every value: its one-line
// error shows beside the fields and nothing changes.
import { $, api, button, enc, fmtN, flash, h, jobLink, listOf, writable } from "./core.js";

// Why a due job (or a queue's due jobs) is not running, in the server's words ("queue at
// its concurrency limit 2/2", "key deploy-prod busy (job d-17)"); a holder job named at
// the end is a link to it.
export function heldNote(reason) {
  if (!reason) return null;
  const holder = /^(.*\(job )([^()]+)(\))$/.exec(reason);
  const words = holder ? [holder[1], jobLink(holder[2]), holder[3]] : [reason];
  return h("span", { class: "held", title: "due, but not running: " + reason }, ...words);
}

// A limit field's text as the API takes it: empty or "none" lifts the limit; a whole
// number goes as a number; anything else goes as typed, for the server to refuse.
function concurrencyValue(text) {
  const v = text.trim();
  if (!v || v.toLowerCase() === "none") return null;
  return /^-?\d+$/.test(v) ? Number(v) : v;
}
const rateValue = (text) => { const v = text.trim(); return !v || v.toLowerCase() === "none" ? null : v; };

// An edit form whose fields keep what the user typed (and the error) through the live
// re-renders of its table: the same element is put back in each new row.
function editForm(name, fields, send, done) {
  const err = h("p", { class: "field-error", id: "lerr-" + name, role: "alert" });
  const inputs = fields.map(([field, label, hint]) =>
    h("input", { name: field, "aria-label": label, placeholder: hint, autocomplete: "off", "aria-describedby": "lerr-" + name }));
  const form = h("form", { class: "limit-edit", novalidate: true }, ...inputs, h("button", { type: "submit", class: "small" }, "Save"), err);
  const clear = () => { err.textContent = ""; for (const i of inputs) i.removeAttribute("aria-invalid"); };
  form.fill = (values) => { if (form.dataset.dirty) return; inputs.forEach((input, i) => { input.value = values[i] == null ? "" : String(values[i]); }); };
  form.addEventListener("input", () => { form.dataset.dirty = "1"; });
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") { delete form.dataset.dirty; clear(); done(); } });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear();
    try {
      flash(await send(...inputs.map((i) => i.value)));
      delete form.dataset.dirty;
      await done();
    } catch (error) {
      err.textContent = error.message; // the server's one line; nothing was changed
      const bad = inputs.find((i) => i.name === error.field) || inputs[0];
      bad.setAttribute("aria-invalid", "true");
      bad.focus();
    }
  });
  return form;
}

const queueForms = new Map();
const limitText = (n) => (n == null ? "none" : fmtN(n));

// The queues table's limits cell: "concurrency 1/2, rate 60/m" (jobs running / the limit;
// "none" without one), and the fields to change them (empty lifts a limit, "Lift limits"
// both).
export function queueLimitsCell(q, reload) {
  const shown = h("div", { class: "limits-now" },
    h("span", { class: "limit-concurrency", title: "jobs running / the queue's concurrency limit" }, "concurrency ",
      q.concurrency == null ? "none" : `${fmtN(q.running)}/${fmtN(q.concurrency)}`),
    ", ", h("span", { class: "limit-rate", title: "starts allowed per period" }, "rate ", q.rate == null ? "none" : q.rate));
  if (!writable()) return h("td", { class: "c-limits" }, shown);
  let form = queueForms.get(q.queue);
  if (!form) {
    const send = async (concurrency, rate) => {
      const out = await api("PUT", `/api/queues/${enc(q.queue)}/limits`, { concurrency: concurrencyValue(concurrency), rate: rateValue(rate) });
      return `${q.queue}: concurrency ${limitText(out.concurrency)}, rate ${out.rate || "none"}.`;
    };
    form = editForm("q-" + q.queue, [["concurrency", "concurrency limit of " + q.queue, "none"], ["rate", "rate of " + q.queue, "none"]], send, reload);
    queueForms.set(q.queue, form);
  }
  form.fill([q.concurrency, q.rate]);
  const lift = q.concurrency == null && q.rate == null ? null : button("Lift limits", async () => {
    try {
      await api("PUT", `/api/queues/${enc(q.queue)}/limits`, { concurrency: null, rate: null });
      delete form.dataset.dirty;
      flash(`${q.queue}: limits lifted.`);
      await reload();
    } catch (e) { flash(e.message, true); }
  }, "small");
  return h("td", { class: "c-limits" }, shown, form, lift);
}

const keyForms = new Map();

function keyRow(k, holders, reload) {
  const mine = holders.get(k.key) || [];
  let edit = null;
  if (writable()) {
    edit = keyForms.get(k.key);
    if (!edit) {
      const send = async (limit) => {
        const out = await api("PUT", `/api/keys/${enc(k.key)}/limit`, { concurrency: concurrencyValue(limit) });
        return `key ${k.key}: limit ${out.concurrency}${out.own ? "" : " (the default)"}.`;
      };
      edit = editForm("k-" + k.key, [["concurrency", "limit of key " + k.key, "1"]], send, reload);
      keyForms.set(k.key, edit);
    }
    edit.fill([k.own ? k.concurrency : null]);
  }
  const waiting = Math.max(0, k.jobs - k.running);
  return h("tr", { "data-key": k.key },
    h("td", {}, h("code", {}, k.key)),
    h("td", { class: "num c-key-limit" }, fmtN(k.concurrency), k.own ? null : h("small", { class: "muted" }, " (default)")),
    h("td", { class: "num c-key-running" }, `${fmtN(k.running)}/${fmtN(k.concurrency)}`),
    h("td", { class: "num" }, fmtN(waiting)),
    h("td", { class: "c-holders" }, mine.length ? mine.flatMap((id, i) => [i ? ", " : "", jobLink(id)]) : "–",
      k.running > mine.length ? h("small", { class: "muted" }, ` (+${fmtN(k.running - mine.length)} more)`) : null),
    edit ? h("td", {}, edit) : null);
}

const HOLDERS_READ = 1000; // running jobs read to name the holders of each key

// The keys table: each concurrency key with unfinished jobs or a limit of its own, how
// many of its jobs run (and which: links), how many wait, and its limit to edit.
export async function loadKeys(reload) {
  const keys = listOf(await api("GET", "/api/keys"), "keys");
  const holders = new Map();
  if (keys.some((k) => k.running > 0)) {
    const running = listOf(await api("GET", `/api/jobs?state=processing&limit=${HOLDERS_READ}&order=oldest`), "jobs");
    for (const j of running) if (j.concurrency_key) holders.set(j.concurrency_key, [...(holders.get(j.concurrency_key) || []), j.id]);
  }
  return { rows: keys.map((k) => keyRow(k, holders, reload)), count: keys.length };
}

// "Set a key's limit": for a key with no job yet (the others are edited in their row).
export function wireKeyForm(reload) {
  const form = $("#key-form");
  if (!form) return;
  const err = $("#err-key-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    for (const el of form.elements) el.removeAttribute("aria-invalid");
    const key = form.elements.key.value.trim();
    try {
      if (!key) throw Object.assign(new Error("name a concurrency key"), { field: "key" });
      const out = await api("PUT", `/api/keys/${enc(key)}/limit`, { concurrency: concurrencyValue(form.elements.limit.value) });
      flash(`key ${out.key}: limit ${out.concurrency}${out.own ? "" : " (the default)"}.`);
      form.reset();
      await reload();
    } catch (error) {
      err.textContent = error.message;
      const bad = error.field === "concurrency" ? form.elements.limit : form.elements.key;
      bad.setAttribute("aria-invalid", "true");
      bad.focus();
    }
  });
}
