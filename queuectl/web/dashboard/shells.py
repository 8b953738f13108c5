"""The HTML shells of the dashboard pages.

Each page is a static skeleton (headings, empty tables, forms) that its script module
(static/<page>.js, loaded by app.js) fills from the REST API, so the server renders no
job data and a page costs the same with a million jobs as with none. Action controls
carry `hidden` and class `act`: the script reveals them only after /api/info says the
server is writable, so read-only servers never show them.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

NAV = (
    ("/", "overview", "Overview"),
    ("/jobs", "jobs", "Jobs"),
    ("/queues", "queues", "Queues"),
    ("/schedules", "schedules", "Schedules"),
    ("/dlq", "dlq", "DLQ"),
    ("/workers", "workers", "Workers"),
    ("/enqueue", "enqueue", "Enqueue"),
    ("/config", "config", "Config"),
)

STATES = ("pending", "processing", "failed", "dead", "completed", "cancelled")
HINTS = {
    "pending": ' title="pending and due now (scheduled and blocked ones are counted apart)"',
    "failed": ' title="failed an attempt, waiting for its retry"',
    "dead": ' title="out of retries: the dead letter queue"',
}


def layout(title: str, page: str, body: str, asset: str, data: str = "") -> str:
    """The frame every page shares: skip link, nav with the DLQ badge, flash area, dialog."""
    links = []
    for href, key, label in NAV:
        current = ' aria-current="page"' if key == page else ""
        badge = ' <span class="badge" id="nav-dead" hidden></span>' if key == "dlq" else ""
        links.append(f'<a href="{href}"{current}>{label}{badge}</a>')
    static = f"/static/{asset}"
    script = (  # app.js imports core.js and the page's own module: fetch them at once
        f'<link rel="modulepreload" href="{static}/core.js">\n'
        f'<link rel="modulepreload" href="{static}/{page}.js">\n'
        f'<script type="module" src="{static}/app.js"></script>'
    )
    nav = (
        f'<nav aria-label="Pages">{"".join(links)}</nav>\n<span class="live" id="live"'
        ' title="Live updates: connecting" role="img" aria-label="live updates"></span>'
        '<button type="button" class="small" id="live-toggle" aria-pressed="false">'
        "Pause live updates</button>"
        '<form method="post" action="/logout" id="sign-out" hidden>'
        '<button type="submit" class="small">Sign out</button></form>'
    )
    if page == "login":  # nothing to navigate to before signing in; no script needed
        script = nav = ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>{escape(title)} · queuectl</title>
<link rel="stylesheet" href="/static/{asset}/app.css">
{script}
</head>
<body data-page="{page}"{data}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/">queuectl</a>
{nav}
</header>
<main id="main" tabindex="-1">
<div id="flash" role="status" aria-live="polite"></div>
{body}
</main>
<dialog id="confirm" aria-labelledby="confirm-msg">
<form method="dialog">
<p id="confirm-msg"></p>
<div class="row">
<button value="cancel" id="confirm-cancel">Cancel</button>
<button value="ok" id="confirm-ok" class="danger">Confirm</button>
</div>
</form>
</dialog>
</body>
</html>
"""


def _card(state: str) -> str:
    # Pending jobs show as three cards: due now, scheduled for later, and blocked.
    label = "pending, due" if state == "pending" else state
    return (
        f'<a class="card state-{state}" href="/jobs?state={state}"{HINTS.get(state, "")}>'
        f'<span class="label">{label}</span>'
        f'<span class="n" id="count-{state}">&ndash;</span></a>'
    )


def _counts() -> str:
    cards = _card("pending") + (
        '<a class="card state-scheduled" href="/jobs?state=scheduled"'
        ' title="pending, due later"><span class="label">scheduled</span>'
        '<span class="n" id="count-scheduled">&ndash;</span></a>'
        '<a class="card state-blocked" href="/jobs?state=blocked"'
        ' title="pending, waiting for jobs they run after"><span class="label">blocked</span>'
        '<span class="n" id="count-blocked">&ndash;</span></a>'
    )
    cards += "".join(_card(s) for s in STATES if s != "pending")
    return (
        f'<section aria-labelledby="h-counts"><h2 id="h-counts">Jobs</h2>'
        f'<div class="cards">{cards}</div></section>'
    )


