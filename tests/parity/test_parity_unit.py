"""Parity pieces without a process group: the engine's input journal through a run
recording and back, divergence reporting, variants (config validation, seeded simulation)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mm.audit.record import shrink_to_fit
from mm.config import ConfigError, parse_config
from mm.execution.config import ExecutionConfig
from mm.execution.engine import INPUT_ARGS, ExecutionEngine
from mm.execution.lifecycle import VenueOrder
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.variants import VariantSpec, apply_overrides, mean_ci
from mm.recording.run import RunRecorder, list_runs, resolve_run
from mm.replay.parity import count_divergent, first_divergence, load_run, replay_run
from mm.schema import Codec
from tests.audit.helpers import control, signal, snapshot

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper.toml"
SYMBOLS = ["BTC", "ETH"]
SPECS = [SymbolSpec("BTC", 0, 5), SymbolSpec("ETH", 1, 4)]
VARIANTS = [VariantSpec(name="wide", set={"policy": "glft", "glft.gamma_per_bps": 0.3})]


def _drive(eng: ExecutionEngine, n: int = 300) -> None:
    """A deterministic session: control, snapshots, signals, venue answers, fills, timers."""
    eng.set_position(0, 0.0)
    eng.on_control(control(ts_ns=1))
    t = 1_000_000_000
    for i in range(n):
        t += 50_000_000
        for sid, base in ((0, 100_000.0), (1, 4_000.0)):
            mid = base * (1.0 + 0.0004 * math.sin(i / 7.0 + sid))
            eng.on_snapshot(snapshot(sid, t, round(mid, 1), seq=i))
            eng.on_signal(signal(sid, t, seq=i), t + 1_000)
        for r in eng.drain_requests():
            kind = getattr(r, "kind", "")
            if kind == "order":
                for k, o in enumerate(r.places):
                    eng.on_order_result(o.cloid, t + 2_000, "resting", oid=i * 10 + k, total_sz=0.0)
        if i % 25 == 24:
            eng.on_fill(t + 3_000, 0, None, 0, 10_000 + i, True, 99_990.0, 0.001, 0.015, True, 0)
            eng.on_order_update(t + 3_000, VenueOrder(symbol_id=1, oid=123, cloid=None, status="canceled"))
        eng.tick(t + 4_000)


def _record_run(tmp: Path, run_id: str = "r1") -> Path:
    cfg = parse_config(CONFIG.read_text())
    eng = ExecutionEngine(2, cfg.execution, SPECS, session_id=7, variants=VARIANTS, variant_seed=11, journal=True)
    rec = RunRecorder(tmp, run_id, "execution", {
        "config_text": CONFIG.read_text() + '\n[[variants]]\nname = "wide"\nset = { policy = "glft", '
                       '"glft.gamma_per_bps" = 0.3 }\n',
        "models": {}, "seeds": {"session_id": 7, "variant_seed": 11}, "symbols": SYMBOLS,
        "specs": [[s.name, s.asset, s.sz_decimals] for s in SPECS], "audit_payload_capacity": 4000})
    _drive(eng)
    codec = Codec()
    for op, args in eng.drain_inputs():
        assert op in INPUT_ARGS
        rec.input(op, args, 0)
    for ev in eng.drain_events():
        rec.output(ev, 0)
    for r in eng.drain_audit(SYMBOLS):
        rec.output(shrink_to_fit(r, 4000, codec.encode)[0], 0)
    rec.close()
    return resolve_run(tmp, run_id)


def test_journal_replays_every_record_and_a_change_diverges(tmp_path: Path) -> None:
    run_dir = _record_run(tmp_path)
    assert [r.run_id for r in list_runs(tmp_path)] == ["r1"]
    run = load_run(run_dir)
    assert run.lost_inputs == 0 and len(run.records) > 100
    res = replay_run(run)
    assert count_divergent(run.records, res.records) == 0 and first_divergence(run.records, res.records) is None
    assert [v.name for v in res.variants] == ["active", "wide"]
    changed = replay_run(run, {"quote_notional_usd": 300.0})
    d = first_divergence(run.records, changed.records)
    assert d is not None and count_divergent(run.records, changed.records) > 0
    assert any(k.startswith(("quote_qty", "final_quotes", "orders_", "candidates")) for k, _, _ in d.fields), d.fields


def test_variant_simulation_is_seeded() -> None:
    cfg = parse_config(CONFIG.read_text())
    stats = []
    for _ in range(2):
        eng = ExecutionEngine(2, cfg.execution, SPECS, variants=VARIANTS, variant_seed=3)
        _drive(eng, 200)
        stats.append(eng.variants.stats())
    assert stats[0] == stats[1]
    assert sum(s.cycles for s in stats[0]) > 0


def test_variant_overrides_are_validated() -> None:
    assert apply_overrides(ExecutionConfig(), {"glft.gamma_per_bps": 0.2}).glft.gamma_per_bps == 0.2
    for bad, msg in (({"oms.ack_timeout_ms": 5}, "cannot be varied"), ({"glft.nope": 1}, "not an execution"),
                     ({"glft": 1}, "not an execution")):
        with pytest.raises(ValueError, match=msg):
            apply_overrides(ExecutionConfig(), bad)
    text = CONFIG.read_text()
    with pytest.raises(ConfigError, match="variants"):
        parse_config(text + '[[variants]]\nname = "a"\nset = { "glft.gamma_per_bps" = "x" }\n')
    with pytest.raises(ConfigError, match="duplicate"):
        parse_config(text + '[[variants]]\nname = "a"\nset = { quote_notional_usd = 1.0 }\n'
                     '[[variants]]\nname = "a"\nset = { quote_notional_usd = 2.0 }\n')


def test_mean_ci() -> None:
    m, h = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and h == pytest.approx(1.96 * 1.0 / math.sqrt(3))
    assert all(math.isnan(x) for x in mean_ci([]))
