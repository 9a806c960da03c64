"""Process-level faults of the paper group: kill -9 of each process mid-trading, and a wall-clock jump.

``kill9``: one trading group (orders resting at the sim venue under the paper account);
for each process in turn (feed, feature, alpha, monitor, risk, execution, venue) while
orders rest: ``SIGKILL``, then measured from the kill:

- detection: the supervisor's loss time of the process (``last_loss_ns``, monotonic);
- action: the supervisor's policy (procs/supervisor.py, config [supervisor]): a process in
  ``kill_on_loss`` (execution, risk) trips the kill switch (time of the trip), and every
  ``restartable`` one is started again (time until the new pid heartbeats, read from the
  heartbeat table every 10 ms);
- after a trip: time until the venue lists no open order of the account (bound: the kill
  path's, ``escalation.kill_cancel_deadline_ms`` + ``exchange.kill_deadline_s``);
- after recovery (switch reset, orders resting again): orders orphaned, the open orders at
  the venue that are not the live execution's (their cloid does not carry its session id),
  must be 0; the largest difference between risk's positions and the venue's, must be 0;
  other processes restarted as collateral, must be 0.

``kill9_supervisor``: a trading group whose sim venue runs outside it (``[paper]
external_venue``, chaos.outside_venue: a venue that outlives the group, as a real one does);
``SIGKILL`` to the supervisor while orders rest, then: the time until every worker has
exited (they get SIGTERM from the kernel, PR_SET_PDEATHSIG, and also watch their parent;
bound: the supervisor's ``shutdown_timeout_ms``), until the venue lists no open order of the
account (execution's stop sweep; bound: the kill path's), the open orders left once all are
gone (0), the run's /dev/shm entries left by the dead run, which the next start must
remove (``ipc.segments.clean_stale``: 0 left), and after that restart orders orphaned and
the position mismatch (0).

``wall_clock_jump``: a trading group whose every process except the venue (the outside
world) sees the wall clock (``time.time``/``time_ns``) jump +1 h and then -2 h while it
trades (chaos/wallclock/sitecustomize.py rewrites them from a file): no watchdog loss, no
kill switch trip, no restart, market events' age on arrival and the market-event-to-signal
latency stay sane (both on the monotonic clock: a leak of wall time would show an hour), orders keep being sent
and answered after each jump, and the venue refuses no nonce.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from chaos.group import REPO, Group, RingTap, VenueView, eventually, mmctl, position_diff, proc, shm_entries
from chaos.table import Ctx, Row, Scenario, check
from ipc.heartbeat import HeartbeatTable, ProcState
from ipc.killswitch import KillSwitch
from mm.config import Config, load_config
from mm.schema import AlphaSignal
from procs.paper_keys import signers

KILL_ORDER = ("feed", "feature", "alpha", "monitor", "risk", "execution", "venue")
SESSION_RE = re.compile(r"execution\[\d+\] execution: session ([0-9a-f]{16})")


def kill_bound_s(cfg: Config) -> float:
    """The kill path's bound: execution's deadline to confirm, then risk's own cancel deadline."""
    assert cfg.exchange is not None
    return cfg.escalation.kill_cancel_deadline_ms / 1000.0 + cfg.exchange.kill_deadline_s


def sessions(g: Group) -> list[str]:
    return SESSION_RE.findall(g.full_log())


def orphans(venue: VenueView, session: str) -> list[dict[str, Any]]:
    """Open orders of the account that are not the live execution's (cloid 0x + session + n)."""
    return [o for o in venue.open_orders() if str(o.get("cloid") or "")[2:18] != session]


