"""The model interfaces execution decides with, and the heuristic baselines that satisfy them.

Owns two small Protocols (seed 000 §2.4.1, §2.4.2), so that the state machine does not
depend on how a model is built:

- :class:`QueueValueModel` ``queue_value(side, px, rank_frac, snap) -> edge_bps``: the
  expected edge in bps of the mid of a passive fill at ``px`` on ``side`` with queue rank
  fraction ``rank_frac`` (0 = front of the level's queue, 1 = back), **net of fees**.
  Negative means the adverse selection and the fee exceed the spread captured.
- :class:`FillModel` ``fill_prob(side, px, horizon_s, snap) -> p`` in [0, 1]; a model may
  also offer ``fill_probs(side, pxs, horizon_s, snap)`` (the same answers for several
  prices in one call), which :func:`fill_probs` uses when present; likewise
  ``queue_values(side, pxs, ranks, snap)`` and :func:`queue_values`.

and the baselines that run today (learned models, written elsewhere, satisfy the same
Protocols and are passed to the engine instead):

- :class:`HeuristicQueueValue`: half-spread capture (from the microprice, or the mid)
  minus expected adverse selection (regime mix, toxic probability, OFI against the quote,
  queue rank, volatility) minus the maker fee of the configured tier.
- :class:`ExpFillModel`: the symmetric ``1 - exp(-kappa exp(-delta/delta_char) T)``, with
  delta the distance from the mid in bps. Deliberately not queue-aware: it is the baseline
  the fill-survival model replaces.

Pure functions of their arguments; a non-finite input never produces a non-finite output
(a bad snapshot field is treated as absent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from mm.execution.config import HeuristicModelConfig
from mm.schema import StateSnapshot


class QueueValueModel(Protocol):
    """Expected edge (bps of mid, net of fees) of a passive fill at a price and queue rank."""

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float: ...


class FillModel(Protocol):
    """Probability that a passive order at ``px`` fills within ``horizon_s`` seconds."""

    def fill_prob(self, side: int, px: float, horizon_s: float, snap: StateSnapshot) -> float: ...


def fair_px(snap: StateSnapshot, use_microprice: bool) -> float:
    """The microprice when it lies strictly inside the book (and asked for), else the mid."""
    mid = snap.mid_px
    if use_microprice:
        mp = snap.microprice
        if math.isfinite(mp) and snap.best_bid < mp < snap.best_ask:
            return mp
    return mid


class HeuristicQueueValue:
    """Seed 000 Phase 3's heuristic: spread captured - expected adverse selection - fee.

    The terms that depend only on the snapshot are computed once per snapshot (a frozen
    struct, held here so its identity cannot be reused) and shared by every candidate.
    """

    __slots__ = ("_as_regime", "_pre", "_snap", "cfg")

    def __init__(self, cfg: HeuristicModelConfig | None = None) -> None:
        self.cfg = cfg if cfg is not None else HeuristicModelConfig()
        self._as_regime = tuple(self.cfg.as_bps_by_regime)
        self._snap: StateSnapshot | None = None
        self._pre = (0.0, 0.0, 0.0, 0.0)

    def _prepare(self, snap: StateSnapshot) -> tuple[float, float, float, float]:
        """(side-free adverse selection bps, OFI / touch depth, fair px, 1e4 / mid)."""
        if snap is self._snap:
            return self._pre
        cfg = self.cfg
        isfinite = math.isfinite
        probs = snap.regime_probs
        a = self._as_regime
        total = 0.0
        regime_as = 0.0
        ok = len(probs) == len(a)
        if ok:
            for p, x in zip(probs, a):
                if not (isfinite(p) and p >= 0.0):
                    ok = False
                    break
                total += p
                regime_as += p * x
        if ok and total > 0.0:
            regime_as /= total
        else:
            r = snap.regime if 0 <= snap.regime < len(a) else len(a) - 1  # unknown regime: assume the worst
            regime_as = a[r]
        tp = snap.toxic_prob
        tox = (0.0 if 0.0 > tp else 1.0 if 1.0 < tp else tp) if isfinite(tp) else 1.0  # min(max(tp, 0), 1)
        sig = snap.sigma_ewma
        if not (isfinite(sig) and sig > 0.0):
            sig = 0.0
        db = snap.depth_bids
        da = snap.depth_asks
        depth = (db[0] if db else 0.0) + (da[0] if da else 0.0)
        ofi = snap.ofi_500ms
        ofi_norm = ofi / depth if depth > 0.0 and isfinite(ofi) and isfinite(depth) else 0.0
        mid = snap.mid_px
        k = 1e4 / mid if mid > 0.0 and isfinite(mid) else math.nan
        self._pre = (regime_as + cfg.as_toxic_bps * tox + cfg.as_sigma_mult * sig, ofi_norm,
                     fair_px(snap, cfg.use_microprice), k)
        self._snap = snap
        return self._pre

    def adverse_selection_bps(self, side: int, rank_frac: float, snap: StateSnapshot) -> float:
        """Expected adverse move after a fill of a quote on ``side``, bps (>= 0)."""
        base, ofi_norm, _, _ = self._prepare(snap)
        cfg = self.cfg
        # selling pressure (ofi < 0) hurts a bid (side +1), buying pressure an ask
        adverse_ofi = min(max(-side * ofi_norm, 0.0), cfg.ofi_clip)
        rank = min(max(rank_frac, 0.0), 1.0) if math.isfinite(rank_frac) else 1.0
        return base + cfg.as_ofi_bps * adverse_ofi + cfg.as_rank_bps * rank

    def capture_bps(self, side: int, px: float, snap: StateSnapshot) -> float:
        """Spread captured by a fill at ``px`` against the fair price, bps of the mid."""
        _, _, fair, k = self._prepare(snap)
        if not (math.isfinite(k) and math.isfinite(px)):
            return -math.inf
        return side * (fair - px) * k

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        base, ofi_norm, fair, k = self._pre if snap is self._snap else self._prepare(snap)
        cap = side * (fair - px) * k
        if not math.isfinite(cap):
            return -1e9
        cfg = self.cfg
        adverse_ofi = -side * ofi_norm
        adverse_ofi = 0.0 if adverse_ofi < 0.0 else cfg.ofi_clip if adverse_ofi > cfg.ofi_clip else adverse_ofi
        rank = (0.0 if rank_frac < 0.0 else 1.0 if rank_frac > 1.0 else rank_frac) if math.isfinite(rank_frac) else 1.0
        return cap - (base + cfg.as_ofi_bps * adverse_ofi + cfg.as_rank_bps * rank) - cfg.maker_fee_bps

    def queue_values(self, side: int, pxs: Sequence[float], ranks: Sequence[float],
                     snap: StateSnapshot) -> list[float]:
        """:meth:`queue_value` of each (price, rank) pair, the same arithmetic with the
        side's terms computed once."""
        base, ofi_norm, fair, k = self._pre if snap is self._snap else self._prepare(snap)
        cfg = self.cfg
        adverse_ofi = -side * ofi_norm
        adverse_ofi = 0.0 if adverse_ofi < 0.0 else cfg.ofi_clip if adverse_ofi > cfg.ofi_clip else adverse_ofi
        ofi_term = base + cfg.as_ofi_bps * adverse_ofi
        as_rank = cfg.as_rank_bps
        fee = cfg.maker_fee_bps
        isfinite = math.isfinite
        out = []
        for px, rank_frac in zip(pxs, ranks):
            cap = side * (fair - px) * k
            if not isfinite(cap):
                out.append(-1e9)
                continue
            rank = (0.0 if rank_frac < 0.0 else 1.0 if rank_frac > 1.0 else rank_frac) if isfinite(rank_frac) else 1.0
            out.append(cap - (ofi_term + as_rank * rank) - fee)
        return out


