"""The process group end to end: real OS processes, real shared memory, the real supervisor.

One group is started and put through: messages flowing feed -> feature -> alpha ->
execution -> risk, `mmctl status`, `mmctl kill` seen by every process, kill -9 and SIGSTOP
of each worker in turn (detection within 2 x the heartbeat deadline, kill switch tripped
for execution and risk, group healthy again), promote/demote through risk, and SIGTERM
leaving nothing in /dev/shm.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .conftest import mmctl, shm_entries, status

pytestmark = pytest.mark.integration
WORKERS = ("feed", "feature", "alpha", "execution", "risk")
DEADLINE_MS = 250


def _proc(st: dict, name: str) -> dict:
    return next(p for p in st["processes"] if p["name"] == name)


def _wait(pred, timeout_s: float, what: str, group) -> dict:
    deadline = time.monotonic() + timeout_s
    st: dict = {}
    while time.monotonic() < deadline:
        st = status(group.run_dir)
        if pred(st):
            return st
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {st}\n{group.log()}")


def test_group_lifecycle(group_factory):
    g = group_factory()
    st = g.start()
    run_id = st["run_id"]
    assert {p["name"] for p in st["processes"]} >= set(WORKERS)
    assert shm_entries(run_id), "the run's segments exist while it runs"

    # The sim venue serves the market; the feed's real Hyperliquid parser puts it on md.
    assert _proc(st, "venue")["alive"]

    # Messages flow end to end: risk sees execution's cycles, whose origin is a feed event.
    st = _wait(lambda s: _proc(s, "risk")["msgs_in"] > 10 and _proc(s, "execution")["msgs_out"] > 5,
               30, "messages to reach risk", g)
    assert _proc(st, "execution")["latency_last_us"] > 0
    ch = {c["channel"]: c for c in st["channels"]}
    assert ch["md"]["published"] > 0 and ch["snap"]["published"] > 0 and ch["sig"]["published"] > 0
    assert {r["name"] for r in ch["snap"]["readers"]} >= {"alpha", "execution"}

    # The human-readable status works too.
    r = mmctl(g.run_dir, "status")
    assert r.returncode == 0 and "execution" in r.stdout and "kill switch: armed" in r.stdout

    # mmctl record captures the running stream; the files read back as typed events.
    rec_dir = g.run_dir + "-rec"
    md0 = next(c for c in status(g.run_dir)["channels"] if c["channel"] == "md")["published"]
    _wait(lambda s: next(c for c in s["channels"] if c["channel"] == "md")["published"] > md0 + 20, 60,
          "a steady market-data flow from the venue", g)
    r = mmctl(g.run_dir, "record", "--out", rec_dir, "--duration", "3", "--ex", "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["messages"]["md"] > 0 and rec["files"]
    from mm.recording.reader import read_recording
    from mm.schema import BookSnapshot, CycleSummary, Venue

    back = list(read_recording(rec["files"]))
    assert len(back) == rec["messages"]["md"] + rec["messages"]["ex"]
    assert any(isinstance(m, CycleSummary) for m in back)
    # Books parsed by the real Hyperliquid feed handler from the sim venue's l2Book pushes.
    hl_books = [m for m in back if isinstance(m, BookSnapshot) and m.venue == Venue.HYPERLIQUID]
    assert hl_books and all(b.bid_px[0] < b.ask_px[0] for b in hl_books)

    # mmctl kill is seen by every process; reset-kill clears it.
    r = mmctl(g.run_dir, "kill", "--reason", "integration test")
    assert r.returncode == 0, r.stderr
    epoch = status(g.run_dir)["killswitch"]["epoch"]
    st = _wait(lambda s: all(_proc(s, w)["ks_epoch_seen"] >= epoch for w in WORKERS), 5, "kill seen", g)
    assert st["killswitch"]["tripped"] and "integration test" in st["killswitch"]["reason"]
    assert mmctl(g.run_dir, "reset-kill").returncode == 0
    assert not status(g.run_dir)["killswitch"]["tripped"]

    # Promote without evidence is refused by risk; demote is accepted.
    r = mmctl(g.run_dir, "promote", "--reason", "no evidence yet")
    assert r.returncode == 1 and "refused" in r.stderr
    r = mmctl(g.run_dir, "promote", "--force", "--reason", "test override")
    assert r.returncode == 0, r.stderr
    assert status(g.run_dir)["risk"]["exposure_level"] == "MICRO_LIVE"
    r = mmctl(g.run_dir, "demote", "--to", "shadow", "--reason", "back")
    assert r.returncode == 0, r.stderr

    # Kill -9 each worker in turn, then freeze each (missed heartbeat): noticed within
    # 2 x the deadline, kill switch tripped for execution and risk, group healthy again.
    for how in ("kill9", "sigstop"):
        for name in WORKERS:
            before = _proc(status(g.run_dir), name)
            mmctl(g.run_dir, "reset-kill")
            t0 = time.monotonic_ns()
            os.kill(before["pid"], signal.SIGKILL if how == "kill9" else signal.SIGSTOP)
            st = _wait(lambda s, n=name, b=before: _proc(s, n)["restarts"] > b["restarts"], 10,
                       f"{name} restarted after {how}", g)
            p = _proc(st, name)
            detect_ms = (p["last_loss_ns"] - t0) / 1e6
            assert 0 <= detect_ms <= 2 * DEADLINE_MS, (name, how, detect_ms, p["last_loss_reason"])
            if name in ("execution", "risk"):
                assert st["killswitch"]["tripped"], f"losing {name} must trip the kill switch"
                assert name in st["killswitch"]["reason"]
            else:
                assert not st["killswitch"]["tripped"], f"losing {name} must not trip the kill switch"
            g.wait_healthy(90)
    mmctl(g.run_dir, "reset-kill")

    # SIGTERM: every process exits, nothing left in /dev/shm.
    pids = [p["pid"] for p in status(g.run_dir)["processes"]]
    assert g.stop() == 0, g.log()
    time.sleep(0.2)
    assert shm_entries(run_id) == [], shm_entries(run_id)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    r = mmctl(g.run_dir, "status")
    assert r.returncode == 3 and "make up" in r.stderr


def test_mmctl_without_a_group_says_what_to_do(tmp_path):
    r = mmctl(str(tmp_path / "nothing-here"), "status")
    assert r.returncode == 3
    assert "no mm process group is running" in r.stderr and "make up" in r.stderr
