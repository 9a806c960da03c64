"""Risk limits: drawdown from the equity peak, notional caps, position-at-risk, reconciliation.

Owns the numbers the escalator's conditions are made of:

- drawdown, % of capital: (peak equity - equity) / capital x 100, the peak being the
  high-water mark since start or over a sliding window (``peak_window_s``);
- per-symbol notional caps: |qty| x mark / cap, the position share;
- position-at-risk (PaR), USD: |qty| x mark x sigma x sqrt(horizon) x z, summed over
  symbols, against a budget in % of capital (sigma in bps per sqrt(s), so it scales with
  the square root of the horizon);
- reconciliation of risk's own position book against the venue's positions (the venue is
  the truth): every difference larger than the tolerance is reported.

Pure logic: no I/O, times are passed in.
"""

from __future__ import annotations

import math
from collections import deque

import msgspec

from mm.risk.config import RiskConfig
from mm.risk.position import PositionBook


def sigma_bps_per_sqrt_s(sigma_ewma_bps: float, sample_ms: float) -> float:
    """Convert the feature engine's ``sigma_ewma`` (EWMA of |dmid| in bps per grid sample)
    into a standard deviation in bps per sqrt(second).

    For a Gaussian increment E|x| = sd x sqrt(2/pi), and there are 1000 / sample_ms samples
    per second.
    """
    if not (sample_ms > 0.0) or not math.isfinite(sigma_ewma_bps) or sigma_ewma_bps < 0.0:
        return math.nan
    return sigma_ewma_bps * math.sqrt(math.pi / 2.0) * math.sqrt(1000.0 / sample_ms)


