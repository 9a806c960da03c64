"""What a sweep optimises: one number per trial from the replay's metrics.

:func:`summarize` reduces :func:`mm.replay.metrics.compute`'s output to the key figures a
results table shows (fills, turnover, net PnL in USD and in bps of turnover, 5 s markout and
adverse rate, Sharpe); :func:`objective_value` picks the objective from that summary.

Objectives (direction in :data:`OBJECTIVES`):

- ``net_bps``: net PnL (after fees, inventory marked to the end) in bps of traded notional;
- ``net_usd``: net PnL in USD;
- ``sharpe``: annualised Sharpe of the PnL curve;
- ``markout5_bps``: mean 5 s markout of the fills, bps, before fees;
- ``adverse5``: share of fills adverse at 5 s (minimised).

A trial with fewer than ``min_fills`` fills has no value (a ratio over a handful of fills
is noise, and zero fills has no ratio at all): the caller records it as failed, with the
reason. Pure.
"""

from __future__ import annotations

import math
from typing import Any

OBJECTIVES: dict[str, str] = {
    "net_bps": "maximize",
    "net_usd": "maximize",
    "sharpe": "maximize",
    "markout5_bps": "maximize",
    "adverse5": "minimize",
}

SUMMARY_KEYS = ("fills", "turnover_usd", "net_usd", "net_bps", "fees_usd", "markout5_bps", "adverse5", "sharpe",
                "max_inv_ratio")


def _num(x: Any) -> float | None:
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def summarize(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The key figures of one replay (``compute`` output)."""
    pnl = metrics.get("pnl", {})
    m5 = metrics.get("markouts", {}).get("5s", {})
    inv: dict[str, Any] = next((r for r in metrics.get("table", []) if r.get("metric") == "Max |inventory| / max"), {})
    return {
        "fills": _num(metrics.get("fills")),
        "turnover_usd": _num(pnl.get("turnover_usd")),
        "net_usd": _num(pnl.get("total_usd")),
        "net_bps": _num(pnl.get("net_bps_of_turnover")),
        "fees_usd": _num(pnl.get("fees_usd")),
        "markout5_bps": _num(m5.get("mean_bps")),
        "adverse5": _num(m5.get("adverse_rate")),
        "sharpe": _num(metrics.get("sharpe_annualized")),
        "max_inv_ratio": _num(inv.get("value")),
    }


def objective_value(name: str, summary: dict[str, float | None], min_fills: int = 0) -> tuple[float | None, str]:
    """``(value, "")`` or ``(None, why)``; raises ValueError on an unknown objective."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r} (have: {', '.join(OBJECTIVES)})")
    fills = summary.get("fills") or 0.0
    if fills < min_fills:
        return None, f"{fills:.0f} fills < {min_fills}"
    v = summary.get(name)
    if v is None:
        return None, f"{name} undefined"
    return v, ""


def best_first(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Rows with a value, best first (by the objective's direction)."""
    sign = -1.0 if OBJECTIVES[name] == "maximize" else 1.0
    return sorted((r for r in rows if r.get("objective") is not None), key=lambda r: (sign * r["objective"], r["trial"]))
