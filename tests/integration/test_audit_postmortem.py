"""Issue 9 against the running paper group: the run leaves audit files that `mmctl audit`
answers from, and a real escalation to Red (our market data stops: the venue is frozen)
produces a postmortem bundle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, status

pytestmark = pytest.mark.integration

# Stale data escalates quickly in this test: 1 s without our venue's data is FeedStale,
# 1 s of that is Red (the defaults are 5 s and 5 s).
OVERRIDES = """
[escalation]
red_stale_data_s = 1.0
kill_stale_data_s = 600.0
"""


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mm.cli.mmctl", "audit", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def _proc(st: dict, name: str) -> dict:
    return next(p for p in st["processes"] if p["name"] == name)


def test_audit_files_and_a_postmortem_on_red(group_factory):
    g = group_factory(OVERRIDES)
    # A frozen venue must stay frozen (not be restarted by the watchdog) for the data to go stale.
    text = g.config.read_text().replace("stale_after_ms = 5000", "stale_after_ms = 1000")
    text = text.replace("heartbeat_deadline_ms = 250", "heartbeat_deadline_ms = 60000")
    g.config.write_text(text.replace("[monitor]\n", "[monitor]\npostmortem_min_interval_s = 1.0\n"))
    st = g.start()
    state_dir = Path(g.config.parent / "state")
    # Decision records flow on the audit ring to the monitor, and our venue's market data has
    # arrived (staleness counts from a symbol's first data: a venue frozen before the feed got
    # any would never go stale; on a cold, loaded machine the timer's decision records can
    # reach 20 before the venue serves its first book).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ch = {c["channel"]: c for c in status(g.run_dir)["channels"]}
        if ch["audit"]["published"] >= 20 and ch["md"]["published"] >= 20:
            break
        time.sleep(0.5)
    assert ch["audit"]["published"] >= 20, ch["audit"]
    assert ch["md"]["published"] >= 20, ch["md"]

    # Freeze the venue: our market data stops, the feed reports FeedStale, risk escalates to Red.
    venue_pid = _proc(st, "venue")["pid"]
    # (With the 1 s threshold the feed's own connection gap at start may already have done
    # so: that is the same real escalation; the freeze makes it certain.)
    pm_dir = state_dir / "postmortems"
    os.kill(venue_pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 60
        bundles: list[str] = []
        while time.monotonic() < deadline:
            now = set(os.listdir(pm_dir)) if pm_dir.exists() else set()
            bundles = sorted(
                n for n in now
                if "red" in n.lower() and (pm_dir / n / "summary.md").exists()
                and "stale" in (pm_dir / n / "summary.md").read_text().lower()
            )
            if bundles:
                break
            time.sleep(0.5)
        assert bundles, f"no Red postmortem in {pm_dir}: {sorted(os.listdir(pm_dir)) if pm_dir.exists() else []}"
        bundle = pm_dir / bundles[0]
        summary = (bundle / "summary.md").read_text()
        assert "stale" in summary.lower(), summary[:800]
    finally:
        try:
            os.kill(venue_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    # The bundle and the run's audit files both answer mmctl audit.
    r = _audit("--dir", str(bundle), "--summary", "--json")
    assert r.returncode == 0, r.stderr
    assert g.stop() == 0, g.log()
    r = _audit("--dir", str(state_dir), "--summary", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert lines and lines[-1], r.stdout[:500]
    r = _audit("--dir", str(state_dir), "--limit", "5", "--symbol", "BTC")
    assert r.returncode == 0 and "BTC" in r.stdout, (r.stdout[-800:], r.stderr[-800:])
