"""Models fitted for a replay on the warm-up part of the same recording (issue 17 item 3).

The evaluation protocol: every model the replayed objects use is fitted on the events
before the split (``split_ts_ns``) only, by the same pipeline as ``mmctl train``
(:func:`mm.models.train.train_coin`: toxicity classifier, fill survival, queue value, each
per coin); the replay then trades and is evaluated on the part after the split. Nothing is
shuffled; the pipeline's own test figures (on the part after the split) are kept for the
report, so the report shows how good the models were on the data they were used on.

What the replay gets from :class:`ReplayModels`:

- ``toxicity_model(sid)``: the fitted classifier of the coin (the feature engine scores
  every trade with it and keeps learning online, as the live feature process does), and
  ``toxicity_threshold(sid)``: the Toxic threshold chosen on the training cascades when
  the data has labels (generated), else None (the configured one);
- ``queue_model(maker_fee_bps, fallback)``: the learned queue value per coin, net of the
  fee tier being replayed (never the tier it was fitted at: the fitted quantity is gross);
- ``fill_model(fallback)``: the fill-survival model per coin;
- ``direction_model()``: the direction model per coin (P(a passive fill is adverse at the
  5 s markout), with its gate threshold chosen on the warm-up), for the state machine's
  ``direction_gate`` (off by default).

A coin whose data is too short to fit keeps the heuristic (the figures say why). Pure
logic apart from the pipeline's own CPU work: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from mm.execution.models import FillModel, FillModelBySymbol, QueueValueBySymbol, QueueValueModel
from mm.models.datasets import infer_tick_px
from mm.models.direction import DirectionModel, DirectionParams
from mm.models.fill_survival import FillSurvivalModel, FillSurvivalParams
from mm.models.queue_value import QueueValueModel as LearnedQueueValue
from mm.models.queue_value import QueueValueParams
from mm.models.toxicity import ToxicityModel
from mm.models.train import PipelineConfig, train_coin
from mm.schema import BookSnapshot
from mm.venues.sim.generator import GroundTruth


class ReplayModels:
    """Per symbol id: the fitted models (absent where the fit was not possible) and figures."""

    def __init__(self, split_ts_ns: int) -> None:
        self.split_ts_ns = split_ts_ns
        self.toxicity: dict[int, ToxicityModel] = {}
        self.thresholds: dict[int, float] = {}
        self.queue_value: dict[int, QueueValueParams] = {}
        self.fill: dict[int, FillSurvivalParams] = {}
        self.direction: dict[int, DirectionParams] = {}
        self.figures: dict[str, dict[str, Any]] = {}

    def toxicity_model(self, sid: int) -> ToxicityModel | None:
        return self.toxicity.get(sid)

    def toxicity_threshold(self, sid: int) -> float | None:
        return self.thresholds.get(sid)

    def queue_model(self, maker_fee_bps: float, fallback: QueueValueModel) -> QueueValueBySymbol:
        return QueueValueBySymbol({sid: LearnedQueueValue(p, maker_fee_bps) for sid, p in self.queue_value.items()},
                                  fallback)

    def fill_model(self, fallback: FillModel) -> FillModelBySymbol:
        return FillModelBySymbol({sid: FillSurvivalModel(p) for sid, p in self.fill.items()}, fallback)

    def direction_model(self) -> dict[int, DirectionModel]:
        """The direction model per symbol id (coins without one are absent: no gate there)."""
        return {sid: DirectionModel(p) for sid, p in self.direction.items()}

    def summary(self) -> dict[str, Any]:
        """What was fitted per coin and its test figures (for the report)."""
        return {"split_ts_ns": self.split_ts_ns, "coins": self.figures}


def _coin_summary(fig: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": fig.get("n", {})}
    if "error" in fig:
        out["error"] = fig["error"]
    tox = fig.get("toxicity")
    if isinstance(tox, dict):
        out["toxicity_test"] = tox.get("fitted")
        if "threshold_fit" in tox:
            out["toxic_threshold_fit"] = tox["threshold_fit"]
    fill = fig.get("fill")
    if isinstance(fill, dict) and "h1s" in fill:
        out["fill_1s_test"] = fill["h1s"]
    qv = fig.get("queue_value")
    if isinstance(qv, dict):
        out["queue_value_test"] = {k: qv[k] for k in ("learned_gross", "heuristic_gross", "realized_net_mean_bps",
                                                      "share_learned_pos_net", "maker_fee_bps", "error") if k in qv}
    dr = fig.get("direction")
    if isinstance(dr, dict):
        out["direction_test"] = {k: dr[k] for k in ("test", "test_gate", "error") if k in dr}
        if isinstance(dr.get("fit"), dict):
            out["direction_threshold"] = dr["fit"].get("threshold")
    return out


def fit_replay_models(events: Sequence[object], coins: Sequence[str], split_ts_ns: int,
                      truth: GroundTruth | None = None, cfg: PipelineConfig | None = None,
                      trained_on: str = "replay warm-up") -> ReplayModels:
    """Fit every coin's models on ``events`` before ``split_ts_ns`` (symbol id = position in ``coins``)."""
    pc = cfg if cfg is not None else PipelineConfig()
    out = ReplayModels(split_ts_ns)
    for sid, coin in enumerate(coins):
        evs = [e for e in events if getattr(e, "symbol_id", -1) == sid]
        books = [e for e in evs if isinstance(e, BookSnapshot) and e.ts_ns < split_ts_ns]
        try:
            tick = infer_tick_px(books)  # type: ignore[arg-type]
        except ValueError as exc:
            out.figures[coin] = {"error": str(exc)}
            continue
        res = train_coin(coin, sid, tick, evs, split_ts_ns, truth, pc, trained_on)
        if res.toxicity is not None:
            out.toxicity[sid] = res.toxicity
            thr = res.toxicity.metrics.get("toxic_threshold_fit") if truth is not None else None
            if thr is not None:
                out.thresholds[sid] = float(thr)
        if res.fill is not None:
            out.fill[sid] = res.fill
        if res.queue_value is not None:
            out.queue_value[sid] = res.queue_value
        if res.direction is not None:
            out.direction[sid] = res.direction
        summ = _coin_summary(res.figures)
        summ["tick_px"] = tick
        summ["fitted"] = [name for name, ok in (("toxicity", sid in out.toxicity), ("fill_survival", sid in out.fill),
                                                ("queue_value", sid in out.queue_value),
                                                ("direction", sid in out.direction)) if ok]
        out.figures[coin] = msgspec.to_builtins(summ)
    return out
