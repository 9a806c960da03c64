"""Figures over several latency draws: the band a replay figure moves in by luck alone.

The replay draws every market-data and order latency from one seeded stream
(:class:`mm.replay.engine.ReplayConfig.seed`). The same data and the same parameters under
another latency seed take another path: other fills, other PnL. A figure from one draw says
little until its band over draws is known, and a parameter change that moves a figure by
less than that band is not yet evidence. :func:`draw_bands` folds the per-draw documents of
one data set (same runs, same table rows, one latency seed each) into, per run and per
metric row, the values, their mean, min and max, and how many draws met the row's target.
Pure: documents in, document out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mm.replay.metrics import fmt_value

# the PnL split's total and the fill count, beside the table's rows
_EXTRA = (("PnL total (USD)", "usd", lambda m: m["pnl"]["total_usd"]),
          ("fills", "count", lambda m: m["fills"]))


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _band(metric: str, unit: str, target: str, values: list[float | None], oks: list[bool | None]) -> dict[str, Any]:
    xs = [v for v in values if v is not None]
    known = [o for o in oks if o is not None]
    return {"metric": metric, "unit": unit, "target": target, "values": values,
            "n": len(xs), "mean": sum(xs) / len(xs) if xs else None,
            "min": min(xs) if xs else None, "max": max(xs) if xs else None,
            "ok": sum(1 for o in known if o), "ok_known": len(known)}


def draw_bands(docs: Sequence[dict[str, Any]], latency_seeds: Sequence[int]) -> dict[str, Any]:
    """Per run (``policy@tier``) and per table row: values over the draws, mean, min, max,
    and the number of draws whose value met the row's target.

    ``docs`` are :func:`mm.replay.suite.run_suite` documents of the same data, one per
    latency seed; a run or a row missing from any of them is an error (they must match)."""
    if len(docs) != len(latency_seeds) or not docs:
        raise ValueError("draw_bands: one document per latency seed, at least one")
    keys = list(docs[0]["runs"])
    for d in docs[1:]:
        if list(d["runs"]) != keys:
            raise ValueError("draw_bands: the draws ran different policies or fee tiers")
    runs: dict[str, list[dict[str, Any]]] = {}
    for k in keys:
        tables = [d["runs"][k]["metrics"]["table"] for d in docs]
        names = [r["metric"] for r in tables[0]]
        if any([r["metric"] for r in t] != names for t in tables[1:]):
            raise ValueError(f"draw_bands: {k}: the draws' tables have different rows")
        rows = []
        for i, name in enumerate(names):
            first = tables[0][i]
            rows.append(_band(name, first["unit"], first.get("target", ""),
                              [_finite(t[i]["value"]) for t in tables],
                              [t[i].get("ok") if isinstance(t[i].get("ok"), bool) else None for t in tables]))
        for name, unit, get in _EXTRA:
            rows.append(_band(name, unit, "", [_finite(get(d["runs"][k]["metrics"])) for d in docs],
                              [None] * len(docs)))
        runs[k] = rows
    return {"latency_seeds": list(latency_seeds), "runs": runs}


def _fmt(unit: str, v: float | None) -> str:
    if unit == "count":
        return "n/a" if v is None else f"{v:.0f}"
    return fmt_value({"value": v, "unit": unit})


def band_rows(bands: dict[str, Any]) -> list[list[str]]:
    """The bands as a text table: one row per metric, one column per run, each cell
    ``mean [min, max]`` and, where the row has a target, ``k/n met``."""
    keys = list(bands["runs"])
    if not keys:
        return []
    n = len(bands["latency_seeds"])
    out = [[f"metric (over {n} latency draws: mean [min, max], draws meeting the target)", *keys]]
    for i, r0 in enumerate(bands["runs"][keys[0]]):
        row = [r0["metric"]]
        for k in keys:
            b = bands["runs"][k][i]
            if b["mean"] is None:
                row.append("n/a")
                continue
            cell = f"{_fmt(b['unit'], b['mean'])} [{_fmt(b['unit'], b['min'])}, {_fmt(b['unit'], b['max'])}]"
            if b["ok_known"]:
                cell += f" {b['ok']}/{b['ok_known']} met"
            row.append(cell)
        out.append(row)
    return out
