"""The server's guard against everything that could act or read for the user: other web
pages (in real Chromium), other host names, stolen or replayed cookies, floods before
authentication, slow clients, secrets handed to jobs, text no backend can store, and
the API docs' own page. Each test here failed on the server before the guard."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from queuectl.models import JobState
from queuectl.store import open_store
from tests.conftest import make_job, registration
from tests.helpers import start_worker, state_of, stop, wait_for
from tests.web.api_server import Running, free_port, serving

TOKEN = "a-token-of-thirty-two-characters"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


# -- another web page, in a real browser ---------------------------------------------------

ATTACK = """<!doctype html><html><head><title>attacking</title></head><body><script>
const T = "TARGET";
let pending = 0;
const done = () => { if (--pending === 0) document.title = "done"; };
const track = (el) => { pending++; el.onload = done; el.onerror = done; return el; };
pending++;  // held until every request below has been sent
for (const path of ["/worker/stop?via=img", "/worker/start?num_workers=1&via=img"]) {
  track(new Image()).src = T + path;
}
const script = track(document.createElement("script"));
script.src = T + "/worker/stop?via=script";
document.body.append(script);
const link = track(document.createElement("link"));
link.rel = "stylesheet";
link.href = T + "/worker/stop?via=link";
document.head.append(link);
pending++;
fetch(T + "/worker/stop?via=fetch", {mode: "no-cors"}).then(done, done);
pending++;
fetch(T + "/api/workers/stop", {method: "POST", mode: "no-cors",
  headers: {"Content-Type": "text/plain"}, body: '{"worker_id": null}'}).then(done, done);
const form = document.createElement("form");
form.action = T + "/worker/stop";
form.method = "get";
form.target = "sink";
form.innerHTML = '<input name="via" value="form">';
document.body.append(form);
const frame = document.createElement("iframe");
frame.name = "sink";
let loads = 0;
pending++;
frame.onload = () => { if (++loads === 1) form.submit(); else done(); };
document.body.append(frame);
done();
</script></body></html>"""


@contextmanager
def attacker_site(target: str) -> Iterator[str]:
    """A page on another loopback origin (`localhost`, another port) that fires every kind
    of request a page can make without the user's consent at `target`."""
    page = ATTACK.replace("TARGET", target).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
@pytest.mark.slow
def test_another_page_in_the_browser_cannot_stop_or_start_workers(
    tmp_path: Path, browser: Any
) -> None:
    db = str(tmp_path / "q.db")
    with serving(db) as api, closing(open_store(db)) as store:
        store.register_worker(registration("w-1"))
        with attacker_site(api.base_url) as attacker:
            context = browser.new_context()
            try:
                tab = context.new_page()
                tab.goto(attacker)
                tab.wait_for_function("document.title === 'done'", timeout=60_000)
            finally:
                context.close()
        try:
            workers = store.list_workers()
            assert [w.id for w in workers] == ["w-1"], "a worker was started"
            assert workers[0].stop_requested is None, "the worker was asked to stop"
        finally:  # on a server without the guard: stop what the page started
            for worker in store.list_workers():
                if worker.id != "w-1":
                    store.request_worker_stop(_now(), [worker.id])
        # The same routes still work for curl and scripts, which send no Sec-Fetch-*.
        assert api.client.get("/worker/stop").json() == {"stopping": 1}
        assert store.list_workers()[0].stop_requested is not None


def _now() -> Any:
    from queuectl.models import StopMode

    return StopMode.NOW


