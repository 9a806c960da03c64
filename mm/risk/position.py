"""Position and PnL per symbol from our own fills: risk's independent book.

Average-cost accounting: a fill that adds to a position moves the average entry price; a
fill that reduces it realises PnL against that price. Fees are kept apart (a rebate is a
negative fee). Unrealised PnL is marked at a price given by the caller. Pure logic.
"""

from __future__ import annotations

import math

import msgspec


class SymbolPosition(msgspec.Struct, kw_only=True):
    qty: float = 0.0
    avg_px: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    volume_notional: float = 0.0
    fills: int = 0
    mark_px: float = 0.0

    def unrealized_pnl(self) -> float:
        if self.qty == 0.0 or self.mark_px <= 0.0:
            return 0.0
        return self.qty * (self.mark_px - self.avg_px)


class PositionBook:
    """Positions of all symbols. ``apply_fill`` rejects bad fills instead of corrupting state."""

    def __init__(self) -> None:
        self.positions: dict[int, SymbolPosition] = {}
        self.rejected_fills = 0

    def get(self, symbol_id: int) -> SymbolPosition:
        pos = self.positions.get(symbol_id)
        if pos is None:
            pos = self.positions[symbol_id] = SymbolPosition()
        return pos

    def apply_fill(self, symbol_id: int, side: int, px: float, qty: float, fee: float) -> bool:
        """Apply one fill (side +1 buy, -1 sell). Returns False (and counts) if it is invalid."""
        if side not in (1, -1) or not (px > 0.0 and qty > 0.0) or not math.isfinite(px * qty + fee):
            self.rejected_fills += 1
            return False
        pos = self.get(symbol_id)
        signed = side * qty
        if pos.qty == 0.0 or (pos.qty > 0) == (signed > 0):
            new_qty = pos.qty + signed
            pos.avg_px = (pos.avg_px * abs(pos.qty) + px * qty) / abs(new_qty)
            pos.qty = new_qty
        else:
            closing = min(qty, abs(pos.qty))
            pos.realized_pnl += closing * (px - pos.avg_px) * (1 if pos.qty > 0 else -1)
            remaining = qty - closing
            if remaining > 0:  # flipped through zero: the rest opens at px
                pos.qty = side * remaining
                pos.avg_px = px
            else:
                pos.qty += signed
                if abs(pos.qty) < 1e-12:
                    pos.qty = 0.0
                    pos.avg_px = 0.0
        pos.fees += fee
        pos.volume_notional += px * qty
        pos.fills += 1
        return True

    def mark(self, symbol_id: int, mark_px: float) -> None:
        if mark_px > 0.0 and math.isfinite(mark_px):
            self.get(symbol_id).mark_px = mark_px

    def total_pnl(self) -> float:
        return sum(p.realized_pnl + p.unrealized_pnl() - p.fees for p in self.positions.values())
