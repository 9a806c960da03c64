"""The fast part of ``make chaos`` inside ``make test``: every fast scenario holds its bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.run import all_scenarios, run_one
from chaos.table import Ctx, format_table

FAST = [s for s in all_scenarios() if s.fast]


@pytest.mark.parametrize("sc", FAST, ids=[s.name for s in FAST])
def test_fast_scenario(sc, tmp_path: Path) -> None:
    rows = run_one(sc, Ctx(quick=True, tmp=tmp_path))
    print("\n" + format_table(rows))
    assert rows and all(r.passed for r in rows), format_table(rows)
