"""Fixtures of the fault-injection suite: `figures` collects one test's numbers (faults
injected, jobs, lost, duplicates), printed as one line per test at the end of the run."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.chaos.faults import Figures

_LINES: list[str] = []
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    found = Figures(request.node.name)
    yield found
    if found.jobs or found.faults:
        report = request.node.stash.get(_CALL_REPORT, None)
        failed = report is not None and report.failed
        _LINES.append(("FAILED " if failed else "") + found.line())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the test's own outcome on the item, so its figures line can say FAILED."""
    report = yield
    if call.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("chaos figures")
        for line in _LINES:
            terminalreporter.write_line(line)