class TradingGroup:
    """A trading group with its venue view, heartbeat table and kill switch attached."""

    def __init__(self, tmp: Path, overrides: str = "", env: dict[str, str] | None = None,
                 replace: dict[str, str] | None = None) -> None:
        self.g = Group.trading(tmp, overrides, replace, env=env)
        self.cfg = load_config(str(self.g.config))

    def __enter__(self) -> TradingGroup:
        self.cfg = load_config(str(self.g.config))  # the caller may have edited it since
        self.g.start(180)
        gf = self.g.group_file()
        self.hb = HeartbeatTable.attach(gf["heartbeat"])
        self.ks = KillSwitch.attach(gf["killswitch"])
        self.venue = VenueView(self.cfg.venues.hl_http_url, signers(self.cfg).account)
        return self

    def __exit__(self, *exc: object) -> None:
        self.hb.close()
        self.ks.close()
        self.g.stop()

    def reattach(self) -> None:
        """Attach to the heartbeat table and kill switch of the group running now (after a restart)."""
        self.hb.close()
        self.ks.close()
        gf = self.g.group_file()
        self.hb = HeartbeatTable.attach(gf["heartbeat"])
        self.ks = KillSwitch.attach(gf["killswitch"])

    def resting(self, timeout_s: float = 90.0) -> list[dict[str, Any]]:
        def got() -> list[dict[str, Any]]:
            try:
                return self.venue.open_orders()
            except OSError:
                return []
        out: list[dict[str, Any]] = eventually(got, timeout_s, "orders resting at the venue", self.g.log)
        return out

    def venue_clean_after(self, t0_ns: int, timeout_s: float) -> int | None:
        """Monotonic ns of the first read (after ``t0_ns``) that lists no open order."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                n = len(self.venue.open_orders(timeout_s=2.0))
            except OSError:
                n = -1
            now = time.monotonic_ns()
            if n == 0:
                return now
            time.sleep(0.02)
        return None


def _kill_one(tg: TradingGroup, name: str, bound_s: float, grace_s: float) -> list[Row]:
    g = tg.g
    sc = f"kill9_{name}"
    tg.resting()
    st0 = g.status()
    restarts0 = {p["name"]: p["restarts"] for p in st0["processes"]}
    row = tg.hb.row(name)
    old_pid = int(row.get("pid"))
    epoch0 = tg.ks.epoch()
    kill_ns = time.monotonic_ns()
    os.kill(old_pid, signal.SIGKILL)
    restart_ns = trip_ns = None
    deadline = time.monotonic() + grace_s + 30
    while time.monotonic() < deadline:
        if trip_ns is None and tg.ks.epoch() != epoch0 and tg.ks.tripped():
            trip_ns = int(tg.ks.state()["ts_ns"])
        pid = int(row.get("pid"))
        if (pid not in (0, old_pid) and row.get("state") == ProcState.RUNNING and row.get("ts_ns") > kill_ns):
            restart_ns = time.monotonic_ns()
            break
        time.sleep(0.01)
    st = g.status()
    p = proc(st, name)
    if trip_ns is None and st["killswitch"]["tripped"] and st["killswitch"]["ts_ns"] > kill_ns:
        trip_ns = int(st["killswitch"]["ts_ns"])
    if p["last_loss_ns"] > kill_ns:
        rows = [check(sc, "detection", (p["last_loss_ns"] - kill_ns) / 1e6, "ms", "<=", 1000.0, p["last_loss_reason"])]
    else:
        rows = [Row(sc, "detection", -1, "ms", "<= 1000 ms", False, "the supervisor recorded no loss")]
    must_trip = name in tg.cfg.supervisor.kill_on_loss
    if must_trip:
        if trip_ns is not None:
            rows.append(check(sc, "kill switch", (trip_ns - kill_ns) / 1e6, "ms", "<=", 1000.0,
                              st["killswitch"]["reason"]))
        else:
            rows.append(Row(sc, "kill switch", -1, "ms", "<= 1000 ms", False, "not tripped"))
        clean_ns = tg.venue_clean_after(kill_ns, bound_s + 10)
        rows.append(check(sc, "venue clean", (clean_ns - kill_ns) / 1e9 if clean_ns else float("inf"), "s", "<=",
                          bound_s, "kill -> the venue lists no open order of the account"))
    else:
        rows.append(check(sc, "kill switch trips", 0 if trip_ns is None else 1, "", "==", 0,
                          "not in kill_on_loss: trading goes on"))
    rows.append(check(sc, "restart", (restart_ns - kill_ns) / 1e9 if restart_ns is not None else float("inf"), "s", "<=",
                      grace_s, "new pid heartbeating (restartable; bound: startup_grace_ms)"))
    g.wait_healthy(90)
    if tg.ks.tripped():
        r = mmctl(g.run_dir, "reset-kill")
        assert r.returncode == 0, r.stderr
    tg.resting(120)
    session = sessions(g)[-1]
    # an order of the killed life may still be landing and be cancelled: count what stays
    deadline = time.monotonic() + 10
    left = orphans(tg.venue, session)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = orphans(tg.venue, session)
    rows.append(check(sc, "orders orphaned", len(left), "", "==", 0,
                      f"open at the venue, not execution session {session}" + (f": {left[:2]}" if left else "")))
    try:
        eventually(lambda: position_diff(g.risk_positions(), tg.venue.positions()) == 0.0, 30,
                   "risk's position to equal the venue's")
    except AssertionError:
        pass
    diff = position_diff(g.risk_positions(), tg.venue.positions())
    rows.append(check(sc, "position mismatch", diff, "", "==", 0, f"venue {tg.venue.positions()}"))
    st = g.status()
    collateral = [q["name"] for q in st["processes"] if q["name"] != name and q["restarts"] != restarts0[q["name"]]]
    rows.append(check(sc, "collateral restarts", len(collateral), "", "==", 0, ",".join(collateral)))
    return rows


def run_kill9(ctx: Ctx) -> list[Row]:
    rows: list[Row] = []
    only = ctx.params.get("processes", KILL_ORDER)
    with TradingGroup(ctx.tmp) as tg:
        bound_s = kill_bound_s(tg.cfg)
        grace_s = tg.cfg.supervisor.startup_grace_ms / 1000.0
        for name in only:
            try:
                rows.extend(_kill_one(tg, name, bound_s, grace_s))
            except Exception as exc:  # one process's failure is a failed row; the others still run
                rows.append(Row(f"kill9_{name}", "scenario ran", 0, "", "completes", False,
                                f"{type(exc).__name__}: {str(exc)[:300]}"))
                try:
                    tg.g.wait_healthy(60)
                    if tg.ks.tripped():
                        mmctl(tg.g.run_dir, "reset-kill")
                except AssertionError:
                    break
    return rows


# --------------------------------------------------------------------------- supervisor


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class OutsideVenue:
    """chaos.outside_venue for a group's config: the sim venue as a process of its own."""

    def __init__(self, g: Group) -> None:
        self.port_file = g.tmp / "outside_venue.port"
        self.log_path = g.tmp / "outside_venue.log"
        self.config = g.config

    def __enter__(self) -> OutsideVenue:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "chaos.outside_venue", "--config", str(self.config),
                                      "--port-file", str(self.port_file)], cwd=REPO, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        eventually(lambda: self.port_file.exists() or self.proc.poll() is not None, 120, "the outside venue to listen",
                   lambda: self.log_path.read_text(errors="replace")[-3000:])
        assert self.proc.poll() is None, self.log_path.read_text(errors="replace")[-3000:]
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def run_kill9_supervisor(ctx: Ctx) -> list[Row]:
    """kill -9 of the supervisor while orders rest; the venue runs outside the group
    (``[paper] external_venue``), so what the dead group left there can be read."""
    sc = "kill9_supervisor"
    rows: list[Row] = []
    tg = TradingGroup(ctx.tmp, replace={"replay_loop = true": "replay_loop = true\nexternal_venue = true"})
    g = tg.g
    with OutsideVenue(g):
        with tg:
            tg.resting()
            st = g.status()
            names = [p["name"] for p in st["processes"]]
            assert "venue" not in names, "the venue must not be a child of the group in this scenario"
            pids = {p["name"]: int(p["pid"]) for p in st["processes"]}
            run_id = g.run_id
            open0 = len(tg.venue.open_orders())
            shutdown_s = tg.cfg.supervisor.shutdown_timeout_ms / 1000.0
            bound_s = kill_bound_s(tg.cfg)
            assert tg.cfg.exchange is not None
            dms_s = tg.cfg.exchange.dead_mans_switch_s
            assert g.proc is not None
            kill_ns = time.monotonic_ns()
            os.kill(g.proc.pid, signal.SIGKILL)
            g.proc.wait(10)
            gone_ns: dict[str, int] = {}
            clean_ns: int | None = None
            deadline = time.monotonic() + max(shutdown_s, dms_s) + 10
            while time.monotonic() < deadline and (len(gone_ns) < len(pids) or clean_ns is None):
                now = time.monotonic_ns()
                for n, pid in pids.items():
                    if n not in gone_ns and _gone(pid):
                        gone_ns[n] = now
                if clean_ns is None:
                    try:
                        if not tg.venue.open_orders(timeout_s=2.0):
                            clean_ns = time.monotonic_ns()
                    except OSError:
                        pass
                time.sleep(0.01)
            alive = sorted(set(pids) - set(gone_ns))
            last = max(gone_ns.values(), default=kill_ns)
            order = ", ".join(f"{n} {(t - kill_ns) / 1e6:.0f}" for n, t in sorted(gone_ns.items(), key=lambda x: x[1]))
            rows.append(check(sc, "all workers gone", (last - kill_ns) / 1e9 if not alive else float("inf"), "s",
                              "<=", shutdown_s, (f"still alive: {alive}; " if alive else "")
                              + f"exit after the kill, ms: {order} (PR_SET_PDEATHSIG, then each worker's clean stop)"))
            rows.append(check(sc, "venue clean", (clean_ns - kill_ns) / 1e9 if clean_ns else float("inf"), "s", "<=",
                              bound_s, f"{open0} order(s) resting at the kill -> the venue lists none "
                              f"(execution's stop sweep; dead man's switch at {dms_s:g} s as the backstop)"))
            time.sleep(1.0)
            left = tg.venue.open_orders()
            rows.append(check(sc, "open orders left", len(left), "", "==", 0,
                              "1 s after the last worker exited" + (f": {left[:2]}" if left else "")))
            left_shm = shm_entries(run_id)
            # the next start: a new supervisor (same run directory) removes the dead run's segments
            dead_log = g.full_log()
            g._log.close()
            (g.tmp / "supervisor.killed.log").write_text(dead_log)
            t0 = time.monotonic()
            g.start(180)
            restart_s = time.monotonic() - t0
            tg.reattach()
            after = shm_entries(run_id)
            rows.append(check(sc, "shm cleaned at next start", len(after), "", "==", 0,
                              f"the killed run left {len(left_shm)} /dev/shm entries; the next supervisor "
                              f"(healthy in {restart_s:.0f} s) removed {len(left_shm) - len(after)} (clean_stale)"))
            tg.resting(120)
            session = sessions(g)[-1]
            orph = orphans(tg.venue, session)
            rows.append(check(sc, "orders orphaned", len(orph), "", "==", 0,
                              f"after the restart, open and not execution session {session}"))
            try:
                eventually(lambda: position_diff(g.risk_positions(), tg.venue.positions()) == 0.0, 30,
                           "risk's position to equal the venue's")
            except AssertionError:
                pass
            diff = position_diff(g.risk_positions(), tg.venue.positions())
            rows.append(check(sc, "position mismatch", diff, "", "==", 0, f"venue {tg.venue.positions()}"))
    return rows


