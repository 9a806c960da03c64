"""Start the real process group (supervisor + worker OS processes) for integration tests.

The launcher lives in chaos/group.py (the chaos suite starts the same group); this file
keeps the names the integration tests import and the ``group_factory`` fixture.
"""

from __future__ import annotations

import pytest

from chaos.group import REPO, Group, free_port, mmctl, shm_entries, status

__all__ = ["REPO", "Group", "free_port", "group_factory", "mmctl", "shm_entries", "status"]


@pytest.fixture
def group_factory(tmp_path):
    groups: list[Group] = []

    def make(overrides: str = "") -> Group:
        (tmp_path / f"g{len(groups)}").mkdir()
        g = Group(tmp_path / f"g{len(groups)}", overrides)
        groups.append(g)
        return g

    yield make
    for g in groups:
        if g.proc is not None and g.proc.poll() is None:
            g.stop()