OVERVIEW = (
    "<h1>Overview</h1>"
    + _counts()
    + """
<section class="split">
<div aria-labelledby="h-workers">
<h2 id="h-workers">Workers</h2>
<div class="cards">
<a class="card" href="/workers"><span class="label">alive</span>
<span class="n" id="workers-alive">&ndash;</span></a>
<a class="card" href="/workers" title="slots running a job"><span class="label">slots busy</span>
<span class="n" id="slots-busy">&ndash;</span></a>
<a class="card" href="/workers" title="claimed ahead while jobs are short, waiting for a slot">
<span class="label">reserved</span><span class="n" id="slots-reserved">&ndash;</span></a>
</div>
</div>
<div aria-labelledby="h-chart">
<h2 id="h-chart">Throughput, last hour</h2>
<figure class="chart">
<svg id="chart" viewBox="0 0 600 130" role="img" aria-labelledby="chart-sum"></svg>
<figcaption id="chart-sum">loading…</figcaption>
</figure>
</div>
</section>
<section aria-labelledby="h-queues">
<h2 id="h-queues">Queues</h2>
<p id="paused-all" class="note" hidden>Every queue is paused: workers start no job until
it is resumed. <span class="act" id="paused-all-act"></span></p>
<div class="scroll"><table id="queues">
<thead><tr><th>queue</th><th class="num">depth</th><th class="num">running</th>
<th class="num">oldest pending</th>
<th class="num" title="dead / (completed + dead)">failure rate</th>
<th>status</th><th class="act" hidden><span class="sr">actions</span></th>
</tr></thead><tbody></tbody></table></div>
</section>
"""
)


def _state_boxes() -> str:
    return "".join(
        f'<label class="chip"><input type="checkbox" name="state" value="{s}"> {s}</label>'
        for s in (*STATES, "scheduled", "blocked")
    )


# The jobs table's columns: (key, header, optional); the chooser hides optional ones.
JOB_COLUMNS = (
    ("id", "id", False),
    ("state", "state", True),
    ("queue", "queue", True),
    ("attempts", "attempts", True),
    ("when", "when", True),
    ("duration", "duration", True),
    ("error", "last error", True),
    ("command", "command", True),
)
_DURATION_HINT = "running: since it started; finished: from its enqueue to its end"


def _job_columns() -> tuple[str, str]:
    """The jobs table's header cells and the column chooser's boxes."""
    heads, boxes = [], []
    for key, label, optional in JOB_COLUMNS:
        num = " num" if key == "attempts" else ""
        hint = f' title="{_DURATION_HINT}"' if key == "duration" else ""
        heads.append(f'<th class="c-{key}{num}"{hint}>{label}</th>')
        if optional:
            boxes.append(
                f'<label class="chip"><input type="checkbox" name="column" value="{key}"'
                f" checked> {label}</label>"
            )
    return "".join(heads), "".join(boxes)


_HEADS, _BOXES = _job_columns()

