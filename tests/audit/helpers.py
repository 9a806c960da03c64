"""Builders for the audit tests: real execution cycles, messages, and a run's shared memory."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

from ipc.heartbeat import HeartbeatTable, ProcState
from ipc.killswitch import KillSwitch
from ipc.ring import Ring
from ipc.segments import shm_name, unlink_run
from ipc.wait import Waker
from mm.audit.record import CycleDecisionRecord, from_decision
from mm.execution.config import ExecutionConfig, HeuristicModelConfig, OmsConfig, SymbolLimits
from mm.execution.engine import ExecutionEngine
from mm.execution.mode_handlers import SymbolSpec
from mm.schema import SIDES_BOTH, AlphaSignal, ControlState, Fill, OrderEvent, OrderStatus, StateSnapshot

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["BTC", "ETH"]
PX = {0: 100_000.0, 1: 4_000.0}


def snapshot(symbol_id: int, ts_ns: int, mid: float | None = None, inventory: float = 0.0, seq: int = 1) -> StateSnapshot:
    m = PX[symbol_id] if mid is None else mid
    tick = m * 1e-3  # a 20 bps spread: wide enough for the maker to quote
    bid, ask = m - tick, m + tick
    return StateSnapshot(
        symbol_id=symbol_id, ts_ns=ts_ns, origin_ts_ns=ts_ns - 300_000, seq=seq, best_bid=bid, best_ask=ask,
        mid_px=m, microprice=m, spread_bps=(ask - bid) / m * 1e4, depth_bids=[5.0] * 10, depth_asks=[5.0] * 10,
        book_imbalance=0.0, ofi_500ms=0.0, ofi_2s=0.0, trade_sign_run_length=0, vwap_direction=0.0,
        sigma_ewma=0.5, sigma_realized_1m=5.0, regime=1, regime_probs=[0.0, 1.0, 0.0, 0.0], inventory=inventory,
        queue_rank_bid=-1.0, queue_rank_ask=-1.0, toxicity=1, toxic_prob=0.05,
    )


def signal(symbol_id: int, ts_ns: int, target: float = 0.0, seq: int = 1) -> AlphaSignal:
    return AlphaSignal(symbol_id=symbol_id, ts_ns=ts_ns, origin_ts_ns=ts_ns - 600_000, seq=seq,
                       target_inventory=target, lead_lag_skew_bps=0.4, divergence_bps=0.1, toxicity=1,
                       toxic_prob=0.05)


def control(safety: int = 0, exposure: int = 4, seq: int = 1, ts_ns: int = 0, reason: str = "") -> ControlState:
    return ControlState(ts_ns=ts_ns, seq=seq, safety_level=safety, exposure_level=exposure,
                        size_multiplier=1.0 if safety < 3 else 0.0, spread_multiplier=1.0 + 0.5 * safety,
                        reduce_only=safety >= 3, allowed_sides=SIDES_BOTH if safety < 3 else 0,
                        reason=reason or f"safety level {safety}")


def engine() -> ExecutionEngine:
    """A real execution engine quoting two coins (fee 0 and a generous fill model: Maker happens)."""
    cfg = ExecutionConfig(
        symbol_limits={"BTC": SymbolLimits(max_inventory_qty=0.05, quote_qty=0.001),
                       "ETH": SymbolLimits(max_inventory_qty=1.0, quote_qty=0.02)},
        models=HeuristicModelConfig(maker_fee_bps=0.0, kappa_per_s=2.0, delta_char_bps=10.0),
        oms=OmsConfig(min_aggressive_interval_ms=200, open_orders_interval_ms=0),
    )
    return ExecutionEngine(2, cfg, specs=[SymbolSpec("BTC", 0, 5), SymbolSpec("ETH", 1, 4)])


def cycles(eng: ExecutionEngine, symbol_id: int, ts_ns: int, n: int = 1, target: float = 0.0,
           step_ns: int = 50_000_000, killed: bool = False) -> list[CycleDecisionRecord]:
    """Run ``n`` real decision cycles of one symbol; their audit records."""
    out = []
    for i in range(n):
        t = ts_ns + i * step_ns
        snap = snapshot(symbol_id, t - 1_000_000, seq=i + 1)
        sig = signal(symbol_id, t - 500_000, target, seq=i + 1)
        eng.on_snapshot(snap)
        eng.on_signal(sig, t, killed=killed)
        for d in eng.drain_records():
            out.append(from_decision(d, symbol=SYMBOLS[d.symbol_id], signal=sig, snapshot_ts_ns=snap.ts_ns))
        eng.drain_requests()
        eng.drain_events()
    return out


def fill_for(rec: CycleDecisionRecord, ts_ns: int, trade_id: int, fee: float = 0.01) -> Fill:
    """A venue fill of the first order the record placed."""
    o = rec.orders_placed[0]
    return Fill(symbol_id=rec.symbol_id, ts_ns=ts_ns, origin_ts_ns=rec.origin_ts_ns, remote_ts_ms=ts_ns // 10**6,
                cloid=o.cloid, oid=1000 + trade_id, trade_id=trade_id, side=o.side, px=o.px, qty=o.qty, fee=fee,
                is_maker=True, mid_px=rec.market.mid_px)


def order_event(rec: CycleDecisionRecord, ts_ns: int, status: OrderStatus = OrderStatus.OPEN) -> OrderEvent:
    o = rec.orders_placed[0]
    return OrderEvent(symbol_id=rec.symbol_id, ts_ns=ts_ns, origin_ts_ns=rec.origin_ts_ns, cloid=o.cloid, oid=77,
                      side=o.side, px=o.px, qty=o.qty, filled_qty=0.0, status=int(status))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ShmRun:
    """A run's shared memory made by the test as the supervisor would: heartbeat table, kill
    switch, rings, the monitor's wake-up semaphore."""

    PROCS = ("feed", "feature", "alpha", "execution", "risk", "monitor", "supervisor")
    RINGS = ("md", "snap", "sig", "ex", "ctl", "cmd", "audit")

    def __init__(self, slot_count: int = 1024, slot_size: int = 1024, audit_slot_size: int = 4096) -> None:
        # a run id whose "supervisor pid" is certainly not alive (pid_max is below 2**22)
        self.run_id = f"{4_100_000 + secrets.randbelow(100_000)}-{secrets.token_hex(4)}"
        self.hb = HeartbeatTable.create(shm_name(self.run_id, "hb"), list(self.PROCS))
        self.ks = KillSwitch.create(shm_name(self.run_id, "ks"))
        self.rings = {
            r: Ring.create(shm_name(self.run_id, r), slot_count, audit_slot_size if r == "audit" else slot_size)
            for r in self.RINGS
        }
        self.writers = {r: ring.writer() for r, ring in self.rings.items()}
        self.waker = Waker.create(shm_name(self.run_id, "wake.monitor"))

    def beat(self, name: str, now_ns: int, pid: int, **fields: int) -> None:
        row = self.hb.row(name)
        row.set(pid=pid, state=int(ProcState.RUNNING), **fields)
        row.beat(now_ns)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        for ring in self.rings.values():
            ring.close()
        self.waker.close()
        self.ks.close()
        self.hb.close()
        unlink_run(self.run_id)


def write_config(tmp: Path, state_dir: Path, run_dir: Path) -> Path:
    base = (REPO / "configs" / "paper.toml").read_text()
    base = base.replace('state_dir = "var/paper"', f'state_dir = "{state_dir}"\nrun_dir = "{run_dir}"')
    base = base.replace('log_level = "INFO"', 'log_level = "INFO"')
    path = tmp / "monitor-test.toml"
    path.write_text(base)
    return path


def find(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        d = d[p]
    return d


def run_chromium(chromium: str, profile_dir: Path, url: str, *action: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``url`` with ``action`` (``--dump-dom`` or ``--screenshot=PNG``),
    after 5 s of virtual time (the page's polling has run and drawn)."""
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile_dir}", "--window-size=1280,900", "--virtual-time-budget=5000", *action, url],
        capture_output=True, text=True, timeout=120,
    )


def dom_text(dom: str, elem_id: str) -> str:
    """The text of the element with ``id`` in a dumped DOM (up to its first closing tag)."""
    m = re.search(rf'id="{re.escape(elem_id)}"[^>]*>(.*?)</', dom, re.S)
    assert m is not None, f"#{elem_id} not in the DOM"
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()
