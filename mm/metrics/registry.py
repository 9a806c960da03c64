"""Prometheus metric families from the monitor's state dict (mm.metrics.state).

Pure mapping: :func:`families` turns one ``MonitorState.snapshot()`` dict into
prometheus-client metric families; :class:`StateCollector` calls it at each scrape with the
latest dict, in the monitor's own :class:`prometheus_client.CollectorRegistry` (never the
global one). Every name starts with ``mm_``; units are in the names (``_seconds``, ``_usd``,
``_qty``, ``_hz``); counters end in ``_total``. The families (deploy/grafana/mm.json draws
them):

process health: ``mm_process_up``, ``mm_process_heartbeat_age_seconds``,
``mm_process_loop_rate_hz``, ``mm_process_restarts_total``, ``mm_process_overruns_total``,
``mm_process_errors_total``, ``mm_process_messages_in_total``, ``mm_process_messages_out_total``,
``mm_process_latency_seconds`` / ``mm_process_latency_max_seconds`` (from the origin market
event); rings: ``mm_channel_published_total``, ``mm_channel_reader_lag``,
``mm_channel_reader_overruns_total``; latency: ``mm_hop_latency_seconds`` (histogram, label
``hop``); levels: ``mm_safety_level``, ``mm_safety_state`` (state set), ``mm_exposure_level``,
``mm_exposure_state``, ``mm_size_multiplier``, ``mm_spread_multiplier``, ``mm_reduce_only``,
``mm_confidence`` (label ``component``), ``mm_exec_mode`` / ``mm_exec_mode_state`` (per
symbol), ``mm_kill_switch_tripped``, ``mm_kill_switch_trips_total``; book:
``mm_inventory_qty``, ``mm_inventory_limit_qty``, ``mm_inventory_limit_share``,
``mm_position_notional_usd``, ``mm_open_orders``, ``mm_pnl_usd`` (label ``kind``),
``mm_equity_usd``, ``mm_drawdown_pct``; activity: ``mm_decision_cycles_total``,
``mm_fills_total``, ``mm_orders_total`` (label ``action``), ``mm_monitor_messages_total``;
venue budget: ``mm_rate_limit_ip_weight_used``, ``mm_rate_limit_ip_weight_limit``,
``mm_rate_limit_address_used``, ``mm_rate_limit_address_cap``,
``mm_rate_limit_refused_total``; audit: ``mm_audit_records_total``,
``mm_audit_bytes_total``, ``mm_postmortems_total``; ``mm_monitor_uptime_seconds``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, int | float) and math.isfinite(x):
        return float(x)
    return None


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], Any]]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=labels)
    for lv, v in rows:
        n = _num(v)
        if n is not None:
            g.add_metric(lv, n)
    return g


def _counter(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], Any]]) -> CounterMetricFamily:
    c = CounterMetricFamily(name, doc, labels=labels)
    for lv, v in rows:
        n = _num(v)
        if n is not None:
            c.add_metric(lv, n)
    return c


def _stateset(name: str, doc: str, names: list[str], current: Any, labels: list[str] | None = None,
              label_values: list[str] | None = None) -> StateSetMetricFamily:
    fam = StateSetMetricFamily(name, doc, labels=labels or [])
    if isinstance(current, int) and 0 <= current < len(names):
        fam.add_metric(label_values or [], {n: i == current for i, n in enumerate(names)})
    return fam


def families(state: Mapping[str, Any]) -> list[Metric]:
    """Every metric family of one state dict (empty sections give families without samples)."""
    out: list[Metric] = []
    procs = state.get("processes") or []
    pr = [([p["name"]], p) for p in procs]
    out += [
        _gauge("mm_process_up", "1 when the process is running and its heartbeat is within the deadline",
               ["process"], [(lv, p.get("alive")) for lv, p in pr]),
        _gauge("mm_process_heartbeat_age_seconds", "Age of the process's last heartbeat", ["process"],
               [(lv, None if p.get("heartbeat_age_ms") is None else p["heartbeat_age_ms"] / 1e3) for lv, p in pr]),
        _gauge("mm_process_loop_rate_hz", "Main-loop iterations per second", ["process"],
               [(lv, p.get("loop_rate_hz")) for lv, p in pr]),
        _counter("mm_process_restarts", "Restarts of the process by the supervisor", ["process"],
                 [(lv, p.get("restarts")) for lv, p in pr]),
        _counter("mm_process_overruns", "Messages lost because the process's ring reader was lapped",
                 ["process"], [(lv, p.get("overruns")) for lv, p in pr]),
        _counter("mm_process_errors", "Undecodable or failed messages counted by the process", ["process"],
                 [(lv, p.get("errors")) for lv, p in pr]),
        _counter("mm_process_messages_in", "Messages read by the process", ["process"],
                 [(lv, p.get("msgs_in")) for lv, p in pr]),
        _counter("mm_process_messages_out", "Messages published by the process", ["process"],
                 [(lv, p.get("msgs_out")) for lv, p in pr]),
        _gauge("mm_process_latency_seconds", "Latency from the originating market event at the process (last)",
               ["process"], [(lv, p["latency_last_us"] / 1e6) for lv, p in pr if "latency_last_us" in p]),
        _gauge("mm_process_latency_max_seconds", "Largest latency from the originating market event seen",
               ["process"], [(lv, p["latency_max_us"] / 1e6) for lv, p in pr if "latency_max_us" in p]),
    ]
    chans = state.get("channels") or []
    out += [
        _counter("mm_channel_published", "Messages published on the ring", ["channel"],
                 [([c.get("channel", "")], c.get("published")) for c in chans]),
        _gauge("mm_channel_reader_lag", "Messages published but not yet read by the reader", ["channel", "reader"],
               [([c.get("channel", ""), r.get("name", "")], r.get("lag")) for c in chans for r in c.get("readers", [])]),
        _counter("mm_channel_reader_overruns", "Messages the reader lost to overruns", ["channel", "reader"],
                 [([c.get("channel", ""), r.get("name", "")], r.get("overruns")) for c in chans
                  for r in c.get("readers", [])]),
    ]
    lat = state.get("latency") or {}
    bounds = list(lat.get("buckets_s") or [])
    h = HistogramMetricFamily("mm_hop_latency_seconds", "Latency of a hop of the pipeline, from message time stamps",
                              labels=["hop"])
    for hop, d in (lat.get("hops") or {}).items():
        counts = d.get("counts") or []
        if len(counts) != len(bounds) + 1:
            continue
        acc = 0
        buckets = []
        for i, b in enumerate(bounds):
            acc += counts[i]
            buckets.append((repr(float(b)), float(acc)))
        buckets.append(("+Inf", float(acc + counts[-1])))
        h.add_metric([hop], buckets, float(d.get("sum_s", 0.0)))
    out.append(h)

    lv = state.get("levels") or {}
    names = state.get("names") or {}
    conf = state.get("confidence") or {}
    out += [
        _gauge("mm_safety_level", "Safety level (0 GREEN .. 4 KILL) in risk's ControlState", [],
               [([], lv.get("safety"))]),
        _stateset("mm_safety_state", "Safety level as a state set", list(names.get("safety") or []), lv.get("safety")),
        _gauge("mm_exposure_level", "Exposure level (0 SHADOW .. 5 OPTIMIZED)", [], [([], lv.get("exposure"))]),
        _stateset("mm_exposure_state", "Exposure level as a state set", list(names.get("exposure") or []),
                  lv.get("exposure")),
        _gauge("mm_size_multiplier", "Size multiplier execution applies (safety x exposure x confidence)", [],
               [([], lv.get("size_multiplier"))]),
        _gauge("mm_spread_multiplier", "Spread multiplier of the safety level", [], [([], lv.get("spread_multiplier"))]),
        _gauge("mm_reduce_only", "1 when risk allows only reducing orders", [], [([], lv.get("reduce_only"))]),
        _gauge("mm_confidence", "Trading confidence (0..1) by component", ["component"],
               [([k], conf.get(k)) for k in ("overall", "model", "execution", "safety")]),
    ]
    ks = state.get("killswitch") or {}
    out += [
        _gauge("mm_kill_switch_tripped", "1 when the kill switch is tripped", [], [([], bool(ks.get("tripped")))]),
        _counter("mm_kill_switch_trips", "Kill switch trips in this run", [], [([], ks.get("trips"))]),
    ]
    syms = state.get("symbols_state") or []
    mode_names = list(names.get("mode") or [])
    out += [
        _gauge("mm_exec_mode", "Execution mode per symbol (mm.schema.ExecMode)", ["symbol"],
               [([s["symbol"]], s.get("mode")) for s in syms]),
    ]
    ms = StateSetMetricFamily("mm_exec_mode_state", "Execution mode per symbol as a state set", labels=["symbol"])
    for s in syms:
        m = s.get("mode")
        if isinstance(m, int) and 0 <= m < len(mode_names):
            ms.add_metric([s["symbol"]], {n: i == m for i, n in enumerate(mode_names)})
    out.append(ms)
    out += [
        _gauge("mm_inventory_qty", "Position from our fills (signed, coins)", ["symbol"],
               [([s["symbol"]], s.get("position_qty")) for s in syms]),
        _gauge("mm_inventory_limit_qty", "Execution's max inventory (coins)", ["symbol"],
               [([s["symbol"]], s.get("limit_qty")) for s in syms]),
        _gauge("mm_inventory_limit_share", "|position| / max inventory", ["symbol"],
               [([s["symbol"]], s.get("limit_share")) for s in syms]),
        _gauge("mm_position_notional_usd", "|position| x mid", ["symbol"],
               [([s["symbol"]], s.get("notional_usd")) for s in syms]),
        _gauge("mm_open_orders", "Our open orders as known from OrderEvents", ["symbol"],
               [([s["symbol"]], s.get("open_orders")) for s in syms]),
        _counter("mm_decision_cycles", "Execution decision cycles", ["symbol"],
                 [([s["symbol"]], s.get("cycles")) for s in syms]),
        _counter("mm_fills", "Our fills", ["symbol"], [([s["symbol"]], s.get("fills")) for s in syms]),
    ]
    pnl = state.get("pnl") or {}
    out += [
        _gauge("mm_pnl_usd", "PnL from our fills marked at the mid, by kind", ["kind"],
               [([k], pnl.get(f"{k}_usd")) for k in ("total", "realized", "unrealized", "fees")]),
        _gauge("mm_equity_usd", "Risk's equity (capital + PnL)", [], [([], pnl.get("equity_usd"))]),
        _gauge("mm_drawdown_pct", "Risk's drawdown from the equity peak, % of capital", [],
               [([], pnl.get("drawdown_pct"))]),
    ]
    cnt = state.get("counters") or {}
    out += [
        _counter("mm_orders", "Order actions sent by execution", ["action"],
                 [([a], cnt.get(f"orders_{k}")) for a, k in
                  (("place", "placed"), ("modify", "modified"), ("cancel", "cancelled"))]),
        _counter("mm_monitor_messages", "Messages the monitor read, by type", ["type"],
                 [([k], cnt.get(k)) for k in ("snapshots", "signals", "cycles", "decision_records", "fills",
                                              "order_events", "control_states", "risk_status")]),
    ]
    rl = state.get("rate_limit") or {}
    out += [
        _gauge("mm_rate_limit_ip_weight_used", "IP weight charged in the last 60 s", [],
               [([], rl.get("ip_weight_used"))]),
        _gauge("mm_rate_limit_ip_weight_limit", "IP weight allowed per 60 s", [], [([], rl.get("ip_weight_limit"))]),
        _gauge("mm_rate_limit_address_used", "Per-address requests used", [], [([], rl.get("address_used"))]),
        _gauge("mm_rate_limit_address_cap", "Per-address request budget", [], [([], rl.get("address_cap"))]),
        _counter("mm_rate_limit_refused", "Requests execution's limiter refused", [], [([], rl.get("refused"))]),
    ]
    au = state.get("audit") or {}
    out += [
        _counter("mm_audit_records", "Records written to the audit files", [], [([], au.get("records"))]),
        _counter("mm_audit_bytes", "Bytes written to the audit files", [], [([], au.get("bytes"))]),
        _counter("mm_postmortems", "Postmortem bundles written", [], [([], au.get("postmortems"))]),
        _gauge("mm_monitor_uptime_seconds", "Seconds since the monitor started", [], [([], state.get("uptime_s"))]),
    ]
    return out


class StateCollector(Collector):
    """Collects :func:`families` of the state returned by ``provider`` at each scrape."""

    def __init__(self, provider: Callable[[], Mapping[str, Any]]) -> None:
        self.provider = provider

    def collect(self) -> Iterator[Metric]:
        yield from families(self.provider())


def make_registry(provider: Callable[[], Mapping[str, Any]]) -> CollectorRegistry:
    """A private registry holding only the monitor's collector."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StateCollector(provider))
    return reg