JOBS = f"""<h1>Jobs</h1>
<form id="filters" class="filters" role="search">
<fieldset><legend>State</legend>{_state_boxes()}</fieldset>
<label>Queue <input name="queue" list="queue-names" autocomplete="off"></label>
<datalist id="queue-names"></datalist>
<label>Id starts with <input name="id_prefix" autocomplete="off"></label>
<label>Command contains <input name="search" type="search" autocomplete="off"></label>
<label>Order <select name="order"><option value="newest">newest first</option>
<option value="oldest">oldest first</option></select></label>
<input type="hidden" name="fingerprint">
<p class="chip" id="group-filter" hidden>DLQ group <code id="group-key"></code>
<button type="button" class="small" id="group-clear">Clear</button></p>
</form>
<div class="listbar">
<p id="jobs-total" aria-live="polite"></p>
<details class="columns" id="columns"><summary>Columns</summary>
<fieldset><legend class="sr">Columns shown</legend>{_BOXES}</fieldset></details>
</div>
<div class="bulk act" id="bulk" hidden>
<span id="selected-count">0 selected</span>
<button type="button" id="select-matching" class="small" hidden></button>
<button type="button" data-bulk="cancel">Cancel</button>
<button type="button" data-bulk="requeue">Requeue</button>
<button type="button" data-bulk="delete" class="danger">Delete</button>
</div>
<div class="scroll"><table id="jobs" class="jobs">
<thead><tr><th class="sel act" hidden><input type="checkbox" id="select-all"
 aria-label="select all jobs on this page"></th>{_HEADS}</tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="jobs-empty" hidden>No jobs match.</p>
<nav class="pager" aria-label="Pages of jobs">
<button type="button" id="prev" disabled>← Previous</button>
<span id="page-no" aria-live="polite">Page 1</span>
<button type="button" id="next" disabled>Next →</button>
</nav>
"""


def job_page(job_id: str) -> str:
    """A job's page; the id is the only server-rendered value (escaped)."""
    return f"""<p class="crumbs"><a href="/jobs">Jobs</a> /</p>
<h1><code id="job-id">{escape(job_id)}</code> <span id="job-state" class="state"></span>
<span id="job-blocked" class="state state-blocked" hidden>blocked</span></h1>
<p class="note held" id="job-held" hidden></p>
<div class="actions act" id="job-actions" hidden></div>
<section aria-labelledby="h-workflow" id="workflow" hidden><h2 id="h-workflow">Workflow</h2>
<div id="workflow-body"></div></section>
<section aria-labelledby="h-spec"><h2 id="h-spec">Spec</h2>
<dl class="spec" id="spec"></dl></section>
<section aria-labelledby="h-attempts"><h2 id="h-attempts">Attempts</h2>
<ol class="timeline" id="attempts"></ol>
<p class="empty" id="attempts-empty" hidden>Not run yet.</p></section>
"""


DLQ = """<h1>Dead letter queue</h1>
<div class="actions act" hidden>
<button type="button" id="retry-all">Retry all</button>
<button type="button" id="purge" class="danger">Purge</button>
</div>
<section aria-labelledby="h-groups"><h2 id="h-groups">Grouped by how they failed</h2>
<p class="note">Jobs whose last attempt failed the same way: the same kind of error and
exit code, and the same last line of stderr once numbers, ids, paths and times are set
aside.</p>
<p class="note" id="groups-window" hidden></p>
<div class="scroll"><table id="dlq-groups">
<thead><tr><th>last line of stderr</th><th>kind</th><th class="num">exit code</th>
<th class="num">jobs</th><th>list</th>
<th class="act" hidden><span class="sr">actions</span></th></tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="groups-empty" hidden>The dead letter queue is empty.</p></section>
<section aria-labelledby="h-dead"><h2 id="h-dead">Dead jobs</h2>
<div class="scroll"><table id="dlq-jobs" class="jobs">
<thead><tr><th>id</th><th>queue</th><th class="num">attempts</th><th>died</th>
<th>last error</th><th>command</th><th class="act" hidden><span class="sr">actions</span></th>
</tr></thead><tbody></tbody></table></div>
<nav class="pager" aria-label="Pages of dead jobs">
<button type="button" id="prev" disabled>← Previous</button>
<button type="button" id="next" disabled>Next →</button>
</nav></section>
"""

