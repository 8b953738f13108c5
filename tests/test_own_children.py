"""own_children: this process's children as /proc lists them, however many reads that
takes."""

from __future__ import annotations

import subprocess

import pytest

from queuectl import proctree


@pytest.mark.skipif(proctree.own_children() is None, reason="no /proc/.../children here")
@pytest.mark.parametrize("read_size", [proctree.CHILDREN_READ, 7])
def test_own_children_lists_every_child(read_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With reads of 7 bytes (a pid or two each), the list still comes whole."""
    monkeypatch.setattr(proctree, "CHILDREN_READ", read_size)
    before = proctree.own_children() or set()
    children = [subprocess.Popen(["cat"], stdin=subprocess.PIPE) for _ in range(5)]
    try:
        assert proctree.own_children() == before | {child.pid for child in children}
    finally:
        for child in children:
            child.communicate(b"")
