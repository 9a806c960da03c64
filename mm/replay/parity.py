"""Live/replay parity: a recorded run's execution inputs fed again to the same objects.

A run recording (:mod:`mm.recording.run`) holds, in order, every state-changing call the
live execution engine received (snapshots, signals and risk's ControlState as they arrived,
the venue's answers, order updates and fills, timers and the kill switch as each call saw
it, variant activations) and what it published (the OMS's OrderEvents and Fills, one
``CycleDecisionRecord`` per cycle). :func:`replay_run` builds an
:class:`~mm.execution.engine.ExecutionEngine` exactly as the live process did (the run's own
config text, the venue's symbol specs, the same model files, the recorded session id and
variant seed), applies every journaled call in order and collects what it publishes, shrunk
to the same ring slot. With nothing changed every record must come out identical, byte for
byte; ``overrides`` (dotted ExecutionConfig keys) change a parameter, and
:func:`first_divergence` finds the first record that differs.

Up the chain (:func:`replay_stages`): the feature process's journal (market events from the
md ring with their local ``ts_ns`` and our order events from the ex ring, each with the
``now_ns`` its step used, and its timer calls) is fed to a fresh
:class:`~mm.stages.FeatureStage`, and every snapshot it publishes must equal, field for
field and in order, those execution (and alpha) recorded consuming; the alpha process's
journal (snapshots as received, risk's model weights) is fed to a fresh
:class:`~mm.stages.AlphaStage`, whose signals must equal those execution consumed
(:func:`compare_stream`). Risk's journal (every call its process made into the
:class:`~mm.risk.authority.RiskAuthority`: snapshots, signals, our order events, fills and
ShadowFills, FeedStale, each with its step's ``now_ns``; the kill switch as read; operator
commands; the venue's positions and open orders; the wall clock as read; timers) is fed to
fresh authorities built from the run's config (:func:`replay_risk`), whose ControlStates
must equal those execution consumed, and whose model weights those alpha applied.

PnL attribution of the run and of its replay is :mod:`mm.replay.pnl`'s, for both, from the
Fill messages each published and the mid tape of the snapshots execution consumed
(:func:`attribution`).

Pure: the caller reads the files (:func:`load_run` is the one edge helper here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from mm.alpha.engine import AlphaEngine
from mm.audit.record import CycleDecisionRecord, shrink_to_fit
from mm.config import Config, parse_config
from mm.execution.engine import INPUT_ARGS, ExecutionEngine, direction_models, engine_models
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.variants import VariantStats, apply_overrides
from mm.recording.format import JournalEntry
from mm.recording.journal import decoders
from mm.recording.run import read_journal, read_manifest
from mm.replay.pnl import FillRow, PnlSplit, attribute
from mm.risk.authority import RISK_INPUTS, RiskAuthority, build_authority
from mm.schema import AlphaSignal, Codec, ControlState, Fill, OrderEvent, StateSnapshot
from mm.stages import ALPHA_INPUTS, FEATURE_INPUTS, AlphaStage, FeatureStage, leadlag_models, toxicity_models

_DECODER_TABLES: dict[str, dict[str, msgspec.msgpack.Decoder[Any]]] = {
    proc: decoders(table)
    for proc, table in (("execution", INPUT_ARGS), ("feature", FEATURE_INPUTS), ("alpha", ALPHA_INPUTS),
                        ("risk", RISK_INPUTS))
}
_DECODERS = _DECODER_TABLES["execution"]

# Fields of a CycleDecisionRecord that the monitor fills in later (not execution's decision).
MONITOR_FIELDS = ("wall_ns", "confidence", "model_scores", "fills", "pnl_delta_usd", "pnl_delta_bps",
                  "position_after_qty")


class RecordedRun(msgspec.Struct, kw_only=True):
    """What execution consumed and published in one run, decoded."""

    run_dir: str
    manifest: dict[str, Any]
    inputs: list[tuple[str, tuple[Any, ...]]]
    records: list[CycleDecisionRecord]
    events: list[OrderEvent | Fill]
    lost_inputs: int = 0
    feature: StageJournal | None = None
    alpha: StageJournal | None = None
    risk: StageJournal | None = None


def decode_input(e: JournalEntry, proc: str = "execution") -> tuple[str, tuple[Any, ...]]:
    """One journal entry's call, decoded with ``proc``'s table (execution: the engine's
    :data:`~mm.execution.engine.INPUT_ARGS`; feature, alpha: :mod:`mm.stages`; risk:
    :data:`~mm.risk.authority.RISK_INPUTS`)."""
    dec = _DECODER_TABLES[proc].get(e.op)
    if dec is None:
        raise ValueError(f"{proc} journal entry {e.seq}: unknown input {e.op!r}")
    return e.op, tuple(dec.decode(e.args))


class StageJournal(msgspec.Struct, kw_only=True):
    """A pipeline process's manifest and consumed inputs (feature, alpha, risk), decoded."""

    proc: str
    manifest: dict[str, Any]
    inputs: list[tuple[str, tuple[Any, ...]]]
    lost_inputs: int = 0
    restarts: list[int] = msgspec.field(default_factory=list)
    """Indexes into ``inputs`` where a restarted process's new life began (its journal's
    ``seq`` starts again at 0): the replay starts a fresh stage there, as the process did."""