QUEUES = """<h1>Queues</h1>
<p id="paused-all" class="note" hidden>Every queue is paused: workers start no job until
it is resumed. <span class="act" id="paused-all-act"></span></p>
<div class="scroll"><table id="queue-table">
<thead><tr><th>queue</th>
<th class="num" title="pending, due now">due</th>
<th class="num" title="pending, due later">scheduled</th>
<th class="num">running</th>
<th class="num" title="failed an attempt, waiting for its retry">failed</th>
<th class="num">dead</th><th class="num">oldest due</th><th>status</th>
<th title="concurrency: jobs running / limit; rate: starts per period (60/m, 10/s,
 5/10m). Empty lifts one">limits</th>
<th class="act" hidden><span class="sr">actions</span></th></tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="queues-empty" hidden>No queues yet: a queue appears with its first
job.</p>
<section aria-labelledby="h-keys"><h2 id="h-keys">Concurrency keys</h2>
<p class="note">Jobs sharing a concurrency key never run more at once than the key's limit
(1 unless set). Empty sets a key back to the default.</p>
<div class="scroll"><table id="key-table">
<thead><tr><th>key</th><th class="num">limit</th><th class="num">running</th>
<th class="num" title="unfinished, not running">waiting</th><th>running jobs</th>
<th class="act" hidden>set limit</th></tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="keys-empty" hidden>No concurrency keys: none has unfinished jobs or a
limit of its own.</p>
<form id="key-form" class="form keys act" novalidate hidden>
<div class="field"><label for="f-key">Key</label>
<input id="f-key" name="key" autocomplete="off" aria-describedby="err-key-form"></div>
<div class="field"><label for="f-key-limit">Limit</label>
<input id="f-key-limit" name="limit" inputmode="numeric" autocomplete="off"
 placeholder="1 (default)" aria-describedby="err-key-form"></div>
<p class="field-error" id="err-key-form" role="alert"></p>
<div class="row"><button type="submit" class="small">Set a key's limit</button></div>
</form>
</section>
<section aria-labelledby="h-scheduled"><h2 id="h-scheduled">Scheduled jobs of
<select id="scheduled-queue" aria-label="queue"></select></h2>
<p class="note" id="scheduled-note" hidden></p>
<div class="scroll"><table id="scheduled" class="jobs">
<thead><tr><th>runs at <span id="zone"></span></th><th>in</th><th>id</th>
<th class="num">priority</th><th>command</th>
<th class="act" hidden><span class="sr">actions</span></th></tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="scheduled-empty" hidden>Nothing scheduled in this queue.</p>
</section>
"""

WORKERS = """<h1>Workers</h1>
<label class="chip"><input type="checkbox" id="show-dead"> show dead workers</label>
<div class="scroll"><table id="workers">
<thead><tr><th>worker</th><th>host</th><th class="num">pid</th><th>queues</th>
<th class="num">slots busy</th>
<th class="num" title="claimed ahead while jobs are short, waiting for a slot">reserved</th>
<th title="started or reserved">jobs held</th><th class="num">heartbeat</th><th>status</th>
<th class="act" hidden><span class="sr">actions</span></th></tr></thead>
<tbody></tbody></table></div>
<p class="empty" id="workers-empty" hidden>No workers.</p>
"""


def _field(name: str, label: str, hint: str = "", kind: str = "text") -> str:
    mode = ' inputmode="decimal"' if kind == "number" else ""
    typ = "datetime-local" if kind == "datetime" else "text"
    hint_html = f'<small id="hint-{name}">{hint}</small>' if hint else ""
    described = f"hint-{name} err-{name}" if hint else f"err-{name}"
    return (
        f'<div class="field"><label for="f-{name}">{label}</label>'
        f'<input id="f-{name}" name="{name}" type="{typ}"{mode} autocomplete="off"'
        f' aria-describedby="{described}">{hint_html}'
        f'<p class="field-error" id="err-{name}"></p></div>'
    )