class DrawdownTracker:
    """Equity high-water mark and drawdown as % of capital.

    With ``peak_window_s > 0`` the peak is the largest equity seen within the window
    (a monotone deque of one-second buckets, so memory is bounded by the window in seconds).
    The equity at ``start_ns`` is the capital: a loss already present at the first update is
    a drawdown.
    """

    def __init__(self, capital_usd: float, peak_window_s: float = 0.0, start_ns: int = 0) -> None:
        self.capital_usd = capital_usd
        self.window_ns = int(peak_window_s * 1e9)
        # (bucket second, max equity) with decreasing equity; the starting equity is the capital
        self._peaks: deque[tuple[int, float]] = deque([(start_ns // 1_000_000_000, capital_usd)])
        self._peak_all = capital_usd
        self.equity_usd = capital_usd
        self.max_drawdown_pct = 0.0

    @property
    def peak_usd(self) -> float:
        if self.window_ns > 0:
            return self._peaks[0][1] if self._peaks else self.equity_usd
        return self._peak_all

    def update(self, equity_usd: float, now_ns: int) -> float:
        """Record the equity now; returns the drawdown in % of capital (NaN if equity is)."""
        self.equity_usd = equity_usd
        if not math.isfinite(equity_usd):
            return math.nan
        if self.window_ns > 0:
            sec = now_ns // 1_000_000_000
            while self._peaks and self._peaks[-1][1] <= equity_usd:
                self._peaks.pop()
            if self._peaks and self._peaks[-1][0] == sec:
                pass  # a higher equity earlier in this second stays the bucket's max
            else:
                self._peaks.append((sec, equity_usd))
            horizon = (now_ns - self.window_ns) // 1_000_000_000
            while len(self._peaks) > 1 and self._peaks[0][0] < horizon:
                self._peaks.popleft()
        elif equity_usd > self._peak_all:
            self._peak_all = equity_usd
        dd = self.drawdown_pct()
        self.max_drawdown_pct = max(self.max_drawdown_pct, dd)
        return dd

    def drawdown_pct(self) -> float:
        if not math.isfinite(self.equity_usd):
            return math.nan
        return max(self.peak_usd - self.equity_usd, 0.0) / self.capital_usd * 100.0


class SymbolRisk(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's exposure against its limits."""

    symbol_id: int
    coin: str
    qty: float
    mark_px: float
    notional_usd: float
    cap_usd: float
    share: float
    sigma_bps_per_sqrt_s: float
    par_usd: float


class RiskLimits:
    """Notional caps and position-at-risk over a PositionBook."""

    def __init__(self, cfg: RiskConfig, coins: list[str]) -> None:
        self.cfg = cfg
        self.coins = list(coins)
        self.sigmas: dict[int, float] = {}

    def coin(self, symbol_id: int) -> str:
        return self.coins[symbol_id] if 0 <= symbol_id < len(self.coins) else f"#{symbol_id}"

    def cap_usd(self, symbol_id: int) -> float:
        return self.cfg.cap_usd(self.coin(symbol_id))

    def set_sigma(self, symbol_id: int, sigma_bps_per_sqrt_s: float) -> None:
        """A symbol's volatility, bps per sqrt(s) (see :func:`sigma_bps_per_sqrt_s`)."""
        if math.isfinite(sigma_bps_per_sqrt_s) and sigma_bps_per_sqrt_s >= 0.0:
            self.sigmas[symbol_id] = sigma_bps_per_sqrt_s

    def symbol_risk(self, book: PositionBook, symbol_id: int) -> SymbolRisk:
        pos = book.get(symbol_id)
        px = pos.mark_px if pos.mark_px > 0.0 else pos.avg_px
        notional = abs(pos.qty) * px
        cap = self.cap_usd(symbol_id)
        sigma = self.sigmas.get(symbol_id, self.cfg.default_sigma_bps_per_sqrt_s)
        par = notional * sigma * 1e-4 * math.sqrt(self.cfg.par_horizon_s) * self.cfg.par_z
        return SymbolRisk(symbol_id=symbol_id, coin=self.coin(symbol_id), qty=pos.qty, mark_px=px,
                          notional_usd=notional, cap_usd=cap, share=notional / cap,
                          sigma_bps_per_sqrt_s=sigma, par_usd=par)

    def all_risk(self, book: PositionBook) -> list[SymbolRisk]:
        ids = sorted(set(book.positions) | set(range(len(self.coins))))
        return [self.symbol_risk(book, s) for s in ids]

    def position_share(self, book: PositionBook) -> float:
        """Largest |notional| / cap over symbols (NaN propagates)."""
        shares = [r.share for r in self.all_risk(book)]
        if any(math.isnan(s) for s in shares):
            return math.nan
        return max(shares, default=0.0)

    def par_budget_usd(self) -> float:
        return self.cfg.capital_usd * self.cfg.par_budget_pct / 100.0

    def par_usd(self, book: PositionBook) -> float:
        return sum(r.par_usd for r in self.all_risk(book))

    def par_share(self, book: PositionBook) -> float:
        return self.par_usd(book) / self.par_budget_usd()

    def headroom_qty(self, book: PositionBook, symbol_id: int, side: int, px: float) -> float:
        """Quantity that may still be added on ``side`` (+1 buy, -1 sell) at ``px`` before the cap."""
        if not (px > 0.0):
            return 0.0
        pos = book.get(symbol_id)
        cap_qty = self.cap_usd(symbol_id) / px
        return max(cap_qty - side * pos.qty, 0.0)


# ---------------------------------------------------------------------- reconciliation


class VenuePosition(msgspec.Struct, frozen=True, kw_only=True):
    """One position as the venue reports it (clearinghouseState assetPositions: szi, entryPx)."""

    symbol_id: int
    qty: float  # signed
    entry_px: float = 0.0


class PositionDiff(msgspec.Struct, frozen=True, kw_only=True):
    symbol_id: int
    coin: str
    ours_qty: float
    venue_qty: float
    diff_qty: float
    diff_usd: float


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    ts_ns: int
    checked: int
    diffs: list[PositionDiff]

    @property
    def ok(self) -> bool:
        return not self.diffs


def reconcile(
    book: PositionBook, venue: list[VenuePosition], limits: RiskLimits, tol_usd: float, now_ns: int
) -> ReconcileReport:
    """Compare our positions with the venue's. A symbol absent on one side counts as flat there.

    The difference in USD is |dqty| x price (our mark, else our entry price, else the venue's);
    with no price at all any nonzero difference counts (infinite USD), so a missing price never
    hides one.
    """
    theirs = {v.symbol_id: v for v in venue}
    ids = sorted(set(theirs) | {s for s, p in book.positions.items() if p.qty != 0.0})
    diffs: list[PositionDiff] = []
    for sid in ids:
        ours = book.positions[sid].qty if sid in book.positions else 0.0
        v = theirs.get(sid)
        vq = v.qty if v is not None else 0.0
        dq = vq - ours
        pos = book.positions.get(sid)
        prices = [pos.mark_px, pos.avg_px] if pos is not None else []
        if v is not None:
            prices.append(v.entry_px)
        px = next((p for p in prices if p > 0.0 and math.isfinite(p)), None)
        if px is None:
            dusd = math.inf if dq != 0.0 else 0.0
        else:
            dusd = abs(dq) * px
        if not math.isfinite(dusd) or dusd > tol_usd:
            diffs.append(PositionDiff(symbol_id=sid, coin=limits.coin(sid), ours_qty=ours, venue_qty=vq,
                                      diff_qty=dq, diff_usd=dusd))
    return ReconcileReport(ts_ns=now_ns, checked=len(ids), diffs=diffs)


def adopt_venue_positions(book: PositionBook, report: ReconcileReport, venue: list[VenuePosition]) -> None:
    """Make our book agree with the venue for every differing symbol (the venue is the truth).

    The quantity and entry price are the venue's; realised PnL and fees are kept.
    """
    theirs = {v.symbol_id: v for v in venue}
    for d in report.diffs:
        pos = book.get(d.symbol_id)
        v = theirs.get(d.symbol_id)
        pos.qty = d.venue_qty
        if d.venue_qty == 0.0:
            pos.avg_px = 0.0
        elif v is not None and v.entry_px > 0.0:
            pos.avg_px = v.entry_px
        elif pos.avg_px <= 0.0:
            pos.avg_px = pos.mark_px
