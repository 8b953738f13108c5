// The config page: every key with its value, default and meaning; edit, save, reset.
import { $, act, api, button, enc, flash, h, listOf, writable } from "./core.js";

export default async function configPage() {
  async function load() {
    const items = listOf(await api("GET", "/api/config"), "items");
    $("#config tbody").replaceChildren(...items.map((it) => {
      const input = h("input", { value: it.value, "aria-label": it.key, name: it.key, readonly: !writable(), "aria-describedby": "cerr-" + it.key });
      const err = h("p", { class: "field-error", id: "cerr-" + it.key });
      const save = async () => {
        err.textContent = ""; input.removeAttribute("aria-invalid");
        try { await api("PUT", "/api/config/" + enc(it.key), { value: input.value }); flash(`${it.key} = ${input.value}`); await load(); } catch (e) {
          err.textContent = e.message; input.setAttribute("aria-invalid", "true"); input.focus();
        }
      };
      input.addEventListener("keydown", (e) => { if (e.key === "Enter" && writable()) save(); });
      const reset = () => act({ ask: `Reset ${it.key} to its default (${it.default})?`, label: "Reset", method: "DELETE", path: "/api/config/" + enc(it.key), done: `${it.key} reset.`, after: load });
      return h("tr", { "data-key": it.key, class: it.is_default ? "" : "changed" },
        h("td", {}, h("code", {}, it.key)), h("td", {}, input, err), h("td", {}, h("code", {}, String(it.default))),
        h("td", {}, it.meaning || ""),
        writable() ? h("td", {}, button("Save", save, "small"), " ", it.is_default ? null : button("Reset", reset, "small")) : null);
    }));
  }
  try { await load(); } catch (e) { flash(e.message, true); }
}