# --------------------------------------------------------------------------- wall clock


def _ex_published(g: Group) -> int:
    return int(next(c for c in g.status()["channels"] if c["channel"] == "ex")["published"])


def run_wall_clock_jump(ctx: Ctx) -> list[Row]:
    sc = "wall_clock_jump"
    offset_file = ctx.tmp / "wall_offset_ns"
    offset_file.write_text("0")
    env = {"PYTHONPATH": f"{REPO / 'chaos' / 'wallclock'}{os.pathsep}{REPO}",
           "MM_CHAOS_WALL_OFFSET_FILE": str(offset_file), "MM_CHAOS_WALL_EXEMPT": "procs.venue"}
    dwell_s = 6.0 if ctx.quick else 20.0
    rows: list[Row] = []
    with TradingGroup(ctx.tmp, env=env) as tg:
        g = tg.g
        tg.resting()
        mark = len(g.full_log())
        restarts0 = sum(p["restarts"] for p in g.status()["processes"])
        trips0 = tg.ks.state()["trips"]
        progress = []
        md_tap = RingTap(g, "md")
        sig_tap = RingTap(g, "sig", (AlphaSignal,))
        ctl_tap = RingTap(g, "ctl")  # risk's status carries its wall clock
        windows = []
        try:
            for offset_ns in (3_600 * 10**9, -3_600 * 10**9):  # +1 h, then 1 h before the real time
                before = _ex_published(g)
                offset_file.write_text(str(offset_ns))
                t0 = time.monotonic()
                time.sleep(dwell_s)
                windows.append((t0, time.monotonic()))
                progress.append(_ex_published(g) - before)
        finally:
            md_tap.close()
            sig_tap.close()
            ctl_tap.close()
        offset_file.write_text("0")
        log = g.full_log()[mark:]
        st = g.status()
        md_ages = [a for w in windows for a in md_tap.between(*w)]
        sig_ages = [a for w in windows for a in sig_tap.between(*w)]
        lost = [ln for ln in log.splitlines() if "watchdog:" in ln]
        nonce = [ln for ln in log.splitlines() if "nonce" in ln.lower()]
        # the jump reached the workers: risk's status messages carry its wall clock
        skew = [(t, k) for t, k in ctl_tap.wall_skew_s]
        ahead = sum(1 for t, k in skew if windows[0][0] + 0.5 <= t < windows[0][1] and 3500 < k < 3700)
        behind = sum(1 for t, k in skew if windows[1][0] + 0.5 <= t < windows[1][1] and -3700 < k < -3500)
        rows += [
            check(sc, "risk wall clock +1 h", ahead, "msgs", ">", 0, "the group's wall clock did jump ahead"),
            check(sc, "risk wall clock -1 h", behind, "msgs", ">", 0, "and then behind the real time"),
            check(sc, "watchdog losses", len(lost), "", "==", 0, lost[0][-150:] if lost else "heartbeats on monotonic"),
            check(sc, "kill switch trips", tg.ks.state()["trips"] - trips0, "", "==", 0),
            check(sc, "restarts", sum(p["restarts"] for p in st["processes"]) - restarts0, "", "==", 0),
            check(sc, "md event age max", max(md_ages, default=float("inf")), "ms", "<=", 1000.0,
                  f"{len(md_ages)} market events while jumped; feed stamps on the monotonic clock"),
            check(sc, "md->signal p50", statistics.median(sig_ages) if sig_ages else float("inf"), "ms", "<=", 100.0,
                  f"{len(sig_ages)} signals while jumped (a wall-clock leak would show an hour)"),
            check(sc, "ex msgs after +1 h", progress[0], "", ">", 0, "orders/events still flowing"),
            check(sc, "ex msgs after -1 h", progress[1], "", ">", 0, "orders/events still flowing"),
            check(sc, "nonce complaints", len(nonce), "", "==", 0, nonce[0][-150:] if nonce else ""),
        ]
        tg.resting(30)
    return rows


