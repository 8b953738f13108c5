// A job's workflow (GET /api/jobs/{id}/graph) drawn as a layered diagram in inline SVG:
// a column per layer, a job's layer the longest path to it from a job that runs after
// none; within a column, jobs ordered by the mean place of their neighbours (a few
// sweeps each way) so arrows cross less. Each job is a link, coloured by its state. Past
// the API's limit the page shows how many jobs are in each state instead.
import { $, api, enc, flash, fmtN, h, on, setText, svg } from "./core.js";

const byName = new Intl.Collator("en", { numeric: true }); // w2 before w10
const W = 190, H = 42, GAP_X = 70, GAP_Y = 12, PAD = 12;
const LABELS = ["pending", "blocked", "processing", "failed", "completed", "dead", "cancelled", "deleted"];

// Longest-path layers (Kahn's order); a job left over by a cycle (none should exist)
// goes after the others.
export function layers(nodes, edges) {
  const parents = new Map(nodes.map((n) => [n.id, []])), children = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) { parents.get(e.child).push(e.parent); children.get(e.parent).push(e.child); }
  const waiting = new Map(nodes.map((n) => [n.id, parents.get(n.id).length]));
  const layer = new Map();
  const ready = nodes.filter((n) => waiting.get(n.id) === 0).map((n) => n.id);
  for (const id of ready) layer.set(id, 0);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i];
    for (const c of children.get(id)) {
      layer.set(c, Math.max(layer.get(c) || 0, layer.get(id) + 1));
      waiting.set(c, waiting.get(c) - 1);
      if (waiting.get(c) === 0) ready.push(c);
    }
  }
  const last = Math.max(0, ...layer.values());
  for (const n of nodes) if (!layer.has(n.id)) layer.set(n.id, last + 1);
  const columns = [];
  const put = (id) => { const at = layer.get(id); (columns[at] = columns[at] || []).push(id); };
  for (const n of [...nodes].sort((a, b) => byName.compare(a.id, b.id))) put(n.id);
  // An arrow over several columns passes through a slot of its own in each column between
  // (a waypoint, ordered like a job), so it never runs under a job.
  const via = new Map();
  edges.forEach((e, k) => {
    const from = layer.get(e.parent), to = layer.get(e.child);
    if (to - from <= 1) return;
    const points = [];
    for (let at = from + 1; at < to; at++) {
      const id = `\u0000${k}:${at}`;
      layer.set(id, at); put(id); points.push(id);
    }
    const chain = [e.parent, ...points, e.child];
    for (let i = 0; i < chain.length - 1; i++) {
      (children.get(chain[i]) || children.set(chain[i], []).get(chain[i])).push(chain[i + 1]);
      (parents.get(chain[i + 1]) || parents.set(chain[i + 1], []).get(chain[i + 1])).push(chain[i]);
    }
    via.set(k, points);
  });
  return { columns: columns.filter(Boolean), parents, children, via };
}

// Barycentre ordering: each column sorted by the mean row of its jobs' neighbours in
// the columns already placed, down then up, four times.
export function order({ columns, parents, children }) {
  const row = new Map();
  const place = () => { for (const col of columns) col.forEach((id, i) => row.set(id, i - (col.length - 1) / 2)); };
  place();
  const sweep = (col, near) => {
    const key = new Map(col.map((id) => {
      const seen = near.get(id).filter((o) => row.has(o));
      return [id, seen.length ? seen.reduce((s, o) => s + row.get(o), 0) / seen.length : row.get(id)];
    }));
    col.sort((a, b) => key.get(a) - key.get(b));
    col.forEach((id, i) => row.set(id, i - (col.length - 1) / 2));
  };
  for (let round = 0; round < 4; round++) {
    for (let i = 1; i < columns.length; i++) sweep(columns[i], parents);
    for (let i = columns.length - 2; i >= 0; i--) sweep(columns[i], children);
  }
  place();
  return columns;
}

const shown = (n) => (n.state == null ? "deleted" : n.blocked ? "blocked" : n.state);
const cut = (text, max) => (text.length > max ? text.slice(0, max - 1) + "…" : text);

