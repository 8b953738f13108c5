// queuectl dashboard: fills the server's page shells from the REST API and keeps them live
// with /api/events. Hand-written, no dependencies. This entry point loads the shared parts
// (core.js) and the module of the page shown (`<body data-page>`: jobs.js for "jobs").
import { $, $$, connect, flash, info, loadInfo, setupLiveToggle, writable } from "./core.js";

async function start() {
  try { await loadInfo(); } catch (e) { flash(e.message, true); }
  $("#sign-out").hidden = !info.auth_required; // a session ends on the server
  if (writable()) for (const el of $$(".act")) el.hidden = false;
  document.body.classList.toggle("read-only", !writable());
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