# --------------------------------------------------------------------------- refused starts


def _supervisor_rc(config: Path, run_dir: Path) -> tuple[int, str, float]:
    env = dict(os.environ, MM_RUN_DIR=str(run_dir))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "procs.supervisor", "--config", str(config)], capture_output=True,
                       text=True, timeout=120, cwd=REPO, env=env)
    return r.returncode, r.stderr, time.monotonic() - t0


def run_start_refused(ctx: Ctx) -> list[Row]:
    """A key file others may read, and a bad config value: the supervisor refuses to start."""
    from mm.venues.hyperliquid.keys import write_key_file

    sc = "start_refused"
    secret = "0x" + "3d" * 31 + "07"
    key = write_key_file(ctx.tmp / "agent.key", secret)
    write_key_file(ctx.tmp / "agent.key.risk", "0x" + "4e" * 31 + "08")
    os.chmod(key, 0o644)
    cfg = ctx.tmp / "live.toml"
    cfg.write_text(f'[run]\nmode = "live"\nstate_dir = "{ctx.tmp / "state"}"\n[venues]\n'
                   f'hl_http_url = "https://api.hyperliquid.xyz"\n[exchange]\nnetwork = "mainnet"\nkey_file = "{key}"\n')
    rc, err, took = _supervisor_rc(cfg, ctx.tmp / "run")
    started = (ctx.tmp / "run" / "control.sock").exists()
    ok = rc == 2 and "0644" in err and "chmod 600" in err and secret[2:] not in err.lower() and not started
    rows = [check(sc, "key file 0644", 0 if ok else 1, "", "==", 0,
                  f"rc {rc} in {took:.1f} s: {err.strip().splitlines()[-1][:110] if err.strip() else ''}")]
    bad = ctx.tmp / "bad.toml"
    bad.write_text("[supervisor]\nheartbeat_deadline_ms = -5\n")
    rc, err, took = _supervisor_rc(bad, ctx.tmp / "run2")
    ok = rc == 2 and "supervisor.heartbeat_deadline_ms" in err and "Traceback" not in err
    rows.append(check(sc, "bad config value", 0 if ok else 1, "", "==", 0,
                      f"rc {rc}: {err.strip().splitlines()[-1][:110] if err.strip() else ''}"))
    return rows


SCENARIOS = [
    Scenario("start_refused", run_start_refused, fast=True,
             doc="key file readable by others, bad config value: the supervisor refuses to start, naming it"),
    Scenario("kill9", run_kill9, fast=False,
             doc="kill -9 of each process mid-trading: detection, kill switch/restart, orphans, position mismatch"),
    Scenario("kill9_supervisor", run_kill9_supervisor, fast=False,
             doc="kill -9 of the supervisor mid-trading (venue outside the group): workers gone, venue clean, "
                 "shm cleaned by the next start, orphans, position"),
    Scenario("wall_clock_jump", run_wall_clock_jump, fast=False,
             doc="wall clock +1 h then -1 h under a trading group: no loss, no trip, latency on monotonic"),
]
