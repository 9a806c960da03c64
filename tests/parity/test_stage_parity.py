"""Upstream parity without a process group: the feature and alpha stages' input journals
through a run recording and back, replayed into fresh stages, compared message by message."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from mm.alpha.engine import AlphaEngine
from mm.recording.run import RunRecorder
from mm.replay.parity import compare_stream, load_stage, replay_alpha, replay_feature
from mm.schema import (
    AlphaSignal,
    Bbo,
    BookSnapshot,
    ControlState,
    Fill,
    OrderEvent,
    RefPrice,
    Side,
    StateSnapshot,
    Trade,
    Venue,
)
from mm.stages import AlphaStage, FeatureStage

SYMBOLS = ["BTC", "ETH"]


def _md_session(stage: FeatureStage, n: int = 400) -> list[StateSnapshot]:
    """A deterministic market on two symbols (book, BBO, trades, reference mids, our order
    events and fills, a bad symbol id), with timers between; every snapshot published."""
    out: list[StateSnapshot] = []
    t = 5_000_000_000
    for i in range(n):
        for sid, base in ((0, 100_000.0), (1, 4_000.0)):
            t += 7_000_000
            mid = round(base * (1.0 + 0.001 * math.sin(i / 11.0 + sid)), 1)
            tick = base * 1e-4
            msgs: list[tuple[str, object]] = []
            if i % 20 == 0:
                msgs.append(("md", BookSnapshot(venue=Venue.HYPERLIQUID, symbol_id=sid, ts_ns=t, remote_ts_ms=0, seq=i,
                                                bid_px=[mid - tick, mid - 2 * tick], bid_qty=[1.0, 2.0],
                                                ask_px=[mid + tick, mid + 2 * tick], ask_qty=[1.5, 2.5])))
            msgs.append(("md", Bbo(venue=Venue.HYPERLIQUID, symbol_id=sid, ts_ns=t + 1, remote_ts_ms=0, seq=i,
                                   bid_px=mid - tick, bid_qty=1.0 + (i % 3), ask_px=mid + tick, ask_qty=0.5)))
            if i % 3 == 0:
                msgs.append(("md", Trade(venue=Venue.HYPERLIQUID, symbol_id=sid, ts_ns=t + 2, remote_ts_ms=0, seq=i,
                                         px=mid + tick, qty=0.01 * (1 + i % 5), side=Side.BUY if i % 2 else Side.SELL,
                                         trade_id=i)))
            msgs.append(("md", RefPrice(venue=Venue.BINANCE, symbol_id=sid, ts_ns=t + 3, remote_ts_ms=0, seq=i,
                                        bid_px=mid * 1.0001 - tick, ask_px=mid * 1.0001 + tick, mid_px=mid * 1.0001)))
            if i % 50 == 10:
                cloid = f"0x{i:032x}"
                msgs.append(("ex", OrderEvent(symbol_id=sid, ts_ns=t + 4, origin_ts_ns=t, cloid=cloid, oid=i,
                                              side=Side.BUY, px=mid - tick, qty=0.01, filled_qty=0.0, status=1)))
                msgs.append(("ex", Fill(symbol_id=sid, ts_ns=t + 5, origin_ts_ns=t, remote_ts_ms=0, cloid=cloid,
                                        oid=i, trade_id=10_000 + i, side=Side.BUY, px=mid - tick, qty=0.01,
                                        fee=0.01, is_maker=True)))
            if i == 77:
                msgs.append(("md", Bbo(venue=Venue.HYPERLIQUID, symbol_id=9, ts_ns=t, remote_ts_ms=0, seq=i,
                                       bid_px=1.0, bid_qty=1.0, ask_px=2.0, ask_qty=1.0)))
            for ring, m in msgs:
                snap = stage.on_message(ring, m, t + 10)  # type: ignore[arg-type]
                if snap is not None:
                    out.append(snap)
        out.extend(stage.on_timer(t + 20))
    return out


def _record(tmp: Path, proc: str, stage: FeatureStage | AlphaStage) -> None:
    rec = RunRecorder(tmp, "r1", proc, {"symbols": SYMBOLS, "models": {}})
    for k, (op, args) in enumerate(stage.drain_inputs()):
        rec.input(op, args, k)
    rec.close()


def _live(tmp: Path) -> tuple[list[StateSnapshot], list[AlphaSignal]]:
    feat = FeatureStage([None, None], journal=True)
    snaps = _md_session(feat)
    alpha = AlphaStage(AlphaEngine(symbols=SYMBOLS), journal=True)
    sigs: list[AlphaSignal] = []
    for k, s in enumerate(snaps):
        if k == len(snaps) // 2:  # the validator halves BTC's lead-lag weight mid-run
            assert alpha.on_control(ControlState(ts_ns=s.ts_ns, seq=1, safety_level=0, exposure_level=0, size_multiplier=1.0,
                                                  spread_multiplier=1.0, reduce_only=False, allowed_sides=3,
                                                  model_weights={"leadlag.BTC": 0.5}))
        sigs.append(alpha.on_snapshot(s, s.ts_ns + 1_000))
    _record(tmp, "feature", feat)
    _record(tmp, "alpha", alpha)
    return snaps, sigs


def test_feature_and_alpha_journals_replay_identically(tmp_path: Path) -> None:
    snaps, sigs = _live(tmp_path)
    assert len(snaps) > 200 and any(s.inventory != 0.0 for s in snaps)
    assert any(s.model_weight == 0.5 for s in sigs)
    run_dir = tmp_path / "runs" / "r1"
    fj, aj = load_stage(run_dir, "feature"), load_stage(run_dir, "alpha")
    assert fj is not None and aj is not None and fj.lost_inputs == 0 and aj.lost_inputs == 0
    assert {op for op, _ in fj.inputs} == {"md", "ex", "timer"}
    re_snaps = replay_feature(fj)
    re_sigs = replay_alpha(aj)
    enc = msgspec.msgpack.Encoder()
    assert [enc.encode(s) for s in re_snaps] == [enc.encode(s) for s in snaps]
    assert [enc.encode(s) for s in re_sigs] == [enc.encode(s) for s in sigs]
    c = compare_stream("feature", "execution", re_snaps, snaps[5:-3])  # attached late, stopped early
    assert (c.divergent, c.skipped_head, c.unconsumed_tail, c.first) == (0, 5, 3, None)
    assert load_stage(tmp_path / "runs" / "none", "feature") is None


def test_a_changed_message_is_a_divergence_with_its_fields(tmp_path: Path) -> None:
    snaps, _ = _live(tmp_path)
    got = list(snaps)
    got[40] = msgspec.structs.replace(got[40], spread_bps=got[40].spread_bps + 1.0)
    c = compare_stream("feature", "execution", snaps, got)
    assert c.divergent == 1 and c.first is not None and c.first.index == 40
    assert [f[0] for f in c.first.fields] == ["spread_bps"]
    missing = compare_stream("feature", "execution", snaps, got[:10] + got[11:])
    assert missing.divergent > 0 and missing.first is not None and missing.first.index == 10
    extra = compare_stream("feature", "execution", snaps[:10], snaps[:12])
    assert extra.divergent == 2 and extra.first is not None and extra.first.produced is None


def test_unknown_journal_op_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown FeatureStage input"):
        FeatureStage([None]).apply_input("bogus", ())


def test_a_restarted_process_is_replayed_as_two_lives(tmp_path: Path) -> None:
    lives: list[StateSnapshot] = []
    for _ in range(2):  # the supervisor restarted the feature process: a fresh stage, seq from 0
        feat = FeatureStage([None, None], journal=True)
        lives.extend(_md_session(feat, n=60))
        _record(tmp_path, "feature", feat)
    fj = load_stage(tmp_path / "runs" / "r1", "feature")
    assert fj is not None and len(fj.restarts) == 1 and fj.lost_inputs == 0
    c = compare_stream("feature", "execution", replay_feature(fj), lives)
    assert c.divergent == 0 and c.consumed == len(lives) > 0


def _execution_journal(tmp: Path, snaps: list[StateSnapshot], sigs: list[AlphaSignal]) -> Path:
    """Execution's journal consuming ``snaps`` and ``sigs`` (as the live process would), with
    the run's manifest; the run directory."""
    from mm.audit.record import shrink_to_fit
    from mm.config import parse_config
    from mm.execution.engine import ExecutionEngine
    from mm.execution.mode_handlers import SymbolSpec
    from mm.schema import Codec
    from tests.audit.helpers import control

    text = (Path(__file__).resolve().parents[2] / "configs" / "paper.toml").read_text()
    text += f'\n[models]\ndir = "{tmp / "models"}"\n'
    specs = [SymbolSpec("BTC", 0, 5), SymbolSpec("ETH", 1, 4)]
    eng = ExecutionEngine(2, parse_config(text).execution, specs, session_id=7, journal=True)
    eng.on_control(control(ts_ns=1))
    for snap, sig in zip(snaps, sigs, strict=True):
        eng.on_snapshot(snap)
        eng.on_signal(sig, sig.ts_ns, False)
    rec = RunRecorder(tmp, "r1", "execution", {
        "config_text": text, "models": {}, "seeds": {"session_id": 7, "variant_seed": 0}, "symbols": SYMBOLS,
        "specs": [[s.name, s.asset, s.sz_decimals] for s in specs], "audit_payload_capacity": 4000})
    for op, args in eng.drain_inputs():
        rec.input(op, args, 0)
    codec = Codec()
    for r in eng.drain_audit(SYMBOLS):
        rec.output(shrink_to_fit(r, 4000, codec.encode)[0], 0)
    rec.close()
    return tmp / "runs" / "r1"