def load_stage(run_dir: str | Path, proc: str) -> StageJournal | None:
    """``proc``'s journal of a run directory; None when the run has none (an older run)."""
    if not (Path(run_dir) / f"{proc}.json").exists():
        return None
    manifest = read_manifest(run_dir, proc)
    inputs: list[tuple[str, tuple[Any, ...]]] = []
    restarts: list[int] = []
    expect = 0
    lost = 0
    for rec in read_journal(run_dir, proc):
        if isinstance(rec, JournalEntry):
            if rec.seq == 0 and expect > 0:
                restarts.append(len(inputs))
                expect = 0
            lost += max(rec.seq - expect, 0)
            expect = rec.seq + 1
            inputs.append(decode_input(rec, proc))
    return StageJournal(proc=proc, manifest=manifest, inputs=inputs, lost_inputs=lost, restarts=restarts)


def load_run(run_dir: str | Path) -> RecordedRun:
    """Read execution's manifest and journal of a run directory, and the feature, alpha and
    risk processes' journals where the run has them."""
    manifest = read_manifest(run_dir, "execution")
    inputs: list[tuple[str, tuple[Any, ...]]] = []
    records: list[CycleDecisionRecord] = []
    events: list[OrderEvent | Fill] = []
    expect = 0
    lost = 0
    for rec in read_journal(run_dir, "execution"):
        if isinstance(rec, JournalEntry):
            lost += max(rec.seq - expect, 0)
            expect = rec.seq + 1
            inputs.append(decode_input(rec))
        elif isinstance(rec, CycleDecisionRecord):
            records.append(rec)
        elif isinstance(rec, OrderEvent | Fill):
            events.append(rec)
    return RecordedRun(run_dir=str(run_dir), manifest=manifest, inputs=inputs, records=records, events=events,
                       lost_inputs=lost, feature=load_stage(run_dir, "feature"), alpha=load_stage(run_dir, "alpha"),
                       risk=load_stage(run_dir, "risk"))


def run_config(run: RecordedRun) -> Config:
    """The config the run was started with (its text is in the manifest)."""
    return parse_config(str(run.manifest["config_text"]), f"{run.run_dir}/execution.json:config_text")


class ReplayResult(msgspec.Struct, kw_only=True):
    records: list[CycleDecisionRecord]
    events: list[OrderEvent | Fill]
    variants: list[VariantStats]
    activations: list[tuple[int, str, str]]


def replay_run(run: RecordedRun, overrides: dict[str, Any] | None = None,
               read_model: Callable[[str, str], bytes | None] | None = None) -> ReplayResult:
    """Feed the run's journal to a fresh engine built like the live one (module docstring).

    ``read_model(coin, name)``: the model file bytes the run used (None: the baseline); the
    caller checks them against the manifest's hashes. ``overrides``: ExecutionConfig keys by
    dotted path to change (a what-if replay)."""
    cfg = run_config(run)
    ecfg = apply_overrides(cfg.execution, overrides, "--set") if overrides else cfg.execution
    man = run.manifest
    symbols = [str(s) for s in man["symbols"]]
    specs = [SymbolSpec(str(n), int(a), int(d)) for n, a, d in man["specs"]]
    read = read_model or (lambda coin, name: None)
    qv, fill, _ = engine_models(symbols, ecfg.models, read)
    direction, _ = direction_models(symbols, read)
    seeds = man["seeds"]
    eng = ExecutionEngine(len(symbols), ecfg, specs, queue_model=qv, fill_model=fill,
                          session_id=int(seeds["session_id"]), variants=cfg.variants,
                          variant_seed=int(seeds["variant_seed"]), direction=direction)
    capacity = int(man["audit_payload_capacity"])
    codec = Codec()
    records: list[CycleDecisionRecord] = []
    events: list[OrderEvent | Fill] = []
    for op, args in run.inputs:
        eng.apply_input(op, args)
        events.extend(eng.drain_events())
        eng.drain_requests()
        for rec in eng.drain_audit(symbols):
            shrunk, _ = shrink_to_fit(rec, capacity, codec.encode)
            records.append(shrunk)
    return ReplayResult(records=records, events=events, variants=eng.variants.stats(), activations=eng.activations)


