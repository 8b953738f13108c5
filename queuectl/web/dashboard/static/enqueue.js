// The enqueue form: one job spec (or a copy of a job's), sent as JSON; the API's
// validation errors show next to the field they name.
import { $, $$, api, enc, flash, localIso, writable, zoneName } from "./core.js";

export default async function enqueuePage() {
  const form = $("#enqueue");
  if (!writable()) { $(".ro-note").hidden = false; return; }
  $("#hint-run_at").textContent = "your local time (" + zoneName() + ")";
  const copy = new URLSearchParams(location.search).get("copy");
  if (copy) {
    try {
      const d = await api("GET", "/api/jobs/" + enc(copy)), { job } = d;
      // A copy keeps every field of the spec (not the id: that one is taken).
      for (const k of ["command", "queue", "priority", "timeout", "max_retries", "cwd", "concurrency_key", "unique_key"]) if (job[k] != null) form.elements[k].value = job[k];
      if (job.env) form.elements.env.value = Object.entries(job.env).map(([k, v]) => `${k}=${v}`).join("\n");
      form.elements.keep_daemons.checked = !!job.keep_daemons;
      form.elements.after.value = (d.after || []).map((l) => l.id).join(", "); // its place in a workflow too
      if (job.after_mode) form.elements.after_mode.value = job.after_mode;
    } catch (e) { flash(e.message, true); }
  }
  const NUMERIC = ["priority", "delay", "timeout", "max_retries"];
  function clearErrors() {
    for (const el of $$(".field-error", form)) el.textContent = "";
    for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const spec = {};
    for (const el of $$("input, textarea", form)) {
      const v = el.value.trim();
      if (el.type === "checkbox") { if (el.checked) spec[el.name] = true; continue; }
      if (!v) continue;
      if (el.name === "env") {
        const env = {};
        for (const line of el.value.split("\n").filter((l) => l.trim())) {
          const at = line.indexOf("=");
          if (at < 1) { $("#err-env").textContent = `expected NAME=VALUE, got "${line}"`; el.setAttribute("aria-invalid", "true"); el.focus(); return; }
          env[line.slice(0, at)] = line.slice(at + 1);
        }
        spec.env = env;
      } else if (el.name === "after") spec.after = v.split(",").map((x) => x.trim()).filter(Boolean);
      else if (el.name === "run_at") spec.run_at = localIso(v) || v; // the API reports a bad one
      else if (NUMERIC.includes(el.name) && /^-?\d+(\.\d+)?$/.test(v)) spec[el.name] = Number(v);
      else spec[el.name] = el.name === "command" ? el.value : v; // the API reports wrong types
    }
    if (spec.after) spec.after_mode = form.elements.after_mode.value;
    if (spec.unique_key) spec.on_duplicate = form.elements.on_duplicate.value;
    try {
      const out = await api("POST", "/api/jobs", spec);
      // a duplicate of a held unique key: the job holding it is shown instead
      location.assign("/jobs/" + enc(out.id) + (out.duplicate ? "?duplicate=1" : ""));
    } catch (err) {
      const input = err.field && form.elements[err.field];
      const box = input ? $("#err-" + err.field) : $("#err-form");
      box.textContent = err.message;
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    }
  });
}