def test_mmctl_replay_run_reports_each_stage_and_the_first_divergent_snapshot(tmp_path: Path, capsys) -> None:
    from mm.cli.replay_run import main

    snaps, sigs = _live(tmp_path)
    run_dir = _execution_journal(tmp_path, snaps, sigs)
    assert main(["--run", str(run_dir), "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(snaps)} outputs replayed\n  vs execution's: {len(snaps)} consumed, 0 divergent" in out, out
    assert f"stage alpha: {len(snaps) + 1} inputs (0 lost), {len(sigs)} outputs replayed" in out, out
    assert "divergent snapshots: 0; divergent signals: 0" in out and "divergent decisions: 0" in out, out

    # execution consumed a snapshot the feature replay does not publish: reported, both sides
    bad = list(snaps)
    bad[30] = msgspec.structs.replace(bad[30], mid_px=bad[30].mid_px + 0.5)
    other = tmp_path / "other"
    _live(other)
    run_dir = _execution_journal(other, bad, sigs)
    assert main(["--run", str(run_dir), "--state-dir", str(other), "--diff"]) == 1
    out = capsys.readouterr().out
    assert "divergent snapshots: 1; divergent signals: 0" in out, out
    assert "first divergent feature output consumed by execution: message #30" in out, out
    assert "mid_px" in out.split("first divergent feature output")[1].split("stage alpha")[0]
