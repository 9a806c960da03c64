"""The monitor process against real shared memory: /metrics scrapes, the dashboard renders
live data in headless Chromium, a forced escalation to Red (and a kill-switch trip) writes a
postmortem bundle, and the audit files it leaves answer ``mmctl audit``.

The test plays the rest of the group: it creates the run's heartbeat table, kill switch and
rings as the supervisor does, and a feeder thread publishes what the workers would, made by
the real objects: feature snapshots, alpha signals, a real ExecutionEngine's decision
records, order events and fills (orders acknowledged and filled as a venue would), and a real
RiskAuthority's ControlState and RiskStatus. The monitor is started as its own OS process.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mm.audit.record import CycleDecisionRecord, from_decision, rate_budget, risk_status
from mm.audit.store import read_audit
from mm.dashboard import fetch_state, monitor_url, render_text
from mm.graduation.exposure import ExposureConfig
from mm.risk.authority import RiskAuthority
from mm.schema import SafetyLevel
from tests.audit.helpers import REPO, SYMBOLS, ShmRun, dom_text, engine, run_chromium, snapshot, write_config
from tests.audit.helpers import signal as make_signal

pytestmark = pytest.mark.integration

WAIT_S = 60.0  # generous deadlines for a loaded 2-core machine; never a timing assertion


def wait_for(cond: Any, what: str, timeout_s: float = WAIT_S, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except (OSError, ValueError, KeyError):
            last = None
        if last:
            return last
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


class Feeder(threading.Thread):
    """Publishes what feed, feature, alpha, execution, risk and the supervisor would."""

    def __init__(self, run: ShmRun) -> None:
        super().__init__(name="feeder", daemon=True)
        self.run_ = run
        self.enc = msgspec.msgpack.Encoder()
        self.eng = engine()
        self.auth = RiskAuthority(ExposureConfig(start_level="FULL"), symbols=SYMBOLS, start_ns=time.monotonic_ns())
        self.rng = random.Random(7)
        self.mid = {0: 100_000.0, 1: 4_000.0}
        self.resting: dict[str, tuple[int, bool, float, float, int]] = {}  # cloid -> symbol, buy, px, qty, oid
        self.frozen = threading.Event()  # no price move, no fill: PnL stands still
        self.stop_ = threading.Event()
        self.force: tuple[SafetyLevel, str] | None = None
        self.lock = threading.Lock()
        self.i = 0
        self.trade_id = 70_000
        self.oid = 500
        self.fills: list[Any] = []
        self.error: BaseException | None = None

    def push(self, ring: str, msg: Any) -> None:
        self.run_.writers[ring].push(self.enc.encode(msg))

    def run(self) -> None:
        try:
            while not self.stop_.is_set():
                self.step(time.monotonic_ns())
                time.sleep(0.05)
        except BaseException as exc:  # surfaced by the tests
            self.error = exc
            raise

    def _venue(self, now: int) -> None:
        """Acknowledge what execution sent, as the venue would."""
        for req in self.eng.drain_requests():
            kind = getattr(req, "kind", "")
            for p in getattr(req, "places", ()):
                self.oid += 1
                self.eng.on_order_result(p.cloid, now, "resting", oid=self.oid)
                self.resting[p.cloid] = (p.symbol_id, p.is_buy, float(p.px), float(p.sz), self.oid)
            for c in getattr(req, "cancels", ()):
                self.eng.on_cancel_result(c.cloid, now, True)
                self.resting.pop(c.cloid, None)
            for m in getattr(req, "modifies", ()):
                self.oid += 1
                self.eng.on_order_result(m.order.cloid, now, "resting", oid=self.oid)
                self.resting.pop(m.cloid, None)
                p = m.order
                self.resting[p.cloid] = (p.symbol_id, p.is_buy, float(p.px), float(p.sz), self.oid)
            if kind == "openOrders":
                self.eng.on_open_orders(now, [])

    def _publish_events(self) -> None:
        for ev in self.eng.drain_events():
            self.push("ex", ev)
            if type(ev).__name__ == "Fill":
                self.auth.on_fill(ev)
                self.fills.append(ev)

    def step(self, now: int) -> None:
        run = self.run_
        pid = os.getpid()
        for n, lat in (("feed", 0), ("feature", 300_000), ("alpha", 600_000), ("execution", 900_000), ("risk", 0),
                       ("supervisor", 0)):
            run.beat(n, now, pid, lat_last_ns=lat, msgs_in=self.i, msgs_out=self.i)
        with self.lock:
            force, self.force = self.force, None
        if force is not None:
            self.auth.escalator.escalate_to(force[0], force[1], now)
        frozen = self.frozen.is_set()
        killed = run.ks.tripped()
        if killed:
            self.auth.on_kill_switch(True, run.ks.state()["reason"], now)
        for sid in (0, 1):
            if not frozen:
                self.mid[sid] *= 1.0 + self.rng.gauss(0.0, 2e-4)
            snap = snapshot(sid, now - 400_000, mid=self.mid[sid], seq=self.i)
            sig = make_signal(sid, now - 200_000, seq=self.i)
            self.push("snap", snap)
            self.push("sig", sig)
            self.auth.on_snapshot(snap, now)
            self.eng.on_snapshot(snap)
            summary = self.eng.on_signal(sig, now, killed=killed)
            if summary is not None:
                self.push("ex", summary)
            for d in self.eng.drain_records():
                rec = from_decision(d, symbol=SYMBOLS[d.symbol_id], signal=sig, snapshot_ts_ns=snap.ts_ns,
                                    rate=rate_budget(self.eng.oms.limiter, now))
                self.push("audit", rec)
            self._venue(now)
            self._publish_events()
        if not frozen and not killed and self.i % 10 == 5 and self.resting:
            cloid = sorted(self.resting)[self.rng.randrange(len(self.resting))]
            sid, buy, px, qty, oid = self.resting.pop(cloid)
            self.trade_id += 1
            self.eng.on_fill(now, sid, cloid, oid, self.trade_id, buy, px, qty, px * qty * 1.5e-4, True)
            self._publish_events()
        if self.i % 2 == 0:
            ctl = self.auth.control_state(now, time.time_ns())
            self.push("ctl", ctl)
            self.eng.on_control(ctl)
        if self.i % 10 == 0:
            self.push("ctl", risk_status(self.auth.status(now), ts_ns=now, wall_ns=time.time_ns(), seq=self.i))
        self.i += 1

    def escalate(self, level: SafetyLevel, reason: str) -> None:
        with self.lock:
            self.force = (level, reason)


class Live:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state_dir = tmp / "state"
        self.run_dir = tmp / "run"
        self.config = write_config(tmp, self.state_dir, self.run_dir)
        self.log = tmp / "monitor.log"
        self.run = ShmRun()
        self.feeder = Feeder(self.run)
        self._log = open(self.log, "wb")
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "procs.monitor", "--run-id", self.run.run_id, "--config", str(self.config),
             "--port", "0"],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        # the monitor's readers start at the latest message: publish only once they are there
        info = wait_for(lambda: json.loads((self.run_dir / "monitor.json").read_text()), "monitor.json", log=self.log)
        self.url: str = info["url"]
        for ring in ("snap", "sig", "ex", "ctl", "audit"):
            assert "monitor" in [r["name"] for r in self.run.rings[ring].stats()["readers"]], ring
        self.feeder.start()

    def get(self, path: str) -> tuple[str, bytes]:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return r.headers.get("Content-Type", ""), r.read()

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.get("/api/state")[1])
        return data

    def stop_monitor(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def close(self) -> None:
        self.feeder.stop_.set()
        self.feeder.join(timeout=10)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.run.close()
        self._log.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    lv = Live(tmp_path_factory.mktemp("monitor"))
    try:
        def ready() -> bool:
            s = lv.state()
            return bool(s["counters"]["decision_records"] > 20 and s["counters"]["fills"] >= 2
                        and s["confidence"]["source"] == "risk")

        try:
            wait_for(ready, "decision records, fills and risk status to reach the monitor", log=lv.log)
        except AssertionError as exc:
            f = lv.feeder
            raise AssertionError(f"{exc}\nfeeder: alive {f.is_alive()} error {f.error!r} steps {f.i} fills "
                                 f"{len(f.fills)}\nmonitor counters: {lv.state()['counters']}") from None
        yield lv
    finally:
        lv.close()


def _families(live: Live) -> dict[str, Any]:
    ctype, body = live.get("/metrics")
    assert ctype.startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def _sample(fams: dict[str, Any], name: str, **labels: str) -> float:
    for s in fams[name].samples:
        if s.name in (name, name + "_total") and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise KeyError(f"{name} {labels}")


def test_metrics_scrape(live: Live) -> None:
    procs = ("feed", "feature", "alpha", "execution", "risk", "monitor")
    # process health is sampled about once a second: wait for a sample that saw every beat
    fams = wait_for(lambda: (lambda f: f if all(_sample(f, "mm_process_up", process=p) == 1.0 for p in procs)
                             else None)(_families(live)), "every process up in /metrics", log=live.log)
    expected = {
        "mm_process_up", "mm_process_heartbeat_age_seconds", "mm_process_loop_rate_hz", "mm_process_restarts",
        "mm_process_overruns", "mm_process_latency_seconds", "mm_hop_latency_seconds", "mm_safety_level",
        "mm_safety_state", "mm_exposure_level", "mm_confidence", "mm_exec_mode", "mm_inventory_qty",
        "mm_inventory_limit_qty", "mm_pnl_usd", "mm_decision_cycles", "mm_fills", "mm_orders",
        "mm_kill_switch_tripped", "mm_rate_limit_ip_weight_used", "mm_rate_limit_address_cap",
        "mm_channel_published", "mm_channel_reader_lag", "mm_audit_records", "mm_postmortems",
    }
    assert expected <= set(fams), sorted(expected - set(fams))

    def value(name: str, **labels: str) -> float:
        return _sample(fams, name, **labels)

    assert value("mm_safety_level") == 0.0 and value("mm_kill_switch_tripped") == 0.0
    assert 0.0 <= value("mm_confidence", component="overall") <= 1.0
    assert value("mm_decision_cycles", symbol="BTC") > 0 and value("mm_orders", action="place") > 0
    assert value("mm_inventory_limit_qty", symbol="BTC") == 0.05
    assert value("mm_rate_limit_ip_weight_used") > 0
    buckets = [s for s in fams["mm_hop_latency_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["hop"] == "md_to_snapshot"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value > 0
    assert any(s.labels.get("channel") == "audit" for s in fams["mm_channel_published"].samples)


def test_dashboard_in_headless_chromium(live: Live, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    art = tmp_path_factory.mktemp("dashboard-artifacts")
    page = live.get("/")[1].decode()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page), "the page must load nothing external"
    live.feeder.frozen.set()  # prices and fills stand still: the PnL on the page can be compared exactly
    try:
        time.sleep(0.5)  # let the last moves reach the monitor's state
        before = live.state()
        r = run_chromium(chromium, art / "profile-dom", live.url + "/", "--dump-dom")
        assert r.returncode == 0, r.stderr[-2000:]
        dom = r.stdout
        shot = art / "dashboard.png"
        r2 = run_chromium(chromium, art / "profile-shot", live.url + "/", f"--screenshot={shot}")
        assert r2.returncode == 0, r2.stderr[-2000:]
        after = live.state()
    finally:
        live.feeder.frozen.clear()
    (art / "dashboard.html").write_text(dom)
    print(f"\ndashboard screenshot: {shot}\ndashboard DOM: {art / 'dashboard.html'}")
    assert shot.exists() and shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    m = re.search(r'<body[^>]*data-updates="(\d+)"', dom)
    assert m is not None and int(m.group(1)) >= 1, "the page's JS never applied a state"
    assert dom_text(dom, "conn") == "live"
    # header
    assert dom_text(dom, "safety-level") == before["levels"]["safety_name"] == "GREEN"
    assert dom_text(dom, "exposure-level") == before["levels"]["exposure_name"]
    assert dom_text(dom, "run-id") == live.run.run_id and dom_text(dom, "kill-switch") == "armed"
    # PnL: frozen, so the figure is the state's, to the cent
    total = before["pnl"]["total_usd"]
    assert after["pnl"]["total_usd"] == pytest.approx(total)
    shown = dom_text(dom, "pnl-total")
    assert float(shown) == pytest.approx(total, abs=0.006), (shown, total)
    assert before["counters"]["fills"] >= 2 and total != 0.0
    # confidence and its components
    conf = float(dom_text(dom, "confidence-overall"))
    assert abs(conf - before["confidence"]["overall"]) < 0.05
    for comp in ("model", "execution", "safety"):
        assert f'id="confidence-{comp}"' in dom
    # processes, each alive with its name
    for proc in ("feed", "feature", "alpha", "execution", "risk", "monitor", "supervisor"):
        row = re.search(rf'<tr id="proc-{proc}">(.*?)</tr>', dom, re.S)
        assert row is not None, proc
        assert ">running<" in row.group(1) and "(down)" not in row.group(1)
    # inventory rows against limits, mode timeline, latency histograms, decisions
    for sym in SYMBOLS:
        assert f'id="inventory-{sym}"' in dom
    assert "limit ±0.05" in dom and "limit ±1" in dom  # execution's max inventory, from the records
    assert 'id="timeline"' in dom
    for hop in ("md_to_snapshot", "md_to_signal", "md_to_decision", "signal_to_decision"):
        cap = re.search(rf'id="hist-{hop}">.*?<div class="cap">(.*?)</div>', dom, re.S)
        assert cap is not None and re.match(r"n \d+ · p50 ", cap.group(1)), hop
    decisions = re.search(r'<table id="decisions">.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert decisions is not None and "<tr>" in decisions.group(1) and "MAKER" in decisions.group(1)


def test_terminal_status_shows_the_essentials(live: Live) -> None:
    """What `mmctl status` prints from the monitor (mm.dashboard.render_text over /api/state)."""
    url = monitor_url(str(live.run_dir))
    assert url == live.url
    text = render_text(fetch_state(url))
    assert "safety GREEN" in text or "safety RED" in text or "safety KILL" in text
    assert "confidence 0." in text and "PnL " in text
    assert re.search(r"^BTC\s+\S+\s+0\.05 ", text, re.M) and re.search(r"^ETH\s+\S+\s+1 ", text, re.M)
    assert "processes: 7/7 alive" in text and "latency (bucket upper bounds): md_to_snapshot p50" in text
    assert "rate limit: IP weight" in text and "audit: " in text


def test_forced_red_and_kill_write_postmortems(live: Live) -> None:
    pm = live.state_dir / "postmortems"
    live.feeder.escalate(SafetyLevel.RED, "forced by the test: drawdown drill")
    bundle = wait_for(lambda: [p for p in pm.iterdir() if p.name.endswith("-red-safety")] if pm.exists() else None,
                      "a Red postmortem bundle", log=live.log)[0]
    summary = (bundle / "summary.md").read_text()
    assert "# Postmortem: RED" in summary and "forced by the test: drawdown drill" in summary
    for f in ("state.json", "positions.json", "open_orders.json", "timeline.json", "trigger.json"):
        assert (bundle / f).exists(), f
    state = json.loads((bundle / "state.json").read_text())
    assert state["levels"]["safety_name"] == "RED" and state["counters"]["decision_records"] > 0
    assert [p["symbol"] for p in json.loads((bundle / "positions.json").read_text())] == SYMBOLS
    recs = list(read_audit(bundle))
    assert sum(isinstance(r, CycleDecisionRecord) for r in recs) > 20
    s = wait_for(lambda: (lambda st: st if st["audit"]["postmortems"] >= 1 else None)(live.state()), "state")
    assert s["levels"]["safety_name"] == "RED" and s["audit"]["last_postmortem"] == str(bundle)
    # the kill switch trips: a Kill bundle too (a higher level than this episode's Red)
    live.run.ks.trip(99, "test", "kill drill", os.getpid(), time.monotonic_ns(), time.time_ns())
    # whichever the monitor sees first, the switch itself or risk's ControlState at KILL, names the bundle
    kill = wait_for(lambda: [p for p in pm.iterdir() if "-kill-" in p.name], "a Kill bundle", log=live.log)[0]
    text = (kill / "summary.md").read_text()
    assert "# Postmortem: KILL" in text and "kill drill" in text
    assert ("Kill switch tripped" in text) if kill.name.endswith("kill_switch") else ("RED -> KILL" in text)
    fams = wait_for(lambda: (lambda f: f if _sample(f, "mm_kill_switch_tripped") == 1.0 else None)(_families(live)),
                    "the trip in /metrics", log=live.log)
    assert _sample(fams, "mm_postmortems") >= 2.0 and _sample(fams, "mm_safety_level") >= 3.0


def test_audit_files_answer_mmctl_audit(live: Live) -> None:
    fills = list(live.feeder.fills)
    assert fills, "the feeder made fills"
    assert live.stop_monitor() == 0, live.log.read_text()[-3000:]
    assert not (live.run_dir / "monitor.json").exists()
    audit = live.state_dir / "audit"
    assert list(audit.glob("audit-*.mmrec"))

    def mmctl_audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mm.cli.audit", "--config", str(live.config), *args],
                              capture_output=True, text=True, timeout=60, cwd=REPO)

    r = mmctl_audit("--symbol", "ETH", "--limit", "5")
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if x.startswith("20")]
    assert len(lines) == 5 and all(" ETH " in x for x in lines)
    r = mmctl_audit("--mode", "maker", "--since", "30m", "--json", "--limit", "0")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert rows and all(x["mode_name"] == "MAKER" for x in rows)
    f = fills[0]
    r = mmctl_audit("--fill-id", str(f.trade_id))
    assert r.returncode == 0, r.stderr
    assert re.search(r"placed by cycle #\d+", r.stdout) and f.cloid in r.stdout, r.stdout
    r = mmctl_audit("--summary")
    assert r.returncode == 0 and "decision cycles" in r.stdout and "RED" in r.stdout
