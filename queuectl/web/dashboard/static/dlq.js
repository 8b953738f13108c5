// The dead letter queue: dead jobs grouped by failure fingerprint (the API's groups),
// each group with its jobs, retry and purge, and a page-by-page list with a retry each.
import { $, act, api, button, cameBack, cmd, enc, flash, fmtN, h, jobLink, keepPlace, listOf, on, since, throttle, writable } from "./core.js";

// One group: its fingerprint's line (the last line of stderr, made alike), kind and exit
// code, how many jobs, a link to them (the jobs view filtered by the fingerprint), and
// retry or purge of the whole group, each saying how many it acts on.
function groupRow(g, again) {
  const n = fmtN(g.count), jobs = g.count === 1 ? "job" : "jobs";
  const retry = () => act({ path: "/api/dlq/retry", body: { group: g.key },
    done: (out) => `Retried ${fmtN(out.ids.length)} ${jobs}.` + cameBack(out), after: again });
  const purge = () => act({ ask: `Delete the ${n} ${jobs} of this group for good?`, label: "Purge " + n, path: "/api/dlq/purge", body: { group: g.key },
    done: (out) => `Purged ${fmtN(out.deleted)} ${jobs}.`, after: again });
  return h("tr", { "data-group": g.key, "data-key": g.key },
    h("td", {}, h("code", { class: "err fp-line" }, g.line || "(no stderr)"), g.error ? h("div", { class: "muted" }, g.error) : null),
    h("td", {}, g.kind), h("td", { class: "num" }, g.exit_code == null ? "–" : String(g.exit_code)),
    h("td", { class: "num group-count" }, fmtN(g.count)),
    h("td", {}, h("a", { href: "/jobs?state=dead&fingerprint=" + enc(g.key) }, `${n} ${jobs}`)),
    writable() ? h("td", {}, button(`Retry group (${n})`, retry, "small"), " ", button(`Purge group (${n})`, purge, "small danger")) : null);
}

export default async function dlqPage() {
  const view = { cursors: [null], page: 0, dead: null }, again = () => load();
  // Groups cost a read per dead job fingerprinted (the newest 1000): they are read again
  // only when the number of dead jobs changes, the list of dead jobs on every job event.
  async function loadGroups() {
    const found = await api("GET", "/api/dlq/groups"), groups = listOf(found, "groups");
    view.dead = found.dead;
    keepPlace($("#dlq-groups tbody"), () => $("#dlq-groups tbody").replaceChildren(...groups.map((g) => groupRow(g, again))));
    $("#groups-empty").hidden = groups.length > 0;
    const window = $("#groups-window");
    window.hidden = found.fingerprinted >= found.dead;
    window.textContent = `Grouped: the newest ${fmtN(found.fingerprinted)} of ${fmtN(found.dead)} dead jobs (older ones are listed below, not grouped).`;
  }
  async function loadJobs() {
    const q = new URLSearchParams({ limit: "50" }), cursor = view.cursors[view.page];
    if (cursor) q.set("cursor", cursor);
    const d = await api("GET", "/api/dlq?" + q), jobs = listOf(d, "jobs");
    $("#dlq-jobs tbody").replaceChildren(...jobs.map((j) => h("tr", { "data-id": j.id },
      h("td", {}, jobLink(j.id)), h("td", {}, j.queue), h("td", { class: "num" }, String(j.attempts)),
      h("td", {}, since(j.updated_at)), h("td", { class: "err" }, j.last_error || "–"), h("td", {}, cmd(j.command)),
      writable() ? h("td", {}, button("Retry", () => act({ path: "/api/dlq/retry", body: { ids: [j.id] }, done: (r) => `Retried ${j.id}.` + cameBack(r), after: again }), "small")) : null)));
    view.next = d.next_cursor;
    $("#prev").disabled = view.page === 0;
    $("#next").disabled = !d.next_cursor;
  }
  const quietly = (fn) => async () => { try { await fn(); } catch (e) { flash(e.message, true); } };
  const load = quietly(() => Promise.all([loadGroups(), loadJobs()]));
  $("#retry-all").addEventListener("click", () => act({ ask: "Retry every dead job?", label: "Retry all", path: "/api/dlq/retry", body: { all: true },
    done: (out) => `Retried ${fmtN(out.ids.length)} dead job(s).` + cameBack(out), after: again }));
  $("#purge").addEventListener("click", () => act({ ask: "Delete every dead job for good?", label: "Purge", path: "/api/dlq/purge", body: { older_than: null },
    done: (out) => `Purged ${fmtN(out.deleted)} dead job(s).`, after: again }));
  $("#next").addEventListener("click", () => { view.cursors[view.page + 1] = view.next; view.page += 1; quietly(loadJobs)(); });
  $("#prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); quietly(loadJobs)(); });
  on("jobs", throttle(quietly(loadJobs), 1000));
  const groupsAgain = throttle(quietly(loadGroups), 1000);
  on("status", (st) => { if (st && st.jobs && view.dead !== null && st.jobs.dead !== view.dead) { view.dead = st.jobs.dead; groupsAgain(); } });
  await load();
}
