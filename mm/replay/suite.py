"""A replay suite: the same events through every requested policy at every fee tier.

Builds the report document (:mod:`mm.replay.report`): per run ``<policy>@<fee tier>`` the
metrics of :mod:`mm.replay.metrics`; the baselines (symmetric GLFT, the naive touch quoter)
run on exactly the same events, seed and latencies as the state machine. Execution
parameters are overridden with ``execution.key=value`` assignments (dotted keys into
:class:`~mm.execution.config.ExecutionConfig`, values parsed as JSON when they parse). With
``decisions_diff`` the first run's decision log is replayed with the overrides against the
log without them (:mod:`mm.replay.decision_replay`). ``models`` (fitted on the warm-up by
:mod:`mm.replay.fit`) are used by every run, the baselines too (their records carry the
same queue value). Pure: events in, a dict out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec

from mm.execution.config import ExecutionConfig
from mm.replay.decision_replay import diff_logs
from mm.replay.engine import CoinSpec, ReplayConfig, ReplayEngine, ReplayResult, fee_rates_of
from mm.replay.fit import ReplayModels
from mm.replay.metrics import compute
from mm.venues.sim.generator import GroundTruth


def parse_value(v: str) -> Any:
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def apply_overrides(cfg: ExecutionConfig, sets: Sequence[str]) -> ExecutionConfig:
    """``execution.a.b=value`` assignments applied to ``cfg`` (validated by the config's own checks)."""
    if not sets:
        return cfg
    d = msgspec.to_builtins(cfg)
    for s in sets:
        key, eq, val = s.partition("=")
        if not eq:
            raise ValueError(f"--set {s!r}: expected key=value")
        parts = key.strip().split(".")
        if parts[0] == "execution":
            parts = parts[1:]
        if not parts:
            raise ValueError(f"--set {s!r}: empty key")
        node = d
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"--set {s!r}: {p!r} is not a section of the execution config")
            node = node[p]
        if parts[-1] not in node:
            raise ValueError(f"--set {s!r}: unknown key {parts[-1]!r}")
        node[parts[-1]] = parse_value(val)
    return msgspec.convert(d, ExecutionConfig)


def _bps(rate: float) -> float:
    """A fee rate in bps for the report, rounded off float noise (1.5, not 1.5000000000000002)."""
    return round(rate * 1e4, 10)


def run_one(events: Sequence[object], coins: Sequence[CoinSpec], rcfg: ReplayConfig, ecfg: ExecutionConfig,
            trade_from_ns: int | None, models: ReplayModels | None = None) -> tuple[ReplayEngine, ReplayResult]:
    eng = ReplayEngine(coins, rcfg, ecfg, models)
    return eng, eng.run(events, trade_from_ns)


def run_suite(events: Sequence[object], coins: Sequence[CoinSpec], *, policies: Sequence[str], fee_tiers: Sequence[str],
              rcfg: ReplayConfig, base_exec: ExecutionConfig, sets: Sequence[str] = (), trade_from_ns: int | None = None,
              labels: GroundTruth | None = None, decisions_diff: bool = False,
              meta: dict[str, Any] | None = None, models: ReplayModels | None = None) -> dict[str, Any]:
    ecfg = apply_overrides(base_exec, sets)
    runs: dict[str, Any] = {}
    for tier in fee_tiers:
        rates = fee_rates_of(tier)
        for pol in policies:
            rc = msgspec.structs.replace(rcfg, fee_tier=tier)
            _, res = run_one(events, coins, rc, msgspec.structs.replace(ecfg, policy=pol), trade_from_ns, models)
            runs[f"{pol}@{tier}"] = {
                "policy": pol, "fee_tier": tier, "maker_bps": _bps(rates.maker), "taker_bps": _bps(rates.taker),
                "events": res.n_events, "metrics": compute(res, labels, len(coins), maker_bps=_bps(rates.maker)),
            }
    doc: dict[str, Any] = {"coins": [c.name for c in coins], "meta": dict(meta or {}), "runs": runs}
    doc["meta"].update({"latency_seed": rcfg.seed, "md_latency": rcfg.md_latency, "order_latency": rcfg.order_latency,
                        "cancel_latency": rcfg.cancel_latency, "response_latency": rcfg.response_latency,
                        "overrides": list(sets),
                        "fee_tiers": {t: {"maker_bps": _bps(fee_rates_of(t).maker), "taker_bps": _bps(fee_rates_of(t).taker)}
                                      for t in fee_tiers}})
    if decisions_diff:
        doc["decision_diff"] = decision_diff(events, coins, rcfg=msgspec.structs.replace(rcfg, fee_tier=fee_tiers[0]),
                                             base_exec=msgspec.structs.replace(base_exec, policy=policies[0]),
                                             sets=sets, trade_from_ns=trade_from_ns, models=models)
    if models is not None:
        doc["models"] = models.summary()
    return doc


def decision_diff(events: Sequence[object], coins: Sequence[CoinSpec], *, rcfg: ReplayConfig, base_exec: ExecutionConfig,
                  sets: Sequence[str], trade_from_ns: int | None, models: ReplayModels | None = None) -> dict[str, Any]:
    """The decision log of ``base_exec`` re-run with ``sets`` applied: which decisions change."""
    rc = msgspec.structs.replace(rcfg, keep_records=True)
    _, a = run_one(events, coins, rc, base_exec, trade_from_ns, models)
    _, b = run_one(events, coins, rc, apply_overrides(base_exec, sets), trade_from_ns, models)
    out = diff_logs(a.records, b.records)
    out["overrides"] = list(sets)
    out["policy"] = base_exec.policy
    return out
