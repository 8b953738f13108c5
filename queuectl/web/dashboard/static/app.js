// queuectl dashboard: fills the server's page shells from the REST API and keeps them live
// with /api/events. Hand-written, no dependencies. This entry point loads the shared parts
// (core.js) and the module of the page shown (`<body data-page>`: jobs.js for "jobs").
import { $, $$, connect, flash, info, loadInfo, setupLiveToggle, writable } from "./core.js";

// At phone width a table's rows show as cards (app.css): each cell names its column in
// data-label, taken from the header cell shown above it (a header that is only for
// screen readers, like "actions", gives no label).
function labelCells(table) {
  const names = $$("thead th", table).filter((th) => !th.hidden).map((th) => (th.querySelector(".sr, input") ? "" : th.textContent.trim()));
  for (const row of $$("tbody tr", table)) {
    [...row.cells].forEach((cell, i) => { const name = names[i] || ""; if (cell.dataset.label !== name) cell.dataset.label = name; });
  }
}
function labelTables() {
  for (const table of $$(".scroll > table")) {
    new MutationObserver(() => labelCells(table)).observe(table.tBodies[0], { childList: true });
    labelCells(table);
  }
}

// A count that would spill out of its card is drawn smaller (app.css: .tight), checked
// whenever its text changes and when the window is resized.
function fitCounts() {
  const fit = (n) => { n.classList.remove("tight"); n.classList.toggle("tight", n.scrollWidth > n.clientWidth); };
  const counts = $$(".card .n");
  for (const n of counts) new MutationObserver(() => fit(n)).observe(n, { childList: true, characterData: true, subtree: true });
  window.addEventListener("resize", () => counts.forEach(fit));
  counts.forEach(fit);
}

async function start() {
  try { await loadInfo(); } catch (e) { flash(e.message, true); }
  $("#sign-out").hidden = !info.auth_required; // a session ends on the server
  if (writable()) for (const el of $$(".act")) el.hidden = false;
  document.body.classList.toggle("read-only", !writable());
  labelTables();
  fitCounts();
  connect();
  setupLiveToggle();
  try {
    const page = await import("./" + document.body.dataset.page + ".js");
    await page.default();
  } catch (e) { flash(e.message, true); }
  document.body.dataset.ready = "1";
  performance.mark("queuectl-ready"); // the benchmark reads it: data on screen
}
start();
