// One job's page: its spec, the actions its state allows, and every attempt with its
// output; a running attempt's output is followed live (the output event stream).
import { $, $$, act, api, badge, button, cameBack, enc, flash, h, listOf, ms, on, setText, since, span, throttle, writable } from "./core.js";
import { heldNote } from "./limits.js";
import { showLinks } from "./workflow.js";

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

const field = (k, v) => [h("dt", {}, k), h("dd", {}, v == null || v === "" ? "–" : v)];

function specFields(job) {
  return [
    ...field("command", h("pre", {}, job.command)), ...field("queue", job.queue),
    ...field("priority", String(job.priority)), ...field("attempts", `${job.attempts} of ${job.max_retries + 1}`),
    ...field("timeout", job.timeout ? job.timeout + " s" : "none"), ...field("run at", job.run_at),
    ...field("concurrency key", job.concurrency_key ? h("code", {}, job.concurrency_key) : null),
    ...field("directory", job.cwd ? h("code", {}, job.cwd) : "the worker's own"),
    ...field("environment", envList(job.env)), ...field("keep daemons", job.keep_daemons ? "yes" : "no"),
    ...field("unique key", job.unique_key ? h("code", {}, job.unique_key) : null),
    ...field("created", job.created_at), ...field("updated", job.updated_at),
    ...field("worker", job.worker_id), ...field("exit code", job.exit_code == null ? null : String(job.exit_code)),
    ...field("last error", job.last_error ? h("span", { class: "err" }, job.last_error) : null)];
}

// The buttons the job's state allows; `again` reloads the page's data.
function actions(job, base, again) {
  const s = job.state, id = job.id, out = [];
  if (["pending", "failed", "processing"].includes(s)) {
    out.push(button("Cancel", () => act({ ask: `Cancel job ${id}?${s === "processing" ? " Its command is killed." : ""}`, label: "Cancel job", path: base + "/cancel", done: "Cancel requested.", after: again }), "danger"));
  }
  if (s === "dead") out.push(button("Retry from DLQ", () => act({ path: "/api/dlq/retry", body: { ids: [id] }, done: (r) => "Retried: the job is pending again." + cameBack(r), after: again }), "primary"));
  if (["completed", "failed", "dead", "cancelled"].includes(s)) {
    out.push(button("Requeue", () => act({ ask: `Run job ${id} again?`, label: "Requeue", path: base + "/requeue", done: (r) => "Requeued." + cameBack(r), after: again })));
  }
  if (["completed", "dead", "cancelled"].includes(s)) {
    out.push(button("Delete", () => act({ ask: `Delete job ${id} and its history? This cannot be undone.`, label: "Delete", method: "DELETE", path: base, done: "Deleted.", after: () => location.assign("/jobs") }), "danger"));
  }
  out.push(h("a", { class: "button", href: "/enqueue?copy=" + enc(id) }, "Enqueue a copy"));
  $("#job-actions").replaceChildren(...out);
}

// `run` numbers every attempt ever made (attempt numbers restart after a DLQ retry);
// `hosts` are the workers by id.
function attemptItem(a, job, run, runs, hosts) {
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

class JobView {
  constructor(id, hosts) {
    this.id = id;
    this.base = "/api/jobs/" + enc(id);
    this.hosts = hosts;
    this.signature = "";
    this.follow = null;
  }

  startFollow(run) {
    if (this.follow) return;
    const boxes = { stdout: $(`#out-${run}-stdout`), stderr: $(`#out-${run}-stderr`) };
    if (!boxes.stdout) return;
    boxes.stdout.textContent = ""; boxes.stderr.textContent = "";
    const follow = this.follow = new EventSource(this.base + "/output?follow=1");
    for (const stream of ["stdout", "stderr"]) {
      follow.addEventListener(stream, (e) => {
        const box = boxes[stream], atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
        box.append(JSON.parse(e.data));
        if (atEnd) box.scrollTop = box.scrollHeight;
      });
    }
    follow.addEventListener("end", () => { follow.close(); this.follow = null; this.load(true); });
    follow.onerror = () => { if (this.follow && this.follow.readyState === EventSource.CLOSED) this.follow = null; };
  }

  async load(force) {
    let d;
    try { d = await api("GET", this.base); } catch (e) {
      if (e.status === 404) { setText("#job-state", "not found"); $("#job-actions").replaceChildren(); }
      flash(e.message, true); return;
    }
    const { job, attempts } = d;
    // A release changes no updated_at: what it is waiting for, and the linked jobs' states, count too.
    const sig = JSON.stringify([job.state, job.updated_at, attempts.length, job.waiting_for, job.cancelled_by, d.after, d.dependents, job.held_back]);
    if (!force && sig === this.signature) return;
    if (this.follow && job.state === "processing" && !force) return; // the stream keeps it current
    this.signature = sig;
    const st = $("#job-state");
    st.className = "state state-" + job.state; st.textContent = job.state;
    const held = $("#job-held"); // due, but a limit keeps it from running: the server says which
    held.hidden = !job.held_back;
    held.replaceChildren(...(job.held_back ? ["Due, but not running: ", heldNote(job.held_back)] : []));
    if (writable()) actions(job, this.base, () => this.load(true));
    $("#spec").replaceChildren(...specFields(job));
    showLinks(d);
    const openNow = new Set($$("#attempts details[open]").map((d) => d.closest("li").dataset.run));
    const items = attempts.map((a, i) => attemptItem(a, job, i + 1, attempts.length, this.hosts)).reverse();
    for (const li of items) if (openNow.has(li.dataset.run)) $("details", li).open = true;
    $("#attempts").replaceChildren(...items);
    $("#attempts-empty").hidden = attempts.length > 0;
    const current = attempts.findIndex((a) => a.finished_at == null);
    if (job.state === "processing" && current >= 0) this.startFollow(current + 1);
  }
}

export default async function jobPage() {
  let hosts;
  try { hosts = Object.fromEntries(listOf(await api("GET", "/api/workers?all=1"), "workers").map((w) => [w.id, w])); } catch { hosts = {}; }
  const view = new JobView(document.body.dataset.jobId, hosts);
  on("jobs", throttle(() => view.load(false), 1000));
  await view.load(true);
  // sent here by the enqueue form: its job was a duplicate of this one's unique key
  if (new URLSearchParams(location.search).has("duplicate")) flash("Nothing added: this job holds that unique key.");
}
