// Workflows on a job's page: the jobs it runs after and those that run after it, each
// with its state and a link; why it is blocked or was cancelled; a link to the whole
// workflow's diagram (graph.js).
import { $, badge, enc, fmtN, h, jobLink } from "./core.js";

const MODES = { completed: "once all completed", finished: "once all finished, however they ended" };

const linked = (l) => h("li", { "data-id": l.id }, l.state ? jobLink(l.id) : h("code", {}, l.id), " ",
  l.state ? badge(l.state) : h("span", { class: "muted" }, "deleted"));

function why(job, after) {
  if (job.blocked) {
    const of = job.after_mode === "finished" ? "to finish" : "to complete";
    return h("p", { class: "note", id: "wf-blocked" }, `Blocked: waiting for ${fmtN(job.waiting_for)} of ${fmtN(after.length)} ${after.length === 1 ? "job" : "jobs"} ${of}.`);
  }
  if (job.cancelled_by) {
    const by = after.find((l) => l.id === job.cancelled_by);
    return h("p", { class: "note", id: "wf-cancelled" }, "Cancelled because it runs after ", jobLink(job.cancelled_by),
      by && by.state ? [", which ended ", badge(by.state)] : null, ".");
  }
  return null;
}

// The job page's Workflow section; hidden for a job in no workflow.
export function showLinks(d) {
  const { job } = d, after = d.after || [], deps = d.dependents || [];
  $("#job-blocked").hidden = !job.blocked;
  const section = $("#workflow");
  section.hidden = !after.length && !deps.length && !job.cancelled_by;
  if (section.hidden) return;
  const lists = h("div", { class: "links" });
  if (after.length) lists.append(h("div", {}, h("h3", {}, `Runs after (${MODES[job.after_mode] || job.after_mode})`), h("ul", { id: "wf-after" }, after.map(linked))));
  if (deps.length) lists.append(h("div", {}, h("h3", {}, "Jobs that run after it"), h("ul", { id: "wf-dependents" }, deps.map(linked))));
  $("#workflow-body").replaceChildren(why(job, after) || "", lists,
    h("p", {}, h("a", { href: "/jobs/" + enc(job.id) + "/graph", id: "wf-graph" }, "Show the whole workflow")));
}
