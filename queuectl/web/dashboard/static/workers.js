// The workers page: each worker, its slots and running jobs, with graceful and
// immediate stops (all=1 shows recently dead ones too).
import { $, act, api, button, flash, h, jobLink, keepPlace, listOf, on, since, span, throttle, writable } from "./core.js";

export default async function workersPage() {
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
        h("td", { class: "num" }, `${w.busy} / ${w.slots}`), h("td", { class: "num" }, String(w.reserved)),
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
