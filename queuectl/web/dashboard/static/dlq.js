// The dead letter queue: dead jobs grouped by how they failed, each group and each job
// with its retry, and a page-by-page list.
import { $, act, api, button, cmd, flash, fmtN, h, jobLink, listOf, on, since, throttle, writable } from "./core.js";

export default async function dlqPage() {
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
