"""Kill switch, heartbeat table, control socket and segment naming, on real shared memory."""

import os
import secrets
import threading

import pytest

from ipc.control import ControlClient, ControlReply, ControlServer, ControlUnavailable
from ipc.heartbeat import HeartbeatTable
from ipc.killswitch import KillReason, KillSwitch
from ipc.segments import clean_stale, parse_entry, run_entries, shm_name, unlink_run


@pytest.fixture
def run_id():
    # A run id whose "supervisor pid" is certainly not alive (pid_max is below 2**22).
    rid = f"{4_000_000 + secrets.randbelow(100_000)}-{secrets.token_hex(4)}"
    yield rid
    unlink_run(rid)


def test_killswitch_first_trip_wins_and_reset_is_explicit(run_id):
    ks = KillSwitch.create(shm_name(run_id, "ks"))
    other = KillSwitch.attach(shm_name(run_id, "ks"))
    assert not other.tripped()
    assert ks.trip(KillReason.OPERATOR, "alice", "first", 1, 10, 20)
    assert not other.trip(KillReason.RISK_LIMIT, "bob", "second", 2, 11, 21)
    st = other.state()
    assert other.tripped() and st["who"] == "alice" and st["reason"] == "first"
    assert st["reason_code"] == "OPERATOR" and st["trips"] == 1
    epoch = other.epoch()
    assert ks.reset()
    assert not other.tripped() and other.epoch() == epoch + 1
    assert not ks.reset()  # resetting a clear switch changes nothing
    ks.close()
    other.close()


def test_killswitch_concurrent_trips_have_one_winner(run_id):
    ks = KillSwitch.create(shm_name(run_id, "ks"))
    handles = [KillSwitch.attach(shm_name(run_id, "ks")) for _ in range(8)]
    wins = []
    barrier = threading.Barrier(len(handles))

    def go(i, h):
        barrier.wait()
        wins.append(h.trip(KillReason.TEST, f"t{i}", "race", i, i, i))

    threads = [threading.Thread(target=go, args=(i, h)) for i, h in enumerate(handles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(wins) == 1
    assert ks.state()["trips"] == 1


def test_killswitch_text_is_truncated_not_overflowing(run_id):
    ks = KillSwitch.create(shm_name(run_id, "ks"))
    ks.trip(KillReason.TEST, "w" * 500, "r" * 5000, 1, 1, 1)
    st = ks.state()
    assert len(st["who"]) == 64 and len(st["reason"]) == 384


def test_attach_missing_is_clear(run_id):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        KillSwitch.attach(shm_name(run_id, "nope"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HeartbeatTable.attach(shm_name(run_id, "nope"))


def test_heartbeat_rows_are_independent(run_id):
    t = HeartbeatTable.create(shm_name(run_id, "hb"), ["feed", "risk"])
    reader = HeartbeatTable.attach(shm_name(run_id, "hb"))
    feed = t.row("feed")
    feed.beat(100)
    feed.beat(200)
    feed.add("msgs_out", 5)
    t.row("risk").set(pid=42, state=2)
    rows = {r["name"]: r for r in reader.snapshot()}
    assert rows["feed"]["loops"] == 2 and rows["feed"]["ts_ns"] == 200 and rows["feed"]["msgs_out"] == 5
    assert rows["risk"]["pid"] == 42 and rows["risk"]["loops"] == 0
    with pytest.raises(KeyError):
        t.row("nobody")


def test_segment_names_and_stale_cleanup(run_id):
    ks = KillSwitch.create(shm_name(run_id, "ks"))
    ks.close()
    assert parse_entry(f"mm.{run_id}.ks") == (run_id, int(run_id.split("-")[0]))
    assert parse_entry("mm.test1234.x") is None  # not a run's segment: never touched
    assert run_id in run_entries()
    removed = clean_stale(alive=lambda pid: pid != int(run_id.split("-")[0]))
    assert f"mm.{run_id}.ks" in removed
    assert run_id not in run_entries()
    with pytest.raises(ValueError):
        shm_name(run_id, "../etc")


def test_control_roundtrip_and_owner_only(tmp_path):
    path = str(tmp_path / "run" / "control.sock")
    server = ControlServer(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    result = {}

    def client():
        result["reply"] = ControlClient(path, timeout_ms=3000).call("status", verbose=True)

    t = threading.Thread(target=client)
    t.start()
    req = None
    for _ in range(100):
        req = server.poll(50)
        if req is not None:
            break
    assert req is not None and req.cmd == "status" and req.args == {"verbose": True}
    server.reply(ControlReply(ok=True, data={"x": 1}))
    t.join()
    assert result["reply"].ok and result["reply"].data == {"x": 1}
    server.close()
    with pytest.raises(ControlUnavailable):
        ControlClient(path, timeout_ms=100).call("status")
