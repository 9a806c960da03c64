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


def test_soak_bounds_steady_private_growth_not_warm_up() -> None:
    """The soak bounds RssAnon growth after the warm-up; growth during it, and ring pages
    touched, show in the total row only."""
    import os

    from chaos.soak import STEADY_MB, memory_rows, proc_mem_mb

    def series(warm_mb: float, steady_mb_per_s: float) -> list[tuple[float, dict[str, float]]]:
        out = []
        for t in range(0, 600, 10):
            anon = 100 + (warm_mb * t / 120 if t < 120 else warm_mb + steady_mb_per_s * (t - 120))
            shm = min(40.0, t / 10)
            out.append((float(t), {"VmRSS": anon + shm + 20, "RssAnon": anon, "RssShmem": shm}))
        return out

    rows = {r.figure: r for r in memory_rows("soak", {"monitor": series(60, 0.0), "execution": series(0, 0.05)},
                                                120.0, 600.0)}
    assert rows["private growth monitor"].passed and rows["private growth monitor"].value == 0
    leak = rows["private growth execution"]  # 0.05 MB/s: 24 MB in 8 minutes, 180 MB/h
    assert not leak.passed and leak.value > STEADY_MB and "MB/h" in leak.detail
    assert "ring pages touched +" in rows["rss growth total monitor"].detail
    gone = memory_rows("soak", {"x": [(float(t), dict.fromkeys(("VmRSS", "RssAnon", "RssShmem"), float("nan")))
                                      for t in range(0, 600, 10)]}, 120.0, 600.0)
    assert not any(r.passed for r in gone)
    me = proc_mem_mb(os.getpid())
    assert me["RssAnon"] > 0 and me["VmRSS"] >= me["RssAnon"]
