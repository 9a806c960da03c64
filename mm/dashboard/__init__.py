"""The dashboard: a self-contained web page (page.html) and the same essentials as text.

- :func:`load_page`: the page's bytes (inline CSS and JS, no external asset; it polls
  ``/api/state`` about once a second and draws with SVG and canvas). Served by
  mm.metrics.server.
- :func:`monitor_url` / :func:`fetch_state`: where a running group's monitor listens (it
  writes ``<run_dir>/monitor.json``) and its state, over loopback HTTP.
- :func:`render_text`: the essentials of a state for a terminal (``mmctl status``): PnL,
  inventory against limits, modes, confidence, safety, process health, latency.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from importlib import resources
from typing import Any

MONITOR_FILE = "monitor.json"


def load_page() -> bytes:
    """The dashboard page (mm/dashboard/page.html)."""
    return resources.files("mm.dashboard").joinpath("page.html").read_bytes()


def monitor_url(run_dir: str) -> str | None:
    """The monitor's base URL from ``<run_dir>/monitor.json``, or None when it has none."""
    try:
        with open(os.path.join(run_dir, MONITOR_FILE)) as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        return None
    url = info.get("url")
    return str(url) if url else None


def fetch_state(base_url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """GET ``<base_url>/api/state``. Raises OSError (URLError) when the monitor does not answer."""
    with urllib.request.urlopen(base_url.rstrip("/") + "/api/state", timeout=timeout_s) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def _n(x: Any, fmt: str = ".2f", none: str = "-") -> str:
    if isinstance(x, bool) or not isinstance(x, int | float) or (isinstance(x, float) and not math.isfinite(x)):
        return none
    return format(x, fmt)


def _signed(x: Any, fmt: str = "+.2f") -> str:
    return _n(x, fmt)


def _bar(share: Any, width: int = 20) -> str:
    """``[####......|.........]``-style bar of a signed share of a limit in [-1, 1]."""
    if not isinstance(share, int | float) or not math.isfinite(share):
        return " " * (width + 3)
    half = width // 2
    k = min(half, round(abs(share) * half))
    left = "." * half
    right = "." * half
    if share < 0:
        left = "." * (half - k) + "#" * k
    else:
        right = "#" * k + "." * (half - k)
    return f"[{left}|{right}]"


def render_text(state: dict[str, Any]) -> str:
    """The dashboard's essentials as lines of text."""
    lv = state.get("levels") or {}
    conf = state.get("confidence") or {}
    pnl = state.get("pnl") or {}
    ks = state.get("killswitch") or {}
    lines = [f"monitor: run {state.get('run_id', '?')}  mode {state.get('run_mode', '?')}  "
             f"up {_n(state.get('uptime_s'), '.0f')} s"]
    safety = lv.get("safety_name") or "unknown (no ControlState yet)"
    lines.append(
        f"safety {safety}" + (f" ({lv.get('safety_reason')})" if lv.get("safety_reason") else "")
        + f"   exposure {lv.get('exposure_name') or '-'}  size x{_n(lv.get('size_multiplier'), 'g')}"
        f"  spread x{_n(lv.get('spread_multiplier'), 'g')}" + ("  REDUCE-ONLY" if lv.get("reduce_only") else "")
        + ("   KILL SWITCH TRIPPED: " + str(ks.get("reason", "")) if ks.get("tripped") else "")
    )
    if conf.get("source") == "risk":
        lines.append(
            f"confidence {_n(conf.get('overall'), '.3f')}  (model {_n(conf.get('model'), '.3f')}, execution "
            f"{_n(conf.get('execution'), '.3f')}, safety {_n(conf.get('safety'), '.3f')})"
            + (f" -> {conf['implied_level_name']}" if conf.get("implied_level_name") else "")
        )
    else:
        lines.append("confidence: no RiskStatus from risk yet")
    lines.append(
        f"PnL {_signed(pnl.get('total_usd'))} USD  (realized {_signed(pnl.get('realized_usd'))}, unrealized "
        f"{_signed(pnl.get('unrealized_usd'))}, fees {_n(pnl.get('fees_usd'))})"
        + (f"  drawdown {_n(pnl.get('drawdown_pct'), '.3f')} %" if pnl.get("drawdown_pct") is not None else "")
    )
    lines.append("")
    lines.append(f"{'symbol':<8} {'position':>12} {'limit':>10} {'':<23} {'mode':<17} {'open':>4} {'fills':>6}  why")
    for s in state.get("symbols_state") or []:
        share = None
        if isinstance(s.get("limit_qty"), int | float) and s["limit_qty"]:
            share = s["position_qty"] / s["limit_qty"]
        lines.append(
            f"{s['symbol']:<8} {_n(s.get('position_qty'), '.6g'):>12} {_n(s.get('limit_qty'), '.4g'):>10} "
            f"{_bar(share):<23} {s.get('mode_name') or '-':<17} {s.get('open_orders', 0):>4} {s.get('fills', 0):>6}  "
            f"{(s.get('mode_reason') or '')[:60]}"
        )
    procs = state.get("processes") or []
    if procs:
        down = [p["name"] for p in procs if not p.get("alive")]
        restarts = [f"{p['name']} {p['restarts']}" for p in procs if p.get("restarts")]
        overruns = [f"{p['name']} {p['overruns']}" for p in procs if p.get("overruns")]
        ages = [p["heartbeat_age_ms"] for p in procs if isinstance(p.get("heartbeat_age_ms"), int | float)]
        lines.append("")
        lines.append(
            f"processes: {len(procs) - len(down)}/{len(procs)} alive"
            + (f" (NOT alive: {', '.join(down)})" if down else "")
            + (f"; oldest heartbeat {max(ages):.0f} ms" if ages else "")
            + ("; restarts: " + ", ".join(restarts) if restarts else "; no restarts")
            + ("; overruns: " + ", ".join(overruns) if overruns else "")
        )
    hops = (state.get("latency") or {}).get("hops") or {}
    lat = [f"{h} p50 {_ms(d.get('p50_s'))} p99 {_ms(d.get('p99_s'))}" for h, d in hops.items() if d.get("count")]
    if lat:
        lines.append("latency (bucket upper bounds): " + "; ".join(lat))
    rl = state.get("rate_limit") or {}
    if rl:
        lines.append(f"rate limit: IP weight {rl.get('ip_weight_used')}/{rl.get('ip_weight_limit')} per min, "
                     f"address {rl.get('address_used')}/{rl.get('address_cap')}, refused {rl.get('refused')}")
    au = state.get("audit") or {}
    if au:
        lines.append(f"audit: {au.get('records', 0)} records in {au.get('dir', '-')}; postmortems "
                     f"{au.get('postmortems', 0)}" + (f" (last {au['last_postmortem']})" if au.get("last_postmortem") else ""))
    return "\n".join(lines)


def _ms(s: Any) -> str:
    if not isinstance(s, int | float):
        return ">2.5s"
    return f"{s * 1e3:.3g}ms"


__all__ = ["MONITOR_FILE", "fetch_state", "load_page", "monitor_url", "render_text"]
