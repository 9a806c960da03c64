"""Parameter variants: other execution parameters run in shadow beside the active policy.

A variant is a name and a set of overrides of :class:`~mm.execution.config.ExecutionConfig`
keys by dotted path (``{"glft.gamma_per_bps" = 0.2, "policy" = "glft"}``), declared in the
config's ``[[variants]]`` tables (:class:`VariantSpec`). Inside the execution engine, every
decision cycle that reaches the policy also runs each variant's own policy object, with its
own state machine state and its own simulated position, on the very same snapshot, signal
and risk ControlState. Nothing a variant decides is ever sent.

The active parameters are tracked the same way under the name :data:`ACTIVE` (so the
comparison is like for like: every track is a simulation; the active one's real fills are
in the run's own PnL attribution).

Shadow fills. The track of the parameters in use (:attr:`VariantSet.active_name`) is the
paper simulation of the active policy's would-be quotes. At the Shadow exposure level
(size multiplier 0: execution places nothing) the engine runs it even without declared
variants and asks for its fills (``cycle(..., emit=True)``): each is kept as a
:class:`SimFill` until :meth:`VariantSet.take_fills`, and execution publishes it to risk as
``mm.schema.ShadowFill``, the evidence risk counts at Shadow. Only the fills of a cycle run
with ``emit`` are kept, so above Shadow nothing is emitted.

Simulated fills (the execution's own fill model, :class:`mm.execution.models.FillModel`,
whose fitted form is the fill-survival model): a track's resting quote at ``px`` is checked
at each of the symbol's cycles against the new snapshot:

- the market traded through it (a bid at or above the best ask, an ask at or below the
  best bid): filled in full at ``px`` (the adverse case);
- otherwise it fills in full with probability ``fill_prob(side, px, dt_s, snap)`` over the
  time ``dt_s`` since it was last checked, drawn from the track's own seeded RNG
  (``random.Random(seed ^ crc32(name))``: the same run replays the same draws).

An aggressive target fills at once at the touch (the best ask for a buy, the best bid for
a sell) when its limit price reaches it, paying the taker fee; otherwise not at all (an
IOC; the depth beyond the touch is not modelled). Quotes are at full
size (a track ignores ControlState's size multiplier, so a variant is judged in Shadow
too) but respect its allowed sides, reduce-only and spread multiplier.

Per track and symbol: fills, notional, fees, markout PnL at ``markout_horizon_s`` (``side *
(mid(t + h) - px) * qty - fee``, counted when the first snapshot at or after ``t + h``
arrives), the adverse-selection rate (share of marked-out fills whose mid moved against
them: ``side * (mid(t + h) - mid(t)) < 0``), and uptime (share of the time between cycles
with a quote on both sides). :meth:`VariantSet.stats` gives them per track; the per-fill
markouts (bps) are kept for confidence intervals (:func:`mean_ci`).

Pure logic: times come in as ``now_ns``; the RNG is seeded.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from mm.execution.config import ExecutionConfig
from mm.execution.decision import DecisionBuilder
from mm.execution.mode_handlers import CycleInputs, PriceGrid, SymbolSpec
from mm.execution.models import FillModel, QueueValueModel
from mm.execution.order_diff import TargetOrder
from mm.execution.policies import GlftPolicy, TouchPolicy
from mm.execution.state_machine import StateMachinePolicy, SymbolState, safe_target
from mm.schema import SIDES_ASK, SIDES_BID, AlphaSignal, ControlState, StateSnapshot

ACTIVE: Final = "active"
"""The track name of the active parameters."""

FORBIDDEN_PREFIXES: Final = ("oms", "rate_limit", "diff", "dry_run")
"""Keys a variant may not set: they belong to the order manager, which variants do not run."""


class VariantSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[[variants]]`` table.

    name: the variant's name (letters, digits, ``_`` and ``-``; not ``active``).
    set: ExecutionConfig keys by dotted path and their values, e.g.
        ``{"glft.gamma_per_bps" = 0.2}``; ``oms.*``, ``rate_limit.*``, ``diff.*`` and
        ``dry_run`` are refused (variants run no order manager).
    """

    name: str
    set: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or self.name == ACTIVE or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"variants: name {self.name!r} must be letters, digits, _ or - and not {ACTIVE!r}")
        if not self.set:
            raise ValueError(f"variants.{self.name}.set: no parameter changed")
        apply_overrides(ExecutionConfig(), self.set, f"variants.{self.name}.set")