function draw(graph) {
  const { nodes, edges } = graph;
  const placed = layers(nodes, edges), columns = order(placed);
  const tallest = Math.max(...columns.map((c) => c.length));
  const at = new Map();
  columns.forEach((col, x) => col.forEach((id, i) => {
    const y = (i + (tallest - col.length) / 2) * (H + GAP_Y);
    at.set(id, { x: PAD + x * (W + GAP_X), y: PAD + y });
  }));
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GAP_X;
  const height = PAD * 2 + tallest * H + (tallest - 1) * GAP_Y;
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L8,4 L0,8 z", class: "arrow" }));
  const defs = svg("defs", {});
  defs.append(marker);
  const kids = [defs];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  edges.forEach((e, k) => {
    const stops = [e.parent, ...(placed.via.get(k) || []), e.child].map((id) => at.get(id));
    let d = `M${stops[0].x + W},${stops[0].y + H / 2}`;
    for (let i = 1; i < stops.length; i++) {
      const x1 = stops[i - 1].x + W, y1 = stops[i - 1].y + H / 2, x2 = stops[i].x, y2 = stops[i].y + H / 2, mid = (x1 + x2) / 2;
      d += ` C${mid},${y1} ${mid},${y2} ${i === stops.length - 1 ? x2 - 1 : x2},${y2}`;
      if (i < stops.length - 1) d += ` L${x2 + W},${y2}`; // straight through a waypoint's slot
    }
    kids.push(svg("path", { class: "edge edge-" + shown(byId.get(e.parent)), d, "marker-end": "url(#arrow)", "data-edge": e.parent + ">" + e.child }));
  });
  for (const n of nodes) {
    const { x, y } = at.get(n.id), state = shown(n);
    const current = n.id === graph.job ? " current" : "";
    const label = `job ${n.id}, ${state}${n.command ? ": " + n.command : ""}`;
    const g = n.state == null
      ? svg("g", { class: `node state-${state}${current}`, "data-id": n.id, role: "img", "aria-label": label })
      : svg("a", { class: `node state-${state}${current}`, href: "/jobs/" + enc(n.id), "data-id": n.id, "aria-label": label });
    g.append(svg("title", {}, label),
      svg("rect", { x, y, width: W, height: H, rx: 6 }),
      svg("text", { x: x + 8, y: y + 17, class: "node-id" }, cut(n.id, 26)),
      svg("text", { x: x + 8, y: y + 33, class: "node-sub" }, cut(state + (n.command ? " · " + n.command : ""), 30)));
    kids.push(g);
  }
  const box = $("#graph");
  box.setAttribute("viewBox", `0 0 ${width} ${height}`);
  box.setAttribute("width", width);
  box.setAttribute("height", height);
  box.replaceChildren(...kids);
  return at.get(graph.job);
}

// Bring the job the page is about into view (a column of hundreds scrolls).
function reveal(spot) {
  const wrap = $("#graph-wrap");
  wrap.scrollTo({ left: Math.max(0, spot.x + W / 2 - wrap.clientWidth / 2), top: Math.max(0, spot.y + H / 2 - wrap.clientHeight / 2) });
}

function legend(counts) {
  $("#graph-legend").replaceChildren(...LABELS.filter((s) => counts[s]).map((s) =>
    h("span", { class: "key", "data-state": s }, h("span", { class: "swatch state-" + s }), `${s} ${fmtN(counts[s])}`)));
}

function countsTable(graph) {
  $("#graph-counts tbody").replaceChildren(...LABELS.filter((s) => graph.counts[s]).map((s) =>
    h("tr", { "data-state": s }, h("td", {}, h("span", { class: "state state-" + s }, s)), h("td", { class: "num" }, fmtN(graph.counts[s])))));
}

export default async function graphPage() {
  const id = document.body.dataset.jobId;
  let last = "", lastAt = 0, big = false, timer = null, drawn = false;
  async function load() {
    lastAt = Date.now();
    let graph;
    try { graph = await api("GET", "/api/jobs/" + enc(id) + "/graph"); } catch (e) { setText("#graph-sum", e.message); flash(e.message, true); return; }
    const sig = JSON.stringify(graph);
    if (sig === last) return; // nothing moved: leave the drawing (and the focus) alone
    last = sig;
    big = !graph.complete;
    legend(graph.counts);
    $("#graph-wrap").hidden = !graph.complete;
    $("#graph-counts").hidden = graph.complete;
    if (graph.complete) {
      const spot = draw(graph), first = !drawn;
      drawn = true;
      if (first) reveal(spot);
      setText("#graph-sum", `${fmtN(graph.total)} ${graph.total === 1 ? "job" : "jobs"}; arrows point to the jobs that run after. Click a job to open it.`);
    } else {
      countsTable(graph);
      const many = graph.exact ? fmtN(graph.total) : `more than ${fmtN(graph.total)}`;
      setText("#graph-sum", `This workflow has ${many} jobs: too many to draw. How many are in each state:`);
    }
  }
  // Live: at most every 2 s, or every 10 s for a workflow too large to draw (its counts
  // read up to 5,000 jobs).
  on("jobs", () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; load(); }, Math.max(0, lastAt + (big ? 10000 : 2000) - Date.now()));
  });
  await load();
}
