// The queues page: per queue, jobs due now and scheduled for later, running, failed, dead,
// its oldest due job's wait, paused or not with its button and why its due jobs wait, its
// limits (edited in place); the concurrency keys with their limits and holders; below, one
// queue's scheduled jobs by run time in the browser's zone, each with "Run now". Live on
// the jobs events: one comes with every status change and with any other write (a limit
// changed from another dashboard or the CLI).
import { heldNote, loadKeys, queueLimitsCell, wireKeyForm } from "./limits.js";
import { $, act, api, button, cmd, enc, flash, fmtN, h, jobLink, keepPlace, listOf, localTime, on, setText, since, span, throttle, writable, zoneName } from "./core.js";

const num = (n) => h("td", { class: "num" }, fmtN(n));

function queueRow(q, paused, reload) {
  const byName = paused.has(q.queue), every = paused.has("*");
  const verb = byName ? "resume" : "pause";
  const toggle = () => act({ path: `/api/queues/${enc(q.queue)}/${verb}`, done: `${q.queue} ${byName ? "resumed" : "paused"}.`, after: reload });
  const oldest = q.oldest_pending_age == null ? h("span", {}, "–") : since(Date.now() - q.oldest_pending_age * 1000, "");
  return h("tr", { "data-queue": q.queue, class: q.paused ? "paused" : "" },
    h("td", {}, h("a", { href: "/jobs?queue=" + enc(q.queue) }, q.queue)),
    num(q.due), num(q.scheduled), num(q.running), num(q.failed), num(q.dead), h("td", { class: "num" }, oldest),
    h("td", {}, h("span", { class: "state " + (q.paused ? "state-failed" : "state-completed") }, q.paused ? "paused" : "running"), q.held_back ? [" ", heldNote(q.held_back)] : null),
    queueLimitsCell(q, reload),
    writable() ? h("td", {}, every && !byName ? null : button(byName ? "Resume" : "Pause", toggle, "small")) : null);
}

function scheduledRow(j, reload) {
  const at = new Date(j.run_at);
  const runNow = () => act({ path: "/api/jobs/" + enc(j.id) + "/run-now", done: `${j.id} is due now.`, after: reload });
  return h("tr", { "data-id": j.id },
    h("td", {}, h("time", { datetime: at.toISOString(), title: at.toISOString() }, localTime(j.run_at))),
    h("td", {}, span((at.getTime() - Date.now()) / 1000)), h("td", {}, jobLink(j.id)),
    h("td", { class: "num" }, String(j.priority)), h("td", {}, cmd(j.command)),
    writable() ? h("td", {}, button("Run now", runNow, "small")) : null);
}

export default async function queuesPage() {
  const pick = $("#scheduled-queue");
  setText("#zone", "(" + zoneName() + ")");
  async function loadScheduled() {
    const name = pick.value;
    if (!name) { $("#scheduled tbody").replaceChildren(); $("#scheduled-empty").hidden = false; return; }
    const d = await api("GET", `/api/queues/${enc(name)}/scheduled?limit=100`);
    const rows = listOf(d, "jobs").map((j) => scheduledRow(j, load));
    keepPlace($("#scheduled tbody"), () => $("#scheduled tbody").replaceChildren(...rows));
    $("#scheduled-empty").hidden = rows.length > 0;
    const note = $("#scheduled-note");
    note.hidden = d.complete && rows.length === d.read;
    note.textContent = d.complete ? `The first ${fmtN(rows.length)} of ${fmtN(d.read)} scheduled jobs.`
      : `This queue holds more than ${fmtN(d.read)} scheduled jobs: these are the earliest of the ${fmtN(d.read)} enqueued first.`;
  }
  async function load() {
    try {
      const d = await api("GET", "/api/queues"), list = listOf(d, "queues"), paused = new Set(d.paused || []);
      const rows = list.map((q) => queueRow(q, paused, load));
      keepPlace($("#queue-table tbody"), () => $("#queue-table tbody").replaceChildren(...rows));
      $("#queues-empty").hidden = rows.length > 0;
      $("#paused-all").hidden = !paused.has("*");
      const resumeAll = () => act({ path: "/api/queues/resume", done: "Every queue resumed.", after: load });
      $("#paused-all-act").replaceChildren(...(paused.has("*") && writable() ? [button("Resume all", resumeAll, "small")] : []));
      const chosen = pick.value || new URLSearchParams(location.search).get("queue") || (list.find((q) => q.scheduled) || list[0] || {}).queue || "";
      pick.replaceChildren(...list.map((q) => h("option", { value: q.queue }, `${q.queue} (${fmtN(q.scheduled)})`)));
      pick.value = chosen;
      const keys = await loadKeys(load);
      keepPlace($("#key-table tbody"), () => $("#key-table tbody").replaceChildren(...keys.rows));
      $("#keys-empty").hidden = keys.count > 0;
      await loadScheduled();
    } catch (e) { flash(e.message, true); }
  }
  pick.addEventListener("change", () => {
    history.replaceState(null, "", "/queues?queue=" + enc(pick.value));
    loadScheduled().catch((e) => flash(e.message, true));
  });
  wireKeyForm(load);
  on("jobs", throttle(load, 1000)); // sent with every status change, and on any other write
  await load();
}