# --------------------------------------------------------------------------- upstream stages

ModelRead = Callable[[str, str], bytes | None]


def _no_model(coin: str, name: str) -> bytes | None:
    return None


def replay_feature(j: StageJournal, read_model: ModelRead | None = None) -> list[StateSnapshot]:
    """The feature journal fed to a fresh :class:`~mm.stages.FeatureStage` (the toxicity
    models the run loaded); every snapshot it publishes, in order."""
    models, errors = toxicity_models([str(s) for s in j.manifest["symbols"]], read_model or _no_model)
    if errors:
        raise ValueError("; ".join(errors))
    stage = FeatureStage(models)
    out: list[StateSnapshot] = []
    restarts = set(j.restarts)
    for i, (op, args) in enumerate(j.inputs):
        if i in restarts:
            stage = FeatureStage(models)
        out.extend(stage.apply_input(op, args))
    return out


def replay_alpha(j: StageJournal, read_model: ModelRead | None = None) -> list[AlphaSignal]:
    """The alpha journal fed to a fresh :class:`~mm.stages.AlphaStage` (the lead-lag models
    the run loaded); every signal it publishes, in order."""
    symbols = [str(s) for s in j.manifest["symbols"]]
    models, errors = leadlag_models(symbols, read_model or _no_model)
    if errors:
        raise ValueError("; ".join(errors))
    stage = AlphaStage(AlphaEngine(models=models, symbols=symbols))
    out: list[AlphaSignal] = []
    restarts = set(j.restarts)
    for i, (op, args) in enumerate(j.inputs):
        if i in restarts:
            stage = AlphaStage(AlphaEngine(models=models, symbols=symbols))
        out.extend(stage.apply_input(op, args))
    return out


def replay_risk(j: StageJournal) -> list[ControlState]:
    """The risk journal fed to fresh authorities built from the config text risk recorded
    (:func:`~mm.risk.authority.build_authority`; a new one at each ``start`` entry, i.e.
    each process life); every ControlState they made, in order."""
    cfg = parse_config(str(j.manifest["config_text"]), f"{j.proc}.json:config_text")
    authority: RiskAuthority | None = None
    out: list[ControlState] = []
    for i, (op, args) in enumerate(j.inputs):
        if op == "start":
            authority = build_authority(cfg, args[0])
            continue
        if authority is None:
            raise ValueError(f"risk journal: input #{i} ({op}) comes before any start entry")
        result = authority.apply_input(op, args)
        if op == "control_state":
            out.append(result)
    return out


def consumed(inputs: Iterable[tuple[str, tuple[Any, ...]]], op: str) -> list[Any]:
    """The first argument of every journaled ``op`` call (what a process consumed from a ring)."""
    return [args[0] for o, args in inputs if o == op]


class StreamDivergence(msgspec.Struct, kw_only=True):
    """The first message a consumer recorded that differs from the replayed producer's."""

    index: int  # in the consumer's list
    produced: Any
    consumed: Any
    fields: list[tuple[str, Any, Any]]


class StreamCheck(msgspec.Struct, kw_only=True):
    """A replayed producer's messages against what one consumer recorded having received.

    The consumer's list must be a contiguous run of the producer's: ``skipped_head``
    messages published before the consumer attached to the ring (its reader starts at the
    latest message) and ``unconsumed_tail`` ones published after it stopped are not
    divergences; every other difference is (a changed field, a missing or an extra message)."""

    producer: str
    consumer: str
    produced: int
    consumed: int
    skipped_head: int
    unconsumed_tail: int
    divergent: int
    first: StreamDivergence | None