def queue_values(model: QueueValueModel, side: int, pxs: Sequence[float], ranks: Sequence[float],
                 snap: StateSnapshot) -> list[float]:
    """``model.queue_value`` of each (price, rank) pair: the model's own ``queue_values``
    when it has one, else one call per pair."""
    batch = getattr(model, "queue_values", None)
    if batch is not None:
        out: list[float] = batch(side, pxs, ranks, snap)
        return out
    return [model.queue_value(side, px, rank, snap) for px, rank in zip(pxs, ranks)]


class ExpFillModel:
    """The symmetric baseline ``P = 1 - exp(-kappa * exp(-delta/delta_char) * T)``.

    ``delta`` is the distance of ``px`` from the mid on the passive side, in bps (0 for a
    price at or through the mid). ``kappa_per_s > 0`` and ``delta_char_bps > 0`` are
    guaranteed by the config.
    """

    __slots__ = ("cfg",)

    def __init__(self, cfg: HeuristicModelConfig | None = None) -> None:
        self.cfg = cfg if cfg is not None else HeuristicModelConfig()

    def fill_prob(self, side: int, px: float, horizon_s: float, snap: StateSnapshot) -> float:
        mid = snap.mid_px
        if not (mid > 0.0 and math.isfinite(mid) and math.isfinite(px)) or not horizon_s > 0.0:
            return 0.0
        delta_bps = max(side * (mid - px) / mid * 1e4, 0.0)
        rate = self.cfg.kappa_per_s * math.exp(-delta_bps / self.cfg.delta_char_bps)
        p = 1.0 - math.exp(-rate * horizon_s)
        return min(max(p, 0.0), 1.0)

    def fill_probs(self, side: int, pxs: Sequence[float], horizon_s: float, snap: StateSnapshot) -> list[float]:
        """:meth:`fill_prob` of each price, the same arithmetic with the constants hoisted."""
        mid = snap.mid_px
        if not (mid > 0.0 and math.isfinite(mid)) or not horizon_s > 0.0:
            return [0.0] * len(pxs)
        kappa = self.cfg.kappa_per_s
        dc = self.cfg.delta_char_bps
        exp = math.exp
        isfinite = math.isfinite
        out = []
        for px in pxs:
            if not isfinite(px):
                out.append(0.0)
                continue
            # max(., 0.0) and min(., 1.0) as builtins.max/min decide them, without the calls
            delta_bps = side * (mid - px) / mid * 1e4
            if 0.0 > delta_bps:
                delta_bps = 0.0
            p = 1.0 - exp(-(kappa * exp(-delta_bps / dc)) * horizon_s)
            if 0.0 > p:
                p = 0.0
            if 1.0 < p:
                p = 1.0
            out.append(p)
        return out


