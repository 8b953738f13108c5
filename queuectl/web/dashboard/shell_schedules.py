"""The schedules page's shell: the table its script (static/schedules.js) fills from
/api/schedules, and the form that adds one (hidden, like every action, until /api/info
says the server is writable)."""

from __future__ import annotations


def _field(name: str, label: str, hint: str = "", value: str = "") -> str:
    hint_html = f'<small id="hint-{name}">{hint}</small>' if hint else ""
    described = f"hint-{name} err-{name}" if hint else f"err-{name}"
    shown = f' value="{value}"' if value else ""
    return (
        f'<div class="field"><label for="f-{name}">{label}</label>'
        f'<input id="f-{name}" name="{name}" type="text" autocomplete="off"{shown}'
        f' aria-describedby="{described}">{hint_html}'
        f'<p class="field-error" id="err-{name}"></p></div>'
    )


_CATCH_UP = (
    '<div class="field"><label for="f-catch_up">Missed runs</label>'
    '<select id="f-catch_up" name="catch_up" aria-describedby="err-catch_up">'
    '<option value="latest">run the latest one</option>'
    '<option value="all">run them all</option>'
    '<option value="none">skip them</option></select>'
    '<p class="field-error" id="err-catch_up"></p></div>'
)

SCHEDULES = f"""<h1>Schedules</h1>
<div class="scroll"><table id="schedules">
<thead><tr><th>name</th><th>when</th><th>zone</th>
<th>next runs <span id="zone"></span></th><th>last run</th><th>status</th>
<th class="act" hidden><span class="sr">actions</span></th></tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="schedules-empty" hidden>No schedules yet.</p>
<section class="act" aria-labelledby="h-add" hidden><h2 id="h-add">Add a schedule</h2>
<form id="add-schedule" class="form" novalidate>
{_field("name", "Name", "letters, digits and ._:-; its runs are NAME@time")}
<div class="field wide"><label for="f-command">Command</label>
<textarea id="f-command" name="command" rows="2" spellcheck="false"
 aria-describedby="err-command"></textarea><p class="field-error" id="err-command"></p></div>
{_field("cron", "Cron expression", "minute hour day month weekday, e.g. 0 2 * * *")}
{_field("every", "or every (seconds)", "instead of a cron expression")}
{_field("tz", "Time zone", "of the cron expression", "UTC")}
{_field("queue", "Queue", "default: default")}
{_CATCH_UP}
<div class="field"><label class="chip"><input type="checkbox" id="f-no_overlap"
 name="no_overlap"> skip a run while the last one still runs</label></div>
<p class="field-error" id="err-form"></p>
<div class="row"><button type="submit" class="primary">Add schedule</button></div>
</form></section>
"""
