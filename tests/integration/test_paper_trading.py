"""The paper group trades against the sim venue over loopback, and is killed cleanly.

Real OS processes, the real sim venue on a free port, a fresh state directory (so fresh
generated keys: execution's and risk's API wallets, approved by the venue for the paper
account). One group, put through (issue 6, issue 7 item 7):

1. orders flow: execution's signed orders rest at the venue under the account, its
   OrderEvents (and Fills) are on the ex ring, the in-group round trip (order decided ->
   ack applied by the OMS) is measured from them;
2. ``mmctl kill`` with open orders: every order cancelled within the kill path's bound
   (``escalation.kill_cancel_deadline_ms`` + ``exchange.kill_deadline_s``), nothing placed
   while the switch is tripped, risk's position equal to the venue's, trading again after
   ``reset-kill``;
3. ``kill -9`` of execution with open orders: every order cancelled within the same bound
   (by risk's own kill path, the restarted execution's start reconciliation or the dead
   man's switch: the test says which), the restarted execution healthy, no order at the
   venue that is not the new execution's (no orphan);
4. risk's independent kill path for certain: execution frozen (SIGSTOP) with open orders,
   ``mmctl kill``: risk cancels everything through its own connection within the bound;
   then risk's position equals the venue's.

The measured figures are printed (``pytest -s`` shows them). The only timed assertion is
the kill path's bound, a correctness bound taken from the config.

Below it, quick tests of the pieces this wiring relies on, without a group: the paper keys
(generated once, owner-only, both agents approved by the venue; live keys never generated,
two distinct wallets required) and the sim venue's terminal status of an order filled on
arrival (execution's orderStatus lookups depend on it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.group import VenueView, eventually, position_diff, proc
from ipc.ring import Ring, RingOverrun
from mm.config import Config, load_config, parse_config
from mm.schema import Codec, Fill, OrderEvent, OrderStatus
from mm.venues.sim.config import VenueConfig
from procs.exec_io import is_kill_confirmation
from procs.paper_keys import KeySetupError, exchange_config, load_key, paper_users, provision, signers

from .conftest import Group, mmctl, status


@pytest.fixture
def trading_group(tmp_path: Path) -> Iterator[Group]:
    """The paper group with the settings under which it rests orders (:meth:`Group.trading`:
    full exposure, the touch baseline, a 5 s heartbeat deadline so the loaded box does not
    restart workers spuriously and execution can be frozen for a few seconds, a kill that
    demotes to Full again), stopped at the end."""
    g = Group.trading(tmp_path)
    yield g
    if g.proc is not None and g.proc.poll() is None:
        g.stop()

class OpenOrdersWatch:
    """Polls the venue's open orders of the account in the background: (monotonic ns, count)."""

    def __init__(self, venue: VenueView, period_s: float = 0.02) -> None:
        self.venue = venue
        self.period_s = period_s
        self.samples: list[tuple[int, int]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = len(self.venue.open_orders())
            except OSError:  # a failed read says nothing (counted)
                self.errors += 1
            else:
                self.samples.append((time.monotonic_ns(), n))
            time.sleep(self.period_s)

    def wait_empty(self, after_ns: int, timeout_s: float) -> bool:
        """Wait until the venue has listed no open order at some read after ``after_ns``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(t >= after_ns and n == 0 for t, n in list(self.samples)):
                return True
            time.sleep(0.02)
        return False

    def settled_at(self, after_ns: int) -> int | None:
        """The first read after ``after_ns`` from which the venue listed no open order at every
        later read (None: it lists some at the last). An order sent before the kill may land
        after a read found none: the venue is clean once it stays so."""
        settled = None
        for t, n in self.samples:
            if t < after_ns:
                continue
            if n == 0:
                settled = t if settled is None else settled
            else:
                settled = None
        return settled

    def reappeared(self, after_ns: int) -> int:
        """Reads that listed an order again after one had listed none (late landings)."""
        seen_empty = False
        out = 0
        for t, n in self.samples:
            if t < after_ns:
                continue
            seen_empty = seen_empty or n == 0
            out += seen_empty and n > 0
        return out

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class ExTap:
    """One more reader of the group's ex ring, in a thread: everything execution publishes."""

    def __init__(self, g: Group) -> None:
        with open(os.path.join(g.run_dir, "group.json")) as fh:
            rings = json.load(fh)["rings"]
        self.ring = Ring.attach(rings["ex"])
        self.reader = self.ring.reader(f"test-tap-{os.getpid()}", start="latest")
        self.codec = Codec()
        self.msgs: list[Any] = []
        self.lost = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.reader.poll_batch(1024)
            except RingOverrun as exc:
                self.lost += exc.lost
                continue
            self.msgs.extend(self.codec.decode(b) for b in batch)
            if not batch:
                time.sleep(0.005)

    def events(self) -> list[OrderEvent | Fill]:
        return [m for m in list(self.msgs) if isinstance(m, OrderEvent | Fill)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.reader.close()
        self.ring.close()


def _round_trips_ms(events: list[OrderEvent | Fill]) -> list[float]:
    """Order decided (PendingNew) -> the venue's answer applied by the OMS, per order, in ms."""
    sent: dict[str, int] = {}
    out = []
    for e in events:
        if not isinstance(e, OrderEvent) or not e.cloid:
            continue
        if e.status == OrderStatus.PENDING_NEW:
            sent.setdefault(e.cloid, e.ts_ns)
        elif e.cloid in sent and e.status in (OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.REJECTED):
            out.append((e.ts_ns - sent.pop(e.cloid)) / 1e6)
    return sorted(out)


def _sessions(g: Group) -> list[str]:
    return re.findall(r"execution: session ([0-9a-f]{16})", g.full_log())


def _risk_reconcile(g: Group) -> dict[str, Any]:
    with open(os.path.join(g.run_dir, "risk_status.json")) as fh:
        out: dict[str, Any] = json.load(fh)["reconcile"]
    return out


def _bound_s(cfg: Config) -> float:
    """The kill path's bound: execution's deadline to confirm, then risk's own cancel deadline."""
    assert cfg.exchange is not None
    return cfg.escalation.kill_cancel_deadline_ms / 1000.0 + cfg.exchange.kill_deadline_s


def _since(g: Group, text: str, start: int) -> list[str]:
    return [line for line in g.full_log()[start:].splitlines() if text in line]


@pytest.mark.integration
def test_paper_group_trades_and_is_killed_cleanly(trading_group: Group) -> None:
    t_start = time.monotonic()
    g = trading_group
    cfg = load_config(str(g.config))
    assert cfg.exchange is not None
    bound_s = _bound_s(cfg)
    g.start(120)
    who = signers(cfg)
    venue = VenueView(cfg.venues.hl_http_url, who.account)
    tap = ExTap(g)
    figures: dict[str, Any] = {"startup_s": round(time.monotonic() - t_start, 1)}

    # 1. Orders flow: signed by execution's API wallet (the venue verifies every signature
    # and knows only our two agents; risk places no order), resting under the account, with
    # this execution's cloids; OrderEvents and Fills on the ex ring.
    eventually(lambda: len(venue.open_orders()) > 0, 60, "execution's orders to rest at the venue", g.log)
    session = _sessions(g)[-1]
    assert all(o["cloid"][2:18] == session for o in venue.open_orders())
    eventually(lambda: any(isinstance(e, Fill) for e in tap.events()) and venue.fills(), 60,
               "a fill of ours at the venue, and on the ex ring", g.log)
    assert any(isinstance(e, OrderEvent) and e.cloid for e in tap.events())

    # 2. mmctl kill with open orders: all cancelled within the bound; nothing placed until reset.
    eventually(lambda: len(venue.open_orders()) > 0, 30, "open orders before mmctl kill", g.log)
    watch = OpenOrdersWatch(venue)
    log_mark = len(g.full_log())
    r = mmctl(g.run_dir, "kill", "--reason", "test: mmctl kill with open orders")
    assert r.returncode == 0, r.stderr
    ks = status(g.run_dir)["killswitch"]
    trip_ns = ks["ts_ns"]
    assert watch.wait_empty(trip_ns, bound_s + 5), f"open orders left {bound_s + 5} s after mmctl kill\n{g.log()}"
    eventually(lambda: _since(g, "kill: execution confirmed", log_mark)
               or _since(g, "kill path: the venue lists no open order", log_mark), 10, "risk's kill report", g.log)
    figures["mmctl_kill_cleaned_by"] = ("execution (confirmed on the ex ring)"
                                        if _since(g, "kill: execution confirmed", log_mark) else "risk's kill path")
    eventually(lambda: position_diff(g.risk_positions(), venue.positions()) < 1e-9, 15,
               "risk's position to equal the venue's after mmctl kill", g.log)
    time.sleep(1.0)  # the switch stays tripped a while: nothing may be placed meanwhile
    reset_ns = time.monotonic_ns()
    watch.stop()
    clean_ns = watch.settled_at(trip_ns)
    assert clean_ns is not None, f"an order open at the venue while the switch is tripped\n{g.log()}"
    figures["mmctl_kill_to_venue_clean_ms"] = round((clean_ns - trip_ns) / 1e6, 1)
    figures["mmctl_kill_late_landings"] = watch.reappeared(trip_ns)
    assert (clean_ns - trip_ns) / 1e9 <= bound_s
    seen_ns = trip_ns + 250_000_000  # execution sees the switch at its next heartbeat (12.5 ms here)
    placed = [e for e in tap.events() if isinstance(e, OrderEvent) and e.status == OrderStatus.PENDING_NEW
              and seen_ns <= e.ts_ns <= reset_ns]
    assert placed == [], f"orders placed while the kill switch was tripped: {placed}"
    if figures["mmctl_kill_cleaned_by"].startswith("execution"):
        assert any(is_kill_confirmation(e) and e.oid == ks["epoch"] for e in tap.events())
    figures["positions_after_mmctl_kill"] = venue.positions()
    # risk's own reading of the venue's positions, taken after the kill, agrees with its book
    rec = eventually(lambda: (r := _risk_reconcile(g))["last"] is not None and r["last"]["ts_ns"] > trip_ns and r,
                     15, "risk's reconciliation with the venue after the kill", g.log)
    assert rec["mismatch"] is False and rec["last"]["diffs"] == []
    figures["risk_reconcile_mismatches_before_kill9"] = rec["mismatches_total"]
    assert mmctl(g.run_dir, "reset-kill").returncode == 0

    # 3. kill -9 execution with open orders.
    eventually(lambda: len(venue.open_orders()) > 0, 60, "orders to rest again after reset-kill", g.log)
    exec_before = proc(status(g.run_dir), "execution")
    open_before = venue.open_orders()
    watch = OpenOrdersWatch(venue)
    log_mark = len(g.full_log())
    kill_ns = time.monotonic_ns()
    os.kill(exec_before["pid"], signal.SIGKILL)
    assert watch.wait_empty(kill_ns, bound_s + 5), f"open orders left {bound_s + 5} s after kill -9\n{g.log()}"
    figures["kill9_open_orders"] = len(open_before)
    st = eventually(lambda: (s := status(g.run_dir)) and proc(s, "execution")["restarts"] > exec_before["restarts"]
                    and s, 30, "execution restarted", g.log)
    assert st["killswitch"]["tripped"] and "execution" in st["killswitch"]["reason"]
    g.wait_healthy(60)
    eventually(lambda: _since(g, "reconciliation:", log_mark), 30, "the restarted execution's reconciliation", g.log)
    risk_line = _since(g, "kill path: the venue lists no open order", log_mark)
    recon = _since(g, "reconciliation:", log_mark)[-1]
    m = re.search(r"(\d+) open order\(s\) of a previous life found: (\d+) cancelled by us, (\d+) already gone", recon)
    assert m is not None, recon
    by_risk = int(re.search(r"(\d+) cancelled", risk_line[0]).group(1)) if risk_line else 0  # type: ignore[union-attr]
    # how the venue closed them: "canceled" (a cancel action: risk's or the new execution's),
    # "scheduledCancel" (the dead man's switch), "filled"
    final = Counter(venue.info({"type": "orderStatus", "user": venue.account, "oid": o["oid"]})["order"]["status"]
                    for o in open_before)
    figures["kill9_cleaned_by"] = {
        "venue_statuses": dict(final),
        "risk_kill_path_cancelled": by_risk,
        "restarted_execution_reconciliation": {"found": int(m.group(1)), "cancelled": int(m.group(2)),
                                               "already_gone": int(m.group(3))},
    }
    assert by_risk + int(m.group(2)) > 0, "someone cancelled the killed execution's orders"
    watch.stop()
    clean_ns = watch.settled_at(kill_ns)
    assert clean_ns is not None and venue.open_orders() == [], "an order at the venue while the switch is tripped"
    figures["kill9_to_venue_clean_ms"] = round((clean_ns - kill_ns) / 1e6, 1)
    figures["kill9_late_landings"] = watch.reappeared(kill_ns)
    assert (clean_ns - kill_ns) / 1e9 <= bound_s
    new_session = _sessions(g)[-1]
    assert new_session != session
    assert mmctl(g.run_dir, "reset-kill").returncode == 0
    eventually(lambda: len(venue.open_orders()) > 0, 60, "the restarted execution to quote", g.log)
    assert all(o["cloid"][2:18] == new_session for o in venue.open_orders()), "an orphan of the killed execution"
    rtt = _round_trips_ms(tap.events())  # before execution is frozen below
    assert rtt, "order round trips measured on the ex ring"
    figures["order_round_trip_ms"] = {"n": len(rtt), "median": round(rtt[len(rtt) // 2], 1),
                                      "p90": round(rtt[int(len(rtt) * 0.9)], 1), "max": round(rtt[-1], 1)}

    # 4. Risk's independent kill path: execution frozen (SIGSTOP) with open orders cannot
    # confirm; mmctl kill; risk cancels everything through its own connection. Then the
    # thawed execution finds nothing left; positions settled and compared.
    exec_pid = proc(status(g.run_dir), "execution")["pid"]
    watch = OpenOrdersWatch(venue)
    log_mark = len(g.full_log())
    os.kill(exec_pid, signal.SIGSTOP)
    try:
        frozen_open = len(venue.open_orders())
        assert mmctl(g.run_dir, "kill", "--reason", "test: execution frozen").returncode == 0
        trip_ns = status(g.run_dir)["killswitch"]["ts_ns"]
        assert watch.wait_empty(trip_ns, bound_s + 5), f"open orders left {bound_s + 5} s after the kill\n{g.log()}"
        risk_line = eventually(lambda: _since(g, "kill path: the venue lists no open order", log_mark), 10,
                               "risk's kill path report", g.log)[0]
    finally:
        os.kill(exec_pid, signal.SIGCONT)
    eventually(lambda: _since(g, "kill: cancel-all confirmed", log_mark), 10, "the thawed execution's sweep", g.log)
    watch.stop()
    clean_ns = watch.settled_at(trip_ns)
    assert clean_ns is not None and venue.open_orders() == [], "an order at the venue while the switch is tripped"
    figures["frozen_execution_open_orders"] = frozen_open
    figures["frozen_execution_late_landings"] = watch.reappeared(trip_ns)
    figures["frozen_execution_kill_to_venue_clean_ms"] = round((clean_ns - trip_ns) / 1e6, 1)
    figures["frozen_execution_risk_kill_path"] = risk_line.split("kill path: ", 1)[1]
    assert (clean_ns - trip_ns) / 1e9 <= bound_s
    assert not _since(g, "kill: execution confirmed", log_mark)
    eventually(lambda: position_diff(g.risk_positions(), venue.positions()) < 1e-9, 15,
               "risk's position to equal the venue's after kill -9, restart and kill", g.log)
    # A read can straddle the thawed execution's last fills (a transient difference, which
    # escalates to Yellow as designed); once they have settled, a reconciliation agrees.
    rec = eventually(lambda: (r := _risk_reconcile(g))["last"] is not None and r["last"]["ts_ns"] > trip_ns
                     and r["mismatch"] is False and r, 20, "risk's reconciliation with the venue to agree after the last kill", g.log)
    assert rec["mismatch"] is False
    figures["positions_final"] = venue.positions()
    figures["risk_reconcile"] = {k: v for k, v in _risk_reconcile(g).items() if k != "last"}
    figures["ex_ring"] = {"order_events": sum(isinstance(e, OrderEvent) for e in tap.events()),
                          "fills": sum(isinstance(e, Fill) for e in tap.events()), "lost": tap.lost}
    tap.close()
    figures["test_s"] = round(time.monotonic() - t_start, 1)
    print("\npaper trading figures:", json.dumps(figures, indent=1))
    assert g.stop() == 0, g.log()


@pytest.mark.parametrize("tif", ["Gtc", "Ioc"])
def test_sim_order_filled_on_arrival_is_terminal(tif: str) -> None:
    """The sim venue: an order filled in full on arrival is 'filled' in orderStatus (by cloid),
    absent from openOrders, and an orderUpdate says so (orderStatus lookups depend on it)."""
    from mm.venues.sim.config import CoinConfig, UserConfig
    from mm.venues.sim.matching import MatchingEngine, OrderRequest, OrderUpdateEvent

    user = "0x" + "11" * 20
    t0 = 1_700_000_000_000_000_000
    eng = MatchingEngine([CoinConfig(name="ETH", sz_decimals=4)], users=[UserConfig(address=user)])
    eng.apply_book_snapshot("ETH", [(3000.0, 5.0)], [(3000.5, 5.0)], t0)
    cloid = "0x" + "ab" * 16
    out = eng.place_order(user, OrderRequest(asset=0, is_buy=True, px="3001", sz="0.01", tif=tif, cloid=cloid), t0)
    assert out.kind == "filled"
    o = eng.find_order(user, cloid)
    assert o is not None and o.status == "filled"
    assert eng.open_orders(user) == []
    assert [e.status for e in eng.events if isinstance(e, OrderUpdateEvent) and e.cloid == cloid] == ["filled"]


# --------------------------------------------------------------------------- the group's keys (no group needed)


def _cfg(text: str) -> Config:
    return parse_config(text, "test.toml")


def test_paper_keys_are_generated_once_owner_only(tmp_path: Path) -> None:
    cfg = _cfg(f'[run]\nstate_dir = "{tmp_path}"\n[exchange]\nnetwork = "sim"\nhttp_url = "http://127.0.0.1:1"\n')
    first = provision(cfg)
    assert first is not None and len({first.account, first.execution, first.risk}) == 3
    keys = tmp_path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert sorted(p.name for p in keys.iterdir()) == ["account.key", "execution.key", "risk.key"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys.iterdir())
    assert provision(cfg) == first  # kept across runs
    venue = paper_users(cfg, VenueConfig())
    assert [(u.address, u.agents) for u in venue.users] == [(first.account, (first.execution, first.risk))]
    assert exchange_config(cfg).account_address == first.account
    for role in ("execution", "risk"):  # the key shows its address, never the secret
        secret = (keys / f"{role}.key").read_text().strip().removeprefix("0x")
        assert secret not in repr(load_key(cfg, role)) and getattr(first, role) in repr(load_key(cfg, role))


def test_live_needs_two_keys_and_never_generates_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (f'[run]\nmode = "live"\nstate_dir = "{tmp_path}"\n[venues]\nhl_http_url = "https://api.hyperliquid.xyz"\n'
            '[exchange]\nnetwork = "mainnet"\nkey_env = "MM_TEST_AGENT"\n')
    cfg = _cfg(text)
    monkeypatch.delenv("MM_TEST_AGENT", raising=False)
    monkeypatch.delenv("MM_TEST_AGENT_RISK", raising=False)
    with pytest.raises(KeySetupError, match="MM_TEST_AGENT_RISK"):
        provision(cfg)
    assert not (tmp_path / "keys").exists()
    a, b = "0x" + "1" * 64, "0x" + "2" * 64
    monkeypatch.setenv("MM_TEST_AGENT", a)
    with pytest.raises(KeySetupError) as exc:
        provision(cfg)
    assert a[2:] not in str(exc.value)
    monkeypatch.setenv("MM_TEST_AGENT_RISK", a)
    with pytest.raises(KeySetupError, match="different API wallets"):
        provision(cfg)
    monkeypatch.setenv("MM_TEST_AGENT_RISK", b)
    s = provision(cfg)
    assert s is not None and s.execution != s.risk and not (tmp_path / "keys").exists()
    assert paper_users(cfg, VenueConfig()).users == ()
