"""The dashboard fits its screen (headless Chromium, a real `queuectl serve`): at phone
width every action is on screen without sideways scrolling, and big counts stay inside
their cards at any width."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.web.browsing import WAIT_MS, Server, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}

# Each visible control in <main>: off the screen's sides, covered by another element, or
# inside a box the user would have to scroll sideways to reach it.
OUT_OF_REACH = """() => {
  const out = [];
  const controls = 'main button, main input, main select, main a.button';
  for (const el of document.querySelectorAll(controls)) {
    if (el.offsetParent === null || el.closest('details:not([open]) > :not(summary)')) continue;
    const r = el.getBoundingClientRect();
    const name = el.textContent.trim() || el.getAttribute('aria-label') || el.name || el.id;
    if (r.left < 0 || r.right > window.innerWidth + 0.5) {
      out.push(name + ' at ' + Math.round(r.right));
    }
    el.scrollIntoView({ block: 'center' });  // a tap on its middle reaches it
    const box = el.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    if (!el.contains(hit)) out.push(name + ' covered by ' + (hit && hit.tagName));
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'visible') {
        out.push(name + ' needs scrolling in ' + box.tagName + '.' + box.className);
        break;
      }
    }
  }
  return out;
}"""


def test_at_phone_width_every_action_is_on_screen_without_sideways_scrolling(
    serve: Callable[..., Server], browser: Any
) -> None:
    from queuectl.store import open_store
    from tests.conftest import registration

    server = serve()
    long_command = "echo " + "a-rather-long-argument " * 12
    specs = [
        {"id": f"phone-{n}", "command": long_command, "queue": "a-queue-with-a-long-name"}
        for n in range(3)
    ]
    server.call("POST", "/api/jobs", specs)
    store = open_store(server.db)
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(WAIT_MS)
    try:
        store.register_worker(
            registration("worker-on-a-host-with-a-long-name", host="build-host-07")
        )
        tab = context.new_page()
        for path, shown in [
            ("/workers", "#workers button:text-is('Stop now')"),
            ("/config", "#config button:text-is('Save')"),
            ("/jobs", "#jobs input.pick"),
            ("/jobs/phone-1", "#job-actions button"),
            ("/", "#queues button:text-is('Pause')"),
        ]:
            tab.goto(server.base + path)
            ready(tab)
            tab.wait_for_selector(shown)
            assert tab.evaluate(OUT_OF_REACH) == [], path
            if path == "/workers":  # a card's lines name their column
                pid = tab.locator("#workers tbody td").nth(2)
                assert pid.get_attribute("data-label") == "pid"
        tab.goto(server.base + "/jobs")
        ready(tab)
        tab.locator("input.pick").first.check()
        tab.wait_for_selector("[data-bulk='delete']:not([disabled])")
        assert tab.evaluate(OUT_OF_REACH) == [], "/jobs with a selection"
    finally:
        context.close()
        store.close()


BIG = "1,000,000"


@pytest.mark.parametrize("width", [1400, 1024, 390])
def test_a_big_count_stays_inside_its_card(
    serve: Callable[..., Server], browser: Any, width: int
) -> None:
    """ "1,000,000" spilled out of its card at 1400 px. The counts come from the live
    status; held back ("Pause live updates"), each card gets a big number in its place."""
    server = serve()
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        tab = context.new_page()
        tab.goto(server.base + "/")
        ready(tab)
        tab.get_by_role("button", name="Pause live updates").click()
        tab.evaluate(
            """(big) => {
              for (const n of document.querySelectorAll('.card .n')) {
                n.textContent = n.id === 'slots-busy' ? big + ' / ' + big : big;
              }
            }""",
            BIG,
        )
        spilled = tab.evaluate(
            """() => {
              const out = [];
              for (const n of document.querySelectorAll('.card .n')) {
                const card = n.closest('.card'), box = card.getBoundingClientRect();
                const text = document.createRange();
                text.selectNodeContents(n);
                const ink = text.getBoundingClientRect();
                if (n.scrollWidth > n.clientWidth || card.scrollWidth > card.clientWidth
                    || ink.right > box.right || ink.left < box.left) out.push(n.id);
              }
              return out;
            }"""
        )
        assert spilled == [], f"counts spill out of their cards at {width}px: {spilled}"
    finally:
        context.close()
