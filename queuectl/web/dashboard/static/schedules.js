// The schedules page: every schedule with its cron expression (and in words) or interval,
// its zone, its next runs in the browser's zone, its last run with that job's state, and
// pause/resume, run now and remove; below, the form that adds one (the API's validation
// errors next to the field they name). Live on the status events.
import { $, $$, act, api, badge, button, cmd, enc, flash, h, jobLink, keepPlace, listOf, localTime, on, setText, throttle, writable, zoneName } from "./core.js";

const timeCell = (iso) => h("time", { datetime: iso, title: iso }, localTime(iso));

function whenCell(s) {
  if (s.cron == null) return h("td", {}, h("span", { class: "words", title: `every ${s.every} seconds` }, s.words));
  return h("td", {}, h("code", { class: "expr" }, s.cron), h("br"), h("small", { class: "words" }, s.words));
}

function lastCell(s) {
  const runs = h("a", { href: "/jobs?id_prefix=" + enc(s.name + "@"), class: "runs" }, "all runs");
  if (!s.last_job) return h("td", {}, h("span", { class: "empty" }, "not run yet"), " · ", runs);
  return h("td", {}, s.last_run ? timeCell(s.last_run) : null, " ", s.last_state ? badge(s.last_state) : null,
    h("br"), jobLink(s.last_job), " · ", runs);
}

function row(s, reload) {
  const path = "/api/schedules/" + enc(s.name);
  const verb = s.paused ? "resume" : "pause";
  const toggle = () => act({ path: `${path}/${verb}`, done: `${s.name} ${s.paused ? "resumed" : "paused"}.`, after: reload });
  const runNow = () => act({ path: `${path}/run`, done: (out) => `${out.id} enqueued.`, after: reload });
  const remove = () => act({ ask: `Remove the schedule ${s.name}? Its runs so far stay.`, label: "Remove", method: "DELETE", path, done: `${s.name} removed.`, after: reload });
  const status = h("span", { class: "state " + (s.paused ? "state-failed" : "state-completed"), title: s.skipped ? `${s.skipped} run(s) skipped` : null }, s.paused ? "paused" : "active");
  return h("tr", { "data-key": s.name, class: s.paused ? "paused" : "" },
    h("td", {}, h("strong", {}, s.name), h("br"), cmd(s.spec.command)),
    whenCell(s),
    h("td", {}, s.cron != null ? s.tz : "–"),
    h("td", {}, h("ul", { class: "next-runs" }, ...s.next_runs.map((iso) => h("li", {}, timeCell(iso))))),
    lastCell(s),
    h("td", {}, status),
    writable() ? h("td", { class: "row-actions" }, button(s.paused ? "Resume" : "Pause", toggle, "small"), " ",
      button("Run now", runNow, "small"), " ", button("Remove", remove, "small danger")) : null);
}

function setupForm(form, reload) {
  const zone = zoneName();
  if (zone !== "local time") form.elements.tz.value = zone;
  const clear = () => {
    for (const el of $$(".field-error", form)) el.textContent = "";
    for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear();
    const f = form.elements, value = (name) => f[name].value.trim();
    const spec = { command: f.command.value };
    if (value("queue")) spec.queue = value("queue");
    const body = { name: value("name"), spec, tz: value("tz") || "UTC", catch_up: f.catch_up.value, no_overlap: f.no_overlap.checked };
    if (value("cron")) body.cron = value("cron");
    if (value("every")) body.every = /^\d+(\.\d+)?$/.test(value("every")) ? Number(value("every")) : value("every");
    try {
      const out = await api("POST", "/api/schedules", body);
      flash(`Schedule ${out.name} added: ${out.words}.`);
      form.reset();
      if (zone !== "local time") f.tz.value = zone;
      await reload();
    } catch (err) {
      const name = err.field === "spec" ? "command" : err.field;
      const input = name && f[name];
      (input ? $("#err-" + name) : $("#err-form")).textContent = err.message;
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    }
  });
}

export default async function schedulesPage() {
  setText("#zone", "(" + zoneName() + ")");
  async function load() {
    try {
      const list = listOf(await api("GET", "/api/schedules"), "schedules");
      const rows = list.map((s) => row(s, load));
      keepPlace($("#schedules tbody"), () => $("#schedules tbody").replaceChildren(...rows));
      $("#schedules-empty").hidden = rows.length > 0;
    } catch (e) { flash(e.message, true); }
  }
  if (writable()) setupForm($("#add-schedule"), load);
  on("status", throttle(load, 1000));
  await load();
}