def test_changes_marked_cross_site_are_refused_whatever_the_method(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    with serving(db) as api, closing(open_store(db)) as store:
        store.register_worker(registration("w-1"))
        for site in ("cross-site", "same-site"):
            refused = api.client.get("/worker/stop", headers={"Sec-Fetch-Site": site})
            assert refused.status_code == 403 and "cross-site" in refused.json()["error"]
            posted = api.client.post(
                "/api/jobs", json={"command": "true"}, headers={"Sec-Fetch-Site": site}
            )
            assert posted.status_code == 403
        assert store.list_workers()[0].stop_requested is None
        assert api.client.get("/api/jobs").json()["jobs"] == []
        # Reads from anywhere stay readable by the user's own tabs; typed URLs work.
        assert api.client.get("/api/status", headers={"Sec-Fetch-Site": "cross-site"}).is_success
        typed = api.client.get("/worker/stop", headers={"Sec-Fetch-Site": "none"})
        assert typed.json() == {"stopping": 1}


# -- host names -------------------------------------------------------------------------------


def test_host_is_checked_with_a_token_too(tmp_path: Path) -> None:
    """DNS rebinding: a page whose name resolves to 127.0.0.1 reads nothing, token or not."""
    with serving(str(tmp_path / "q.db"), token=TOKEN) as api:
        job_id = api.client.post(
            "/api/jobs", json={"command": "true", "env": {"SECRET": "x"}}, headers=BEARER
        ).json()["id"]
        rebound = api.client.get(f"/api/jobs/{job_id}", headers={"Host": "rebind.attacker.example"})
        assert rebound.status_code == 421 and "SECRET" not in rebound.text
        assert "--allowed-host" in rebound.json()["error"]
        for host in ("localhost", f"localhost:{api.settings.port}", "127.0.0.1", "[::1]:80"):
            assert api.client.get("/api/status", headers={"Host": host}).status_code == 200
        assert api.client.get("/healthz", headers={"Host": "evil.example"}).status_code == 421


def test_allowed_hosts_name_a_proxy(tmp_path: Path) -> None:
    options: dict[str, Any] = {"allowed_hosts": ("queue.example.com", ".corp.example")}
    with serving(str(tmp_path / "q.db"), token=TOKEN, **options) as api:
        for host in ("queue.example.com", "Queue.Example.Com:443", "a.corp.example"):
            response = api.client.get("/api/status", headers={"Host": host, **BEARER})
            assert response.status_code == 200
        for host in ("example.com", "queue.example.com.evil", "corp.example.evil", "x@y"):
            response = api.client.get("/api/status", headers={"Host": host, **BEARER})
            assert response.status_code == 421


@pytest.mark.not_fast  # a `queuectl serve` process
def test_behind_a_proxy_loopback_earns_nothing(tmp_path: Path) -> None:
    """Every client of a proxied server arrives from 127.0.0.1: reads need the token too."""
    with serving(str(tmp_path / "q.db"), token=TOKEN, forwarded_proto="https") as api:
        assert api.client.get("/api/status").status_code == 401
        assert api.client.get("/api/status", headers=BEARER).status_code == 200
        assert api.client.get("/healthz").status_code == 200
        # A browser opening a page is sent to the login form, not shown a JSON 401.
        html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        visit = api.client.get("/jobs?state=dead", headers=html)
        assert visit.status_code == 303
        assert visit.headers["location"] == "/login?next=%2Fjobs%3Fstate%3Ddead"
        assert api.client.get("/login", headers=html).status_code == 200
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "queuectl",
            "--db",
            str(tmp_path / "q.db"),
            "serve",
            "--allowed-host",
            "x.example",
        ],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "set a token" in done.stderr


def test_a_wildcard_bind_answers_to_any_address_but_not_to_names() -> None:
    from queuectl.web.hosts import HostPolicy

    policy = HostPolicy("0.0.0.0")
    assert policy.allows("192.0.2.7:8080") and policy.allows("[2001:db8::1]:8080")
    assert not policy.allows("rebind.example:8080")
    assert not HostPolicy("127.0.0.1").allows("192.0.2.7")


# -- sessions -------------------------------------------------------------------------------


def _login(api: Running) -> httpx.Client:
    browser = httpx.Client(base_url=api.base_url)
    response = browser.post("/login", data={"token": TOKEN})
    assert response.status_code == 303
    return browser


def test_the_login_cookie_is_a_session_that_logout_revokes(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN) as api:
        browser = _login(api)
        session = browser.cookies["queuectl_session"]
        csrf = browser.cookies["queuectl_csrf"]
        assert TOKEN not in (session, csrf)
        # The session id is not a token: it opens nothing as a bearer.
        as_bearer = {"Authorization": f"Bearer {session}"}
        assert (
            api.client.post("/api/jobs", json={"command": "true"}, headers=as_bearer).status_code
            == 401
        )
        change = {"X-Queuectl-Csrf": csrf}
        assert (
            browser.post("/api/jobs", json={"command": "true"}, headers=change).status_code == 201
        )
        # Another session's CSRF secret does not fit this session.
        other = _login(api)
        wrong = {"X-Queuectl-Csrf": other.cookies["queuectl_csrf"]}
        assert browser.post("/api/jobs", json={"command": "true"}, headers=wrong).status_code == 403
        browser.post("/logout")
        replayed = httpx.Client(base_url=api.base_url, cookies={"queuectl_session": session})
        response = replayed.post("/api/jobs", json={"command": "true"}, headers=change)
        assert response.status_code == 401  # revoked on the server, not just forgotten
        assert (
            other.post(
                "/api/jobs",
                json={"command": "true"},
                headers={"X-Queuectl-Csrf": other.cookies["queuectl_csrf"]},
            ).status_code
            == 201
        )
        for client in (browser, other, replayed):
            client.close()


