// The overview page: job counts, queues (paused or running, each with its button) and
// the last hour's throughput chart, kept current by the status events.
import { heldNote } from "./limits.js";
import { $, STATES, act, api, button, currentStatus, enc, fmtN, h, keepPlace, listOf, ms, on, setText, since, svg, throttle, writable } from "./core.js";

function renderStatus(st) {
  for (const s of STATES) if (s !== "pending") setText("#count-" + s, fmtN(st.jobs[s]));
  setText("#count-pending", fmtN(st.due)); // pending splits into due now and scheduled
  setText("#count-scheduled", fmtN(st.scheduled));
  setText("#count-blocked", fmtN(st.blocked));
  const alive = Array.isArray(st.workers) ? st.workers.filter((w) => w.alive !== false).length : st.workers;
  setText("#workers-alive", fmtN(alive));
  setText("#slots-busy", fmtN(st.slots_busy) + " / " + fmtN(st.slots)); // started jobs only
  setText("#slots-reserved", fmtN(st.slots_reserved));
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
      h("td", {}, h("span", { class: "state " + (isPaused ? "state-failed" : "state-completed") }, isPaused ? "paused" : "running"),
        (st.held_back || {})[q] ? [" ", heldNote(st.held_back[q])] : null),
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
export default async function overview() {
  const loadChart = async () => { try { renderChart(listOf(await api("GET", "/api/throughput?minutes=60"), "minutes")); } catch (e) { setText("#chart-sum", e.message); } };
  on("status", (st) => st && renderStatus(st));
  const chart = throttle(loadChart, 10000);
  on("status", chart);
  setInterval(loadChart, 60000); // the window slides even when nothing happens
  renderStatus(await currentStatus());
  chart();
}