def apply_overrides(cfg: ExecutionConfig, overrides: dict[str, Any], where: str = "set") -> ExecutionConfig:
    """``cfg`` with ``overrides`` (dotted paths) applied and validated; ValueError naming the key."""
    raw = msgspec.to_builtins(cfg)
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[0] in FORBIDDEN_PREFIXES:
            raise ValueError(f"{where}: {key!r} cannot be varied (variants run no order manager)")
        node = raw
        for p in parts[:-1]:
            if not isinstance(node, dict) or p not in node or not isinstance(node[p], dict):
                raise ValueError(f"{where}: {key!r} is not an execution parameter")
            node = node[p]
        if not isinstance(node, dict) or parts[-1] not in node or isinstance(node[parts[-1]], dict):
            raise ValueError(f"{where}: {key!r} is not an execution parameter")
        node[parts[-1]] = value
    try:
        return msgspec.convert(raw, ExecutionConfig)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def make_variant_policy(name: str) -> Any:
    if name == "state_machine":
        return StateMachinePolicy()
    if name == "glft":
        return GlftPolicy()
    if name == "touch":
        return TouchPolicy()
    raise ValueError(f"policy: unknown {name!r}")


def mean_ci(xs: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval (NaN, NaN if empty;
    half-width NaN for a single value)."""
    n = len(xs)
    if n == 0:
        return math.nan, math.nan
    m = math.fsum(xs) / n
    if n < 2:
        return m, math.nan
    var = math.fsum((x - m) ** 2 for x in xs) / (n - 1)
    return m, z * math.sqrt(var / n)


class _Quote:
    __slots__ = ("checked_ns", "edge_bps", "px", "qty", "side")

    def __init__(self, side: int, px: float, qty: float, now_ns: int, edge_bps: float = math.nan) -> None:
        self.side = side
        self.px = px
        self.qty = qty
        self.checked_ns = now_ns
        self.edge_bps = edge_bps


class SimFill(msgspec.Struct, frozen=True, kw_only=True):
    """One simulated fill of the active track in a cycle run with ``emit`` (module docstring).

    ``mid_px``: the mid the fill is measured against (the symbol's mid at the previous cycle
    for a resting quote, the current one for an aggressive target); ``predicted_edge_bps``: the
    quote's queue value when the policy evaluated one, else NaN."""

    symbol_id: int
    ts_ns: int
    side: int
    px: float
    qty: float
    fee: float
    is_maker: bool
    mid_px: float
    predicted_edge_bps: float


class _Pending:
    """A fill waiting for its markout."""

    __slots__ = ("due_ns", "fee", "mid", "px", "qty", "side")

    def __init__(self, due_ns: int, side: int, px: float, qty: float, mid: float, fee: float) -> None:
        self.due_ns = due_ns
        self.side = side
        self.px = px
        self.qty = qty
        self.mid = mid
        self.fee = fee


class VariantStats(msgspec.Struct, frozen=True, kw_only=True):
    """One track's figures (all symbols). Units in the names; NaN: not measured yet."""

    name: str
    active: bool
    overrides: dict[str, Any]
    cycles: int
    fills: int
    maker_fills: int
    notional_usd: float
    fees_usd: float
    position_qty: list[float]
    markout_fills: int
    markout_pnl_usd: float
    markout_bps_mean: float
    markout_bps_ci95: float
    adverse_rate: float
    uptime: float
    mtm_pnl_usd: float
    markouts_bps: list[float]


class _Track:
    """One parameter set's simulation (module docstring)."""

    def __init__(self, name: str, cfg: ExecutionConfig, overrides: dict[str, Any], n_symbols: int, seed: int) -> None:
        self.name = name
        self.cfg = cfg
        self.overrides = dict(overrides)
        self.policy = make_variant_policy(cfg.policy)
        self.states = [SymbolState() for _ in range(n_symbols)]
        self.position = [0.0] * n_symbols
        self.cash = [0.0] * n_symbols
        self.last_mid = [math.nan] * n_symbols
        self.quotes: list[dict[int, _Quote]] = [{} for _ in range(n_symbols)]
        self.pending: list[deque[_Pending]] = [deque() for _ in range(n_symbols)]
        self.last_cycle_ns = [0] * n_symbols
        self.rng = random.Random(seed ^ zlib.crc32(name.encode()))
        self.cycles = 0
        self.fills = 0
        self.maker_fills = 0
        self.notional = 0.0
        self.fees = 0.0
        self.markouts_bps: list[float] = []
        self.markout_pnl = 0.0
        self.adverse = 0
        self.time_ns = 0
        self.two_sided_ns = 0


class VariantSet:
    """The active parameters and every declared variant, each simulated (module docstring)."""

    def __init__(self, active_cfg: ExecutionConfig, specs: Sequence[VariantSpec], symbols: Sequence[SymbolSpec],
                 qv: QueueValueModel, fill: FillModel, seed: int = 0, markout_horizon_s: float = 1.0) -> None:
        self.specs = list(specs)
        self.qv = qv
        self.fill = fill
        self.horizon_ns = int(markout_horizon_s * 1e9)
        self.n = len(symbols)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"variants: duplicate names in {names}")
        self.tracks: dict[str, _Track] = {}
        self.active_name = ACTIVE
        self.fills_out: list[SimFill] = []
        self._emit: str | None = None
        self.tracks[ACTIVE] = _Track(ACTIVE, active_cfg, {}, self.n, seed)
        for s in self.specs:
            self.tracks[s.name] = _Track(s.name, apply_overrides(active_cfg, s.set, f"variants.{s.name}.set"),
                                         s.set, self.n, seed)

    def config_of(self, name: str) -> ExecutionConfig:
        if name not in self.tracks:
            raise ValueError(f"variants: no variant {name!r} (known: {sorted(self.tracks)})")
        return self.tracks[name].cfg

    def set_active(self, name: str) -> None:
        self.config_of(name)
        self.active_name = name

    # ------------------------------------------------------------------ the cycle

    def take_fills(self) -> list[SimFill]:
        """The active track's fills kept by cycles run with ``emit`` since the last call."""
        out, self.fills_out = self.fills_out, []
        return out

    def pull(self, sid: int, now_ns: int) -> None:
        """No valid input this cycle (no book, no control, kill): every track's quotes are pulled."""
        for t in self.tracks.values():
            self._account_time(t, sid, now_ns)
            t.quotes[sid].clear()

    def cycle(self, sid: int, spec: SymbolSpec, grid: PriceGrid, snap: StateSnapshot, sig: AlphaSignal | None,
              ctrl: ControlState, now_ns: int, emit: bool = False) -> None:
        """One symbol's cycle for every track: fills since the last one, markouts, then new quotes.
        ``emit``: keep the active track's fills of this cycle for :meth:`take_fills`."""
        self._emit = self.active_name if emit else None
        try:
            for t in self.tracks.values():
                self._account_time(t, sid, now_ns)
                self._settle(t, sid, snap, now_ns)
                self._decide(t, sid, spec, grid, snap, sig, ctrl, now_ns)
        finally:
            self._emit = None

    def _account_time(self, t: _Track, sid: int, now_ns: int) -> None:
        last = t.last_cycle_ns[sid]
        if last > 0 and now_ns > last:
            dt = now_ns - last
            t.time_ns += dt
            q = t.quotes[sid]
            if 1 in q and -1 in q:
                t.two_sided_ns += dt
        t.last_cycle_ns[sid] = now_ns

    def _fill(self, t: _Track, sid: int, side: int, px: float, qty: float, mid: float, now_ns: int,
              maker: bool, edge_bps: float = math.nan) -> None:
        fee_bps = t.cfg.models.maker_fee_bps if maker else t.cfg.models.taker_fee_bps
        fee = px * qty * fee_bps / 1e4
        if t.name == self._emit:
            self.fills_out.append(SimFill(symbol_id=sid, ts_ns=now_ns, side=side, px=px, qty=qty, fee=fee,
                                          is_maker=maker, mid_px=mid, predicted_edge_bps=edge_bps))
        t.position[sid] += side * qty
        t.cash[sid] -= side * px * qty
        t.fees += fee
        t.fills += 1
        t.maker_fills += maker
        t.notional += px * qty
        t.pending[sid].append(_Pending(now_ns + self.horizon_ns, side, px, qty, mid, fee))

    def _settle(self, t: _Track, sid: int, snap: StateSnapshot, now_ns: int) -> None:
        mid = snap.mid_px
        quotes = t.quotes[sid]
        for side in (1, -1):
            q = quotes.get(side)
            if q is None:
                continue
            dt_s = max(now_ns - q.checked_ns, 0) / 1e9
            q.checked_ns = now_ns
            through = snap.best_ask <= q.px if side > 0 else snap.best_bid >= q.px
            filled = through
            if not filled and dt_s > 0.0:
                p = self.fill.fill_prob(side, q.px, dt_s, snap)
                filled = math.isfinite(p) and t.rng.random() < p
            if filled:
                self._fill(t, sid, side, q.px, q.qty, t.last_mid[sid] if math.isfinite(t.last_mid[sid]) else mid,
                           now_ns, True, q.edge_bps)
                del quotes[side]
        pend = t.pending[sid]
        while pend and pend[0].due_ns <= now_ns:
            f = pend.popleft()
            t.markout_pnl += f.side * (mid - f.px) * f.qty - f.fee
            t.markouts_bps.append(f.side * (mid - f.px) / f.px * 1e4)
            t.adverse += f.side * (mid - f.mid) < 0.0
        t.last_mid[sid] = mid

    def _decide(self, t: _Track, sid: int, spec: SymbolSpec, grid: PriceGrid, snap: StateSnapshot,
                sig: AlphaSignal | None, ctrl: ControlState, now_ns: int) -> None:
        t.cycles += 1
        cfg = t.cfg
        mid = snap.mid_px
        lim = cfg.limits_for(spec.name)
        max_inv = lim.max_inventory_qty if lim.max_inventory_qty > 0.0 else cfg.max_inventory_usd / mid
        quote = lim.quote_qty if lim.quote_qty > 0.0 else cfg.quote_notional_usd / mid
        pos = t.position[sid]
        toxicity, toxic_prob, target, skew = snap.toxicity, snap.toxic_prob, 0.0, 0.0
        if sig is not None:
            toxicity = max(toxicity, sig.toxicity)
            toxic_prob = max(toxic_prob, sig.toxic_prob) if math.isfinite(sig.toxic_prob) else toxic_prob
            target = sig.target_inventory
            skew = sig.lead_lag_skew_bps
        quotes = t.quotes[sid]
        qb, qa = quotes.get(1), quotes.get(-1)
        spread_mult = ctrl.spread_multiplier if math.isfinite(ctrl.spread_multiplier) else 1.0
        inp = CycleInputs(
            cfg=cfg, spec=spec, grid=grid, snap=snap, now_ns=now_ns, qv=self.qv, fill=self.fill,
            inventory=pos, max_inv=max_inv, quote_qty=quote, taker_clip_qty=cfg.taker_clip_usd / mid,
            reduce_clip_qty=cfg.reduce_clip_usd / mid, size_mult=1.0, spread_mult=max(spread_mult, 1.0),
            target=target, toxicity=toxicity, toxic_prob=toxic_prob, lead_lag_skew_bps=skew,
            headroom_buy=max(max_inv - pos, 0.0), headroom_sell=max(max_inv + pos, 0.0),
            min_notional_usd=cfg.oms.min_notional_usd,
            live_bid_px=qb.px if qb else 0.0, live_bid_rank=-1.0,
            live_ask_px=qa.px if qa else 0.0, live_ask_rank=-1.0,
        )
        inp.safe_target = safe_target(target, max_inv, snap.sigma_realized_1m, cfg.baseline_sigma_bps)
        targets: list[TargetOrder] = t.policy.decide(inp, t.states[sid], DecisionBuilder())
        wanted: dict[int, TargetOrder] = {}
        for tg in targets:
            if (tg.side > 0 and not ctrl.allowed_sides & SIDES_BID) or (tg.side < 0 and not ctrl.allowed_sides & SIDES_ASK):
                continue
            if ctrl.reduce_only and tg.side * pos >= 0.0:
                continue
            if tg.qty <= 0.0:
                continue
            if tg.aggressive:  # an IOC: at the touch if its limit reaches it, else nothing
                touch = snap.best_ask if tg.side > 0 else snap.best_bid
                if (touch <= tg.px) if tg.side > 0 else (touch >= tg.px):
                    self._fill(t, sid, tg.side, touch, tg.qty, mid, now_ns, False)
                continue
            wanted.setdefault(tg.side, tg)
        for side in (1, -1):
            want = wanted.get(side)
            q = quotes.get(side)
            if want is None:
                quotes.pop(side, None)
            else:
                qv = want.queue_value_bps
                edge = qv if qv is not None and math.isfinite(qv) else math.nan
                if q is None or q.px != want.px or q.qty != want.qty:
                    quotes[side] = _Quote(side, want.px, want.qty, now_ns, edge)
                else:
                    q.edge_bps = edge  # the latest view of the quote that stays

    # ------------------------------------------------------------------ figures

    def stats(self) -> list[VariantStats]:
        out = []
        for name in sorted(self.tracks, key=lambda n: (n != ACTIVE, n)):
            t = self.tracks[name]
            m, ci = mean_ci(t.markouts_bps)
            n_mo = len(t.markouts_bps)
            mtm = math.fsum(t.cash[s] + t.position[s] * t.last_mid[s] for s in range(self.n)
                            if math.isfinite(t.last_mid[s])) - t.fees
            out.append(VariantStats(
                name=name, active=name == self.active_name, overrides=t.overrides, cycles=t.cycles, fills=t.fills,
                maker_fills=t.maker_fills, notional_usd=t.notional, fees_usd=t.fees, position_qty=list(t.position),
                markout_fills=n_mo, markout_pnl_usd=t.markout_pnl, markout_bps_mean=m, markout_bps_ci95=ci,
                adverse_rate=t.adverse / n_mo if n_mo else math.nan,
                uptime=t.two_sided_ns / t.time_ns if t.time_ns else math.nan, mtm_pnl_usd=mtm,
                markouts_bps=list(t.markouts_bps),
            ))
        return out