def test_a_restart_ends_every_session(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    with serving(db, token=TOKEN) as api:
        browser = _login(api)
        cookies = dict(browser.cookies)
        browser.close()
    with serving(db, token=TOKEN) as api:
        again = httpx.Client(base_url=api.base_url, cookies=cookies)
        headers = {"X-Queuectl-Csrf": cookies["queuectl_csrf"]}
        assert again.post("/api/jobs", json={"command": "true"}, headers=headers).status_code == 401
        again.close()


def test_behind_an_https_proxy_the_cookies_are_secure(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN, forwarded_proto="https") as api:
        response = api.client.post("/login", data={"token": TOKEN})
        cookies = response.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("__Host-queuectl_session="))
        assert "Secure" in session and "Path=/" in session and "Domain" not in session
        assert all("Secure" in c for c in cookies)


# -- bounded work before authentication -----------------------------------------------------


def test_login_refuses_large_or_many_field_forms_before_parsing(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN) as api:
        flood = b"&".join(b"a=1" for _ in range(2_600_000))  # ~10 MiB, 2.6 M fields
        big = api.client.post(
            "/login", content=flood, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert big.status_code == 413
        many = api.client.post(
            "/login",
            content=b"&".join(b"f%d=1" % i for i in range(100)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert many.status_code == 400 and "too many fields" in many.json()["error"]
        deep = api.client.post(
            "/login", content=b"[" * 3000, headers={"Content-Type": "application/json"}
        )
        assert deep.status_code == 400


def test_wrong_tokens_are_throttled_per_client(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db"), token=TOKEN) as api:
        wrong = {"Authorization": "Bearer " + "x" * 32}
        codes = [api.client.get("/api/status", headers=wrong).status_code for _ in range(10)]
        assert codes == [401] * 10
        throttled = api.client.get("/api/status", headers=wrong)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        # While throttled, even the right token waits (a guess cannot be confirmed) ...
        assert api.client.get("/api/status", headers=BEARER).status_code == 429
        login = api.client.post("/login", data={"token": TOKEN})
        assert login.status_code == 429
        # ... but only for that client address.
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=api.base_url, transport=transport) as elsewhere:
            assert elsewhere.get("/api/status", headers=BEARER).status_code == 200


def test_short_tokens_are_refused_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", str(tmp_path / "q.db"), "serve"],
        env={"QUEUECTL_TOKEN": "x", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "at least 16" in done.stderr and "openssl rand" in done.stderr


def test_oversized_headers_get_431(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        for size in (20_000, 100_000):
            response = api.client.get("/api/status", headers={"X-Big": "a" * size})
            assert response.status_code == 431
        assert api.client.get("/api/status", headers={"X-Fine": "a" * 8000}).status_code == 200


def test_deep_json_and_out_of_range_numbers_are_400_not_500(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        deep = b'{"ids": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        for path in ("/api/dlq/retry", "/api/jobs/cancel", "/api/jobs", "/enqueue"):
            response = api.client.post(
                path, content=deep, headers={"Content-Type": "application/json"}
            )
            # Typed bodies stop at the first wrong type (422); untyped ones at the depth (400).
            assert response.status_code in (400, 422), (path, response.text)
        untyped = api.client.post("/api/jobs", content=b"[" * 5000 + b"]" * 5000)
        assert untyped.status_code == 400 and "nested too deeply" in untyped.json()["error"]
        job_id = api.client.post("/api/jobs", json={"command": "true"}).json()["id"]
        for attempt, status in [("1e20", 400), ("2147483648", 422), ("99999999999999999999", 422)]:
            response = api.client.get(f"/api/jobs/{job_id}/output", params={"attempt": attempt})
            assert response.status_code == status, (attempt, response.text)
            assert response.json()["field"] == "attempt"


# -- slow clients ---------------------------------------------------------------------------


@pytest.fixture
def quick_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    from queuectl.web.protocol import GuardedH11Protocol

    monkeypatch.setattr(GuardedH11Protocol, "headers_seconds", 0.5)
    monkeypatch.setattr(GuardedH11Protocol, "body_idle_seconds", 0.5)


def _closed_by_server(sock: socket.socket, timeout: float = 30.0) -> bool:
    """Whether the server closes `sock` (reads EOF) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_slow_clients_are_cut_off(tmp_path: Path, quick_deadlines: None) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        address = ("127.0.0.1", api.settings.port)
        silent = socket.create_connection(address)  # never sends a byte
        partial = socket.create_connection(address)
        partial.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        stalled = socket.create_connection(address)
        stalled.sendall(
            b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"command"'
        )
        # A kept-alive connection whose next request stops half-way through its headers.
        second = socket.create_connection(address)
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        second.settimeout(30)
        assert b"200" in second.recv(4096)
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0")
        for sock in (silent, partial, stalled, second):
            assert _closed_by_server(sock)
            sock.close()


@pytest.mark.not_fast  # waits out request deadlines: seconds
def test_an_event_stream_outlives_the_request_deadlines(
    tmp_path: Path, quick_deadlines: None
) -> None:
    from tests.web.api_server import sse_events

    with (
        serving(str(tmp_path / "q.db")) as api,
        httpx.stream("GET", f"{api.base_url}/api/events", timeout=30) as stream,
    ):
        events = sse_events(stream.iter_lines())
        assert next(e for e in events if e[0] == "status")
        # A connection opened after the stream, cut off by its headers deadline: the
        # stream has now been open longer than that deadline.
        late = socket.create_connection(("127.0.0.1", api.settings.port))
        assert _closed_by_server(late)
        late.close()
        api.client.post("/api/jobs", json={"command": "true"})
        assert next(e for e in events if e[0] in ("status", "jobs"))


def test_one_client_cannot_hold_every_live_output_slot(tmp_path: Path) -> None:
    from queuectl.web.output import MAX_FOLLOWERS_PER_CLIENT

    with serving(str(tmp_path / "q.db")) as api:
        job_id = api.client.post("/api/jobs", json={"command": "true"}).json()["id"]
        url = f"{api.base_url}/api/jobs/{job_id}/output?follow=1"
        clients: list[Any] = []
        try:
            for _ in range(MAX_FOLLOWERS_PER_CLIENT):
                client = httpx.Client(timeout=30)
                clients.append(client)
                response = client.send(client.build_request("GET", url), stream=True)
                clients.append(response)
                assert response.status_code == 200
            refused = api.client.get(url)
            assert refused.status_code == 429 and refused.headers["retry-after"]
            transport = httpx.HTTPTransport(local_address="127.0.0.2")
            with (
                httpx.Client(transport=transport, timeout=30) as other,
                other.stream("GET", url) as response,
            ):
                assert response.status_code == 200
        finally:
            for item in reversed(clients):
                item.close()


# -- secrets and text ------------------------------------------------------------------------


@pytest.mark.not_fast  # a `queuectl serve` process and a worker process
def test_jobs_never_see_the_servers_token(tmp_path: Path) -> None:
    """A worker started by GET /worker/start, and one started by hand in a shell that
    exports QUEUECTL_TOKEN: neither passes the token on to its jobs."""
    db = str(tmp_path / "q.db")
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**_environ(), "QUEUECTL_TOKEN": TOKEN}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "--db", db, "serve", "--port", str(port)],
            stdout=out,
            stderr=out,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    by_hand = start_worker(db, tmp_path / "worker.log", env={"QUEUECTL_TOKEN": TOKEN})
    try:
        wait_for(lambda: _answers(base, server, log), 60, "queuectl serve to answer")
        started = httpx.get(f"{base}/worker/start?num_workers=2", headers=BEARER, timeout=60)
        assert started.status_code == 200, started.text
        command = 'printenv QUEUECTL_TOKEN || echo "no token here"'
        with closing(open_store(db)) as store:
            ids = store.enqueue_jobs([make_job(f"leak-{n}", command) for n in range(6)], 0)

            def finished() -> bool:
                return all(state_of(store, i) is JobState.COMPLETED for i in ids)

            wait_for(finished, 60, "the jobs to finish")
            outputs = {_stdout(base, job_id) for job_id in ids}
        assert outputs == {"no token here\n"}
    finally:
        httpx.post(f"{base}/api/workers/stop", json={"now": True}, headers=BEARER, timeout=30)
        stop(by_hand)
        stop(server)


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "QUEUECTL_TOKEN"}


def _answers(base: str, server: subprocess.Popen[bytes], log: Path) -> bool:
    assert server.poll() is None, log.read_text()
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _stdout(base: str, job_id: str) -> str:
    output = httpx.get(f"{base}/api/jobs/{job_id}/output", headers=BEARER, timeout=30).json()
    text: str = output["stdout"]
    return text


def test_text_that_is_not_unicode_is_refused_naming_the_field(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        for field, spec in [
            ("env", b'{"command": "true", "env": {"A": "\\ud800"}}'),
            ("env", b'{"command": "true", "env": {"\\udc80": "x"}}'),
            ("command", b'{"command": "echo \\ud800"}'),
            ("cwd", b'{"command": "true", "cwd": "/tmp/\\udfff"}'),
        ]:
            response = api.client.post("/api/jobs", content=spec)
            assert response.status_code == 422, (spec, response.text)
            assert response.json()["field"] == field
        bulk = api.client.post(
            "/api/jobs", content=b'[{"command": "true"}, {"command": "x\\ud800"}]'
        )
        assert bulk.status_code == 422
        assert api.client.get("/api/jobs").json()["jobs"] == []


@pytest.mark.not_fast  # a real worker process
def test_a_stored_job_no_process_can_be_given_fails_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    """A job stored before text was checked (its env holds a lone surrogate): the API
    still lists and shows it, and a worker fails it with a clear error, then runs the next
    job."""
    db = str(tmp_path / "q.db")
    with closing(open_store(db)) as store:
        poison = make_job("poison", "true", env={"A": "\ud800"}, max_retries=0)
        store.enqueue_jobs([poison, make_job("after", "true")], 0)
    with serving(db) as api:
        listed = api.client.get("/api/jobs")
        assert listed.status_code == 200 and len(listed.json()["jobs"]) == 2
        shown = api.client.get("/api/jobs/poison")
        assert shown.status_code == 200 and shown.json()["job"]["env"] == {"A": "\\ud800"}
        worker = start_worker(db, tmp_path / "worker.log", "--burst")
        assert worker.wait(60) == 0, (tmp_path / "worker.log").read_text()
        poison = api.client.get("/api/jobs/poison").json()["job"]
        assert poison["state"] == "dead" and "not valid Unicode" in poison["last_error"]
        assert api.client.get("/api/jobs/after").json()["job"]["state"] == "completed"
        assert api.client.get("/api/dlq").status_code == 200


# -- the API docs --------------------------------------------------------------------------


def test_docs_are_served_from_the_package_under_the_page_rules(tmp_path: Path) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        page = api.client.get("/docs")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
        for asset in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"):
            response = api.client.get(asset)
            assert response.status_code == 200 and response.content, asset
        for path in ("/api/status", "/api/jobs/nope", "/nowhere", "/openapi.json"):
            assert api.client.get(path).headers["x-content-type-options"] == "nosniff", path
        schema = api.client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert {"bearer": []} in schema["security"]


@pytest.mark.browser
@pytest.mark.slow
def test_docs_render_offline_in_the_browser(tmp_path: Path, browser: Any) -> None:
    with serving(str(tmp_path / "q.db")) as api:
        context = browser.new_context()
        elsewhere: list[str] = []
        problems: list[str] = []
        try:
            tab = context.new_page()
            tab.on(
                "request",
                lambda r: None if r.url.startswith(api.base_url) else elsewhere.append(r.url),
            )
            tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(f"{api.base_url}/docs")
            tab.wait_for_selector(".opblock-summary-path[data-path='/api/jobs']", timeout=60_000)
        finally:
            context.close()
        assert elsewhere == []
        assert problems == []


def test_a_large_body_is_decoded_off_the_event_loop_and_still_acts(tmp_path: Path) -> None:
    from queuectl.web.bodies import IN_THREAD_BYTES

    with serving(str(tmp_path / "q.db")) as api:
        specs = [{"id": f"large-body-job-{n:05d}", "command": "true"} for n in range(6000)]
        assert api.client.post("/api/jobs", json=specs).status_code == 201
        body = json.dumps({"ids": [s["id"] for s in specs]}).encode()
        assert len(body) > IN_THREAD_BYTES
        response = api.client.post("/api/jobs/cancel", content=body)
        assert response.status_code == 200, response.text
        assert set(response.json()["states"].values()) == {"cancelled"}