def _field_diff(a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    fa = _flat(a) if a is not None else {}
    fb = _flat(b) if b is not None else {}
    keys = list(dict.fromkeys([*fa, *fb]))
    return [(k, fa.get(k, "<absent>"), fb.get(k, "<absent>")) for k in keys
            if not _eq(fa.get(k, "<absent>"), fb.get(k, "<absent>"))]


def _align(pb: Sequence[bytes], gb: Sequence[bytes]) -> int:
    """Where the consumer's list starts in the producer's: the first offset holding its first
    message from which the whole list matches; else the first offset holding its first
    message (0 if none). Messages may repeat (model weights): the first match is not enough."""
    if not gb:
        return 0
    first = -1
    k = -1
    while True:
        try:
            k = pb.index(gb[0], k + 1)
        except ValueError:
            return max(first, 0)
        if first < 0:
            first = k
        if k + len(gb) <= len(pb) and all(pb[k + i] == g for i, g in enumerate(gb)):
            return k


def compare_stream(producer: str, consumer: str, produced: Sequence[Any], got: Sequence[Any]) -> StreamCheck:
    """Byte-identical messages (msgpack; NaN equals NaN of the same bits), same order."""
    pb = [_enc.encode(m) for m in produced]
    gb = [_enc.encode(m) for m in got]
    off = _align(pb, gb)
    divergent = 0
    first: StreamDivergence | None = None
    for i, g in enumerate(gb):
        k = off + i
        if k < len(pb) and pb[k] == g:
            continue
        divergent += 1
        if first is None:
            p = produced[k] if k < len(produced) else None
            first = StreamDivergence(index=i, produced=p, consumed=got[i], fields=_field_diff(got[i], p))
    return StreamCheck(producer=producer, consumer=consumer, produced=len(pb), consumed=len(gb), skipped_head=off,
                       unconsumed_tail=max(len(pb) - off - len(gb), 0), divergent=divergent, first=first)


class StageResult(msgspec.Struct, kw_only=True):
    """One upstream stage replayed: its inputs, outputs and the checks of its outputs."""

    stage: str
    inputs: int
    lost_inputs: int
    outputs: int
    checks: list[StreamCheck]

    @property
    def divergent(self) -> int:
        return sum(c.divergent for c in self.checks)


def replay_stages(run: RecordedRun, read_model: ModelRead | None = None) -> list[StageResult]:
    """Feature, alpha and risk replayed from their journals; the feature's snapshots checked
    against those execution and alpha consumed, the alpha's signals against execution's,
    risk's ControlStates against execution's and their model weights against alpha's."""
    out: list[StageResult] = []
    if run.feature is not None:
        snaps = replay_feature(run.feature, read_model)
        checks = [compare_stream("feature", "execution", snaps, consumed(run.inputs, "on_snapshot"))]
        if run.alpha is not None:
            checks.append(compare_stream("feature", "alpha", snaps, consumed(run.alpha.inputs, "on_snapshot")))
        out.append(StageResult(stage="feature", inputs=len(run.feature.inputs), lost_inputs=run.feature.lost_inputs,
                               outputs=len(snaps), checks=checks))
    if run.alpha is not None:
        sigs = replay_alpha(run.alpha, read_model)
        out.append(StageResult(stage="alpha", inputs=len(run.alpha.inputs), lost_inputs=run.alpha.lost_inputs,
                               outputs=len(sigs),
                               checks=[compare_stream("alpha", "execution", sigs, consumed(run.inputs, "on_signal"))]))
    if run.risk is not None:
        states = replay_risk(run.risk)
        checks = [compare_stream("risk", "execution", states, consumed(run.inputs, "on_control"))]
        if run.alpha is not None:  # alpha journals the weights of every ControlState it read
            checks.append(compare_stream("risk", "alpha", [dict(c.model_weights) for c in states],
                                         consumed(run.alpha.inputs, "set_model_weights")))
        out.append(StageResult(stage="risk", inputs=len(run.risk.inputs), lost_inputs=run.risk.lost_inputs,
                               outputs=len(states), checks=checks))
    return out


# --------------------------------------------------------------------------- comparison


def decision_view(rec: CycleDecisionRecord) -> CycleDecisionRecord:
    """The record without what the monitor adds later (execution's decision only)."""
    defaults: dict[str, Any] = {"wall_ns": 0, "confidence": None, "model_scores": [], "fills": [], "pnl_delta_usd": math.nan,
                "pnl_delta_bps": math.nan, "position_after_qty": math.nan}
    return msgspec.structs.replace(rec, **defaults)


_enc = msgspec.msgpack.Encoder()


def same(a: CycleDecisionRecord, b: CycleDecisionRecord) -> bool:
    """Byte-identical decisions (NaN equals NaN of the same bits)."""
    return _enc.encode(decision_view(a)) == _enc.encode(decision_view(b))


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, msgspec.Struct):  # by field name (the audit structs encode as arrays)
        obj = {f: getattr(obj, f) for f in obj.__struct_fields__}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        if not obj:
            out[prefix] = []
        for i, v in enumerate(obj):
            out.update(_flat(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def record_fields(rec: CycleDecisionRecord) -> dict[str, Any]:
    """A record as flat ``path -> value`` (for side-by-side display)."""
    return _flat(decision_view(rec))


class Divergence(msgspec.Struct, kw_only=True):
    """The first record where the replay differs from the run (index into both lists)."""

    index: int
    live: CycleDecisionRecord | None
    replay: CycleDecisionRecord | None
    fields: list[tuple[str, Any, Any]]


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def first_divergence(live: Sequence[CycleDecisionRecord], replay: Sequence[CycleDecisionRecord]) -> Divergence | None:
    """The first index whose records differ (or where one list ends first); None if identical."""
    for i in range(max(len(live), len(replay))):
        a = live[i] if i < len(live) else None
        b = replay[i] if i < len(replay) else None
        if a is not None and b is not None and same(a, b):
            continue
        fa = record_fields(a) if a is not None else {}
        fb = record_fields(b) if b is not None else {}
        keys = list(dict.fromkeys([*fa, *fb]))
        fields = [(k, fa.get(k, "<absent>"), fb.get(k, "<absent>")) for k in keys
                  if not _eq(fa.get(k, "<absent>"), fb.get(k, "<absent>"))]
        return Divergence(index=i, live=a, replay=b, fields=fields)
    return None


def count_divergent(live: Sequence[CycleDecisionRecord], replay: Sequence[CycleDecisionRecord]) -> int:
    """Records that differ at the same index, plus those only one list has."""
    n = sum(1 for a, b in zip(live, replay, strict=False) if not same(a, b))
    return n + abs(len(live) - len(replay))


# --------------------------------------------------------------------------- PnL attribution


def mid_tapes(inputs: Iterable[tuple[str, tuple[Any, ...]]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per symbol: the (arrival time, mid) of every valid snapshot execution consumed, in order.

    A snapshot's arrival time is the ``now_ns`` of the cycle call that followed it; the
    journal has no time on ``on_snapshot`` itself, so its ``ts_ns`` (the feature process's
    build time, which precedes the arrival) is used."""
    ts: dict[int, list[int]] = {}
    mid: dict[int, list[float]] = {}
    for op, args in inputs:
        if op == "on_snapshot":
            s: StateSnapshot = args[0]
            if math.isfinite(s.mid_px) and s.mid_px > 0.0:
                if ts.get(s.symbol_id) and s.ts_ns < ts[s.symbol_id][-1]:
                    continue  # out of order (a restarted feature process): keep the tape monotone
                ts.setdefault(s.symbol_id, []).append(s.ts_ns)
                mid.setdefault(s.symbol_id, []).append(s.mid_px)
    return {k: (np.array(v, dtype=np.int64), np.array(mid[k], dtype=np.float64)) for k, v in ts.items()}


class Attribution(msgspec.Struct, kw_only=True):
    """PnL attribution per symbol and in total (USD), :func:`mm.replay.pnl.attribute` per symbol."""

    by_symbol: dict[str, PnlSplit]
    spread_capture_usd: float
    adverse_selection_usd: float
    fees_usd: float
    inventory_usd: float
    total_usd: float
    n_fills: int


def attribution(events: Iterable[OrderEvent | Fill], inputs: Sequence[tuple[str, tuple[Any, ...]]],
                symbols: Sequence[str], horizon_s: float = 5.0) -> Attribution:
    """The split of the Fill messages in ``events`` against the snapshots in ``inputs``."""
    tapes = mid_tapes(inputs)
    end_ns = max((int(t[0][-1]) for t in tapes.values() if len(t[0])), default=0)
    rows: dict[int, list[FillRow]] = {}
    for ev in events:
        if isinstance(ev, Fill):
            rows.setdefault(ev.symbol_id, []).append(
                FillRow(ev.symbol_id, ev.ts_ns, ev.side, ev.px, ev.qty, ev.fee, ev.is_maker))
    by: dict[str, PnlSplit] = {}
    for sid in sorted(rows):
        tts, tmid = tapes.get(sid, (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)))
        split, _ = attribute(rows[sid], tts, tmid, max(end_ns, rows[sid][-1].ts_ns), horizon_s)
        by[symbols[sid] if 0 <= sid < len(symbols) else str(sid)] = split
    parts = list(by.values())
    return Attribution(
        by_symbol=by,
        spread_capture_usd=math.fsum(p.spread_capture_usd for p in parts),
        adverse_selection_usd=math.fsum(p.adverse_selection_usd for p in parts),
        fees_usd=math.fsum(p.fees_usd for p in parts),
        inventory_usd=math.fsum(p.inventory_usd for p in parts),
        total_usd=math.fsum(p.total_usd for p in parts),
        n_fills=sum(p.n_fills for p in parts),
    )
