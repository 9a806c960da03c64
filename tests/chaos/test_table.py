"""The chaos table's own rules: bounds are checked as stated, a crashing scenario is a failed row."""

from __future__ import annotations

from pathlib import Path

from chaos.run import run_one
from chaos.table import Ctx, Scenario, check, format_table


def test_check_bounds() -> None:
    assert check("s", "orphans", 0, "", "==", 0).passed
    assert not check("s", "orphans", 1, "", "==", 0).passed
    assert check("s", "t", 1.9, "s", "<=", 2.0).passed
    assert not check("s", "t", 2.1, "s", "<=", 2.0).passed
    assert check("s", "t", 2.1, "s", "<=", 2.0).bound == "<= 2 s"


def test_crashing_scenario_is_a_failed_row(tmp_path: Path) -> None:
    def boom(ctx: Ctx) -> list:
        raise RuntimeError("venue gone")

    rows = run_one(Scenario("boom", boom, fast=True), Ctx(quick=True, tmp=tmp_path))
    assert len(rows) == 1 and not rows[0].passed and "venue gone" in rows[0].detail
    assert "FAIL" in format_table(rows)
