"""The metric families of a monitor state, and the Grafana dashboard that draws them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mm.audit.config import MonitorConfig
from mm.audit.record import rate_budget, risk_status
from mm.dashboard import render_text
from mm.graduation.exposure import ExposureConfig
from mm.metrics.registry import make_registry
from mm.metrics.state import HOPS, MonitorState
from mm.risk.authority import RiskAuthority
from tests.audit.helpers import REPO, control, cycles, engine, fill_for, snapshot

WALL0 = 1_772_000_000_000_000_000


def _state() -> dict[str, Any]:
    st = MonitorState(["BTC", "ETH"], MonitorConfig(), run_id="r", run_mode="paper", start_ns=0)
    eng = engine()
    eng.on_control(control())
    st.on_message(control(ts_ns=1), 1, WALL0)
    auth = RiskAuthority(ExposureConfig(start_level="FULL"), symbols=["BTC", "ETH"], start_ns=1)
    st.on_message(risk_status(auth.status(2), ts_ns=2, wall_ns=WALL0, seq=1), 2, WALL0)
    for sid in (0, 1):
        st.on_message(snapshot(sid, 10**9), 10**9, WALL0 + 10**9)
        recs = cycles(eng, sid, 10**9 + 10**6, n=2)
        recs = [msgspec.structs.replace(r, rate=rate_budget(eng.oms.limiter, r.ts_ns)) for r in recs]
        for r in recs:
            st.on_message(r, r.ts_ns, WALL0 + r.ts_ns)
        f = fill_for(recs[0], 2 * 10**9, trade_id=10 + sid)
        st.on_message(f, f.ts_ns, WALL0 + f.ts_ns)
    st.on_heartbeats([{"name": "execution", "pid": 1, "ts_ns": 10**9, "loops": 5, "state": 2, "core": -1,
                       "restarts": 1, "msgs_in": 3, "msgs_out": 4, "overruns": 0, "errors": 0,
                       "lat_last_ns": 800_000, "lat_max_ns": 900_000}], 10**9 + 1000)
    st.on_channels([{"channel": "audit", "published": 9, "readers": [{"name": "monitor", "lag": 0, "overruns": 0}]}])
    st.audit_info = {"records": 9, "bytes": 900, "postmortems": 0}
    return st.snapshot(3 * 10**9, WALL0 + 3 * 10**9)


def _exposition(state: dict[str, Any]) -> str:
    return generate_latest(make_registry(lambda: state)).decode()


def test_families_have_the_state_values() -> None:
    state = _state()
    fams = {f.name: f for f in text_string_to_metric_families(_exposition(state))}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}
    assert samples[("mm_inventory_qty", (("symbol", "BTC"),))] == state["symbols_state"][0]["position_qty"] != 0
    assert samples[("mm_inventory_limit_qty", (("symbol", "ETH"),))] == 1.0
    assert samples[("mm_process_restarts_total", (("process", "execution"),))] == 1.0
    assert samples[("mm_process_latency_seconds", (("process", "execution"),))] == 0.0008
    assert samples[("mm_safety_level", ())] == 0.0
    assert samples[("mm_safety_state", (("mm_safety_state", "GREEN"),))] == 1.0
    assert samples[("mm_exec_mode_state", (("mm_exec_mode_state", "MAKER"), ("symbol", "BTC")))] == 1.0
    assert samples[("mm_pnl_usd", (("kind", "fees"),))] == state["pnl"]["fees_usd"] > 0
    assert samples[("mm_fills_total", (("symbol", "ETH"),))] == 1.0
    assert samples[("mm_rate_limit_ip_weight_limit", ())] > 0
    assert 0.0 <= samples[("mm_confidence", (("component", "overall"),))] <= 1.0
    hops = {dict(lbl)["hop"] for (name, lbl) in samples if name == "mm_hop_latency_seconds_count"}
    assert hops == set(HOPS)


def test_an_empty_state_still_scrapes() -> None:
    st = MonitorState(["BTC"], MonitorConfig())
    fams = list(text_string_to_metric_families(_exposition(st.snapshot(0, 0))))
    assert {f.name for f in fams} >= {"mm_safety_level", "mm_hop_latency_seconds", "mm_process_up"}


def test_grafana_dashboard_uses_only_exported_metrics() -> None:
    dash = json.loads((REPO / "deploy" / "grafana" / "mm.json").read_text())
    exported = set()
    for f in text_string_to_metric_families(_exposition(_state())):
        exported.add(f.name)
        exported.update(s.name for s in f.samples)
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "definition") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dash)
    used = {m for e in exprs for m in re.findall(r"\bmm_[a-z0-9_]+", e)}
    assert len(exprs) > 30 and used
    assert used <= exported, sorted(used - exported)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["uid"] and {v["name"] for v in dash["templating"]["list"]} == {"datasource", "instance"}


def test_terminal_text_of_a_state() -> None:
    text = render_text(_state())
    assert "safety GREEN" in text and "exposure FULL" in text and "confidence 0." in text
    assert re.search(r"^BTC\s+[-+0-9.e]+\s+0\.05 ", text, re.M) and "MAKER" in text
    assert "processes: 1/1 alive" in text and "restarts: execution 1" in text


def test_page_is_self_contained() -> None:
    page = (Path(REPO) / "mm" / "dashboard" / "page.html").read_text()
    assert not re.search(r"(src|href)\s*=", page), "no external (or any linked) asset"
    assert "@import" not in page and "url(" not in page
    assert "fetch(\"/api/state\"" in page