ENQUEUE = f"""<h1>Enqueue a job</h1>
<p class="ro-note" hidden>This server is read-only.</p>
<form id="enqueue" class="form act" novalidate hidden>
<div class="field wide"><label for="f-command">Command</label>
<textarea id="f-command" name="command" rows="3" spellcheck="false"
 aria-describedby="err-command"></textarea><p class="field-error" id="err-command"></p></div>
{_field("id", "Id", "optional; generated when empty")}
{_field("queue", "Queue", "default: default")}
{_field("priority", "Priority", "higher runs first", "number")}
{_field("delay", "Delay (seconds)", "or a run-at time", "number")}
{_field("run_at", "Run at", "your local time", "datetime")}
{_field("timeout", "Timeout (seconds)", "0 = none; empty = config default", "number")}
{_field("max_retries", "Max retries", "empty = config default", "number")}
{_field("cwd", "Working directory", "absolute path; empty = the worker's directory")}
<div class="field wide"><label for="f-env">Environment</label>
<textarea id="f-env" name="env" rows="3" spellcheck="false" autocomplete="off"
 aria-describedby="hint-env err-env"></textarea>
<small id="hint-env">one NAME=VALUE a line, added to the worker's environment</small>
<p class="field-error" id="err-env"></p></div>
{_field("concurrency_key", "Concurrency key", "jobs sharing it run one at a time (or its limit)")}
{_field("after", "Runs after", "job ids, comma-separated; empty = none")}
<div class="field"><label for="f-after_mode">Runs once those</label>
<select id="f-after_mode" name="after_mode" aria-describedby="err-after_mode">
<option value="completed">all completed (cancelled if one fails for good)</option>
<option value="finished">all finished, however they ended</option></select>
<p class="field-error" id="err-after_mode"></p></div>
{_field("unique_key", "Unique key", "at most one job with it waits or runs; empty = none")}
<div class="field"><label for="f-on_duplicate">When a job with that key waits or runs</label>
<select id="f-on_duplicate" name="on_duplicate" aria-describedby="err-on_duplicate">
<option value="existing">add nothing, show that job</option>
<option value="replace">give a waiting one this spec and time</option>
<option value="error">refuse</option></select>
<p class="field-error" id="err-on_duplicate"></p></div>
<div class="field"><label class="chip"><input type="checkbox" id="f-keep_daemons"
 name="keep_daemons"> keep daemons it starts running</label></div>
<p class="field-error" id="err-form"></p>
<div class="row"><button type="submit" class="primary">Enqueue</button></div>
</form>
"""

CONFIG = """<h1>Configuration</h1>
<div class="scroll"><table id="config">
<thead><tr><th>key</th><th>value</th><th>default</th><th>meaning</th>
<th class="act" hidden><span class="sr">actions</span></th></tr></thead>
<tbody></tbody></table></div>
"""


def login(next_path: str, failed: bool) -> str:
    """The token form; POST /login sets the HttpOnly cookie and sends the user back."""
    error = '<p class="field-error" id="err-token">That token is not valid.</p>' if failed else ""
    return f"""<h1>Sign in</h1>
<form class="form login" method="post" action="/login">
<input type="hidden" name="next" value="{escape(next_path)}">
<div class="field wide"><label for="f-token">Access token</label>
<input id="f-token" name="token" type="password" autocomplete="current-password" required
 autofocus aria-describedby="err-token">{error}</div>
<div class="row"><button type="submit" class="primary">Sign in</button></div>
</form>
"""


def graph_page(job_id: str) -> str:
    """The workflow of a job: a layered diagram (or counts, past the API's limit)."""
    shown = escape(job_id)
    return f"""<p class="crumbs"><a href="/jobs">Jobs</a> /
<a id="graph-back" href="/jobs/{escape(quote(job_id, safe=""))}">{shown}</a> /</p>
<h1>Workflow of <code>{shown}</code></h1>
<p class="note" id="graph-sum">loading…</p>
<p class="legend" id="graph-legend"></p>
<div class="scroll graph-wrap" id="graph-wrap" hidden><svg id="graph" role="group"
 aria-label="the jobs of this workflow, each a link; arrows point to the jobs that run after">
</svg></div>
<div class="scroll" id="graph-counts" hidden><table>
<thead><tr><th>state</th><th class="num">jobs</th></tr></thead><tbody></tbody></table></div>
"""