def fill_probs(model: FillModel, side: int, pxs: Sequence[float], horizon_s: float,
               snap: StateSnapshot) -> list[float]:
    """``model.fill_prob`` of each of ``pxs``: the model's own ``fill_probs`` when it has one
    (one call for all the candidate levels of a side), else one call per price."""
    batch = getattr(model, "fill_probs", None)
    if batch is not None:
        out: list[float] = batch(side, pxs, horizon_s, snap)
        return out
    return [model.fill_prob(side, px, horizon_s, snap) for px in pxs]


class QueueValueBySymbol:
    """Each symbol's own queue-value model (fitted per coin), else the fallback."""

    def __init__(self, models: Mapping[int, QueueValueModel], fallback: QueueValueModel) -> None:
        self.models = dict(models)
        self.fallback = fallback

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        return self.models.get(snap.symbol_id, self.fallback).queue_value(side, px, rank_frac, snap)

    def queue_values(self, side: int, pxs: Sequence[float], ranks: Sequence[float],
                     snap: StateSnapshot) -> list[float]:
        return queue_values(self.models.get(snap.symbol_id, self.fallback), side, pxs, ranks, snap)


class FillModelBySymbol:
    """Each symbol's own fill model (fitted per coin), else the fallback."""

    def __init__(self, models: Mapping[int, FillModel], fallback: FillModel) -> None:
        self.models = dict(models)
        self.fallback = fallback

    def fill_prob(self, side: int, px: float, horizon_s: float, snap: StateSnapshot) -> float:
        return self.models.get(snap.symbol_id, self.fallback).fill_prob(side, px, horizon_s, snap)

    def fill_probs(self, side: int, pxs: Sequence[float], horizon_s: float, snap: StateSnapshot) -> list[float]:
        return fill_probs(self.models.get(snap.symbol_id, self.fallback), side, pxs, horizon_s, snap)
