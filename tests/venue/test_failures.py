"""Each failure mode of the paper venue, switched on, is observed by a client (and off by default)."""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Any

import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.error import ClientError
from websockets.exceptions import InvalidStatus

from mm.venues.sim.config import EnhancedSimConfig, LatencyConfig
from mm.venues.sim.failures import FailureModel
from mm.venues.sim.latency import LatencyModel

from .conftest import USER, wait_for
from .test_server_ws import Raw, ws_url

GTC = {"limit": {"tif": "Gtc"}}
ALO = {"limit": {"tif": "Alo"}}


def ex(v: Any) -> Exchange:
    return Exchange(USER, v.url, timeout=30)


def status0(resp: dict[str, Any]) -> Any:
    assert resp["status"] == "ok", resp
    return resp["response"]["data"]["statuses"][0]


def test_latency_model_distribution() -> None:
    # the design notes' parametrisation (mean 150 ms, sd 50 ms, 1% spikes); the default fit to
    # Hyperliquid's documented median/p99 is tested in tests/realism/test_latency.py
    cfg = LatencyConfig(enabled=True, mean_ms=150.0, std_ms=50.0, spike_probability=0.01)
    m = LatencyModel(cfg, random.Random(1))
    xs = [m.sample_ms() for _ in range(20_000)]
    base = [x for x in xs if x < 400]
    spikes = len(xs) - len(base)
    assert statistics.mean(base) == pytest.approx(150, rel=0.05)
    assert statistics.pstdev(base) == pytest.approx(50, rel=0.1)
    assert spikes / len(xs) == pytest.approx(0.01, abs=0.004)
    assert max(xs) < 150 * 10 + 2000
    assert LatencyModel(LatencyConfig(enabled=False), random.Random(1)).sample_ms() == 0.0


def test_failure_model_rates_and_switches() -> None:
    off = FailureModel(EnhancedSimConfig(), random.Random(2))
    assert off.order_rejection() is None and off.margin_cancel_delay_ms() is None and not off.spurious_429()
    assert off.disconnect_ms(10.0) is None and not off.post_only_only(0.0)
    on = FailureModel(EnhancedSimConfig.seed_002(), random.Random(2))
    rejected = sum(on.order_rejection() is not None for _ in range(20_000))
    assert rejected / 20_000 == pytest.approx(0.02, abs=0.005)
    drops = sum(on.disconnect_ms(1.0) is not None for _ in range(200_000))
    assert drops / 200_000 == pytest.approx(0.0001, abs=0.00006)
    w = FailureModel(EnhancedSimConfig(post_only_windows_s=((10.0, 5.0),)), random.Random(0))
    assert [w.post_only_only(t) for t in (9.9, 10.0, 14.9, 15.0)] == [False, True, True, False]


def test_latency_delays_the_reply(make_venue: Any) -> None:
    v = make_venue(latency={"enabled": True, "mean_ms": 300.0, "std_ms": 1.0, "spike_probability": 1.0,
                            "spike_min_ms": 400.0, "spike_max_ms": 400.0})
    e = ex(v)
    i = Info(v.url, skip_ws=True, timeout=30)
    seen_before_reply: list[bool] = []
    done = threading.Event()

    def watch() -> None:  # what another client sees while the order is in flight
        while not done.is_set():
            seen_before_reply.append(bool(i.open_orders(USER.address)))
            time.sleep(0.02)

    t0 = time.monotonic()
    watcher = threading.Thread(target=watch)
    watcher.start()
    r = e.order("LOT", True, 1, 19.0, GTC)
    elapsed = time.monotonic() - t0
    done.set()
    watcher.join()
    assert "resting" in status0(r)
    assert elapsed >= 0.65  # 300 ms log-normal plus a 400 ms spike (a lower bound only)
    assert seen_before_reply and seen_before_reply[0] is False  # not on the book before the delay passed
    t0 = time.monotonic()
    e.cancel("LOT", status0(r)["resting"]["oid"])
    assert time.monotonic() - t0 >= 0.65  # cancels are delayed too


def test_random_rejections(make_venue: Any) -> None:
    v = make_venue(failures={"rejection_rate": 1.0, "rejection_messages": ["Insufficient margin to place order."]})
    e = ex(v)
    assert status0(e.order("BTC", True, 0.001, 99990.0, GTC)) == {"error": "Insufficient margin to place order. asset=0"}
    assert Info(v.url, skip_ws=True, timeout=30).open_orders(USER.address) == []
    assert v.call(lambda s: s.stats["random_rejections"]) == 1


def test_margin_cancels(make_venue: Any) -> None:
    v = make_venue(failures={"margin_cancel_rate": 1.0, "margin_cancel_delay_ms": [100.0, 100.0]})
    raw = Raw(ws_url(v))
    try:
        raw.send({"method": "subscribe", "subscription": {"type": "orderUpdates", "user": USER.address}})
        wait_for(lambda: raw.on("subscriptionResponse"), what="subscribed")
        oid = status0(ex(v).order("LOT", True, 1, 19.0, GTC))["resting"]["oid"]
        i = Info(v.url, skip_ws=True, timeout=30)
        wait_for(lambda: i.query_order_by_oid(USER.address, oid)["order"]["status"] == "marginCanceled",
                 what="margin cancel")
        wait_for(lambda: any(u["status"] == "marginCanceled" for f in raw.on("orderUpdates") for u in f["data"]),
                 what="marginCanceled push")
        assert i.open_orders(USER.address) == []
    finally:
        raw.close()


def test_random_429s_and_ip_weight(make_venue: Any) -> None:
    v = make_venue(rate_limits={"enabled": True, "ip_weight_per_min": 60})
    i = Info(v.url, skip_ws=True, timeout=30)  # spotMeta + meta: 40
    for _ in range(10):
        i.l2_snapshot("BTC")  # 2 each
    with pytest.raises(ClientError) as exc:
        i.l2_snapshot("BTC")
    assert exc.value.status_code == 429
    assert v.call(lambda s: s.stats["http_429"]) == 1


def test_address_budget(make_venue: Any) -> None:
    v = make_venue(rate_limits={"enabled": True, "address_initial_requests": 2})
    e = ex(v)
    oids = [status0(e.order("LOT", True, 1, 19.0, GTC))["resting"]["oid"] for _ in range(2)]
    # past the cap one request trickles through every trickle_interval_s (10 s), the next is refused
    assert "resting" in status0(e.order("LOT", True, 1, 19.0, GTC))
    r = e.order("LOT", True, 1, 19.0, GTC)
    assert r == {"status": "err", "response": "Too many cumulative requests sent (4 > 2) for cumulative volume "
                                             "traded $0.00. Place taker orders to free up 1 request per USDC traded."}
    assert status0(e.cancel("LOT", oids[0])) == "success"  # cancels still go through
    limits = Info(v.url, skip_ws=True, timeout=30).post("/info", {"type": "userRateLimit", "user": USER.address})
    assert limits["nRequestsUsed"] == 4 and limits["nRequestsCap"] == 2


def test_triggered_disconnect_drops_websockets_and_refuses_reconnects(venue: Any) -> None:
    raw = Raw(ws_url(venue))
    try:
        wait_for(lambda: raw.texts, what="connected")
        venue.call(lambda s: s.trigger_disconnect(1500))
        wait_for(lambda: raw.closed_code is not None, what="drop")
        assert raw.closed_code == 1006  # no close frame: an abnormal closure
        with pytest.raises(InvalidStatus) as exc:
            Raw(ws_url(venue))
        assert exc.value.response.status_code == 503
        assert Info(venue.url, skip_ws=True, timeout=30).all_mids()  # HTTP still answers (disconnect_http off)
        again = wait_for(lambda: _try_connect(ws_url(venue)), what="reconnect after the outage")
        again.close()
    finally:
        raw.close()


def _try_connect(url: str) -> Raw | None:
    try:
        return Raw(url)
    except InvalidStatus:
        return None


def test_random_disconnects(make_venue: Any) -> None:
    v = make_venue(failures={"disconnect_probability_per_s": 0.5, "disconnect_duration_ms": [200.0, 200.0]})
    dropped = False
    deadline = time.monotonic() + 40
    while not dropped and time.monotonic() < deadline:
        raw = wait_for(lambda: _try_connect(ws_url(v)), what="connect")
        wait_for(lambda r=raw: r.closed_code is not None, timeout_s=40, what="random drop")
        dropped = raw.closed_code == 1006
        raw.close()
    assert dropped
    assert v.call(lambda s: s.stats["outages"]) >= 1


def test_post_only_window(make_venue: Any) -> None:
    v = make_venue(failures={"post_only_windows_s": [[0.0, 3600.0]]})
    e = ex(v)
    assert status0(e.order("LOT", True, 1, 19.0, GTC)) == {
        "error": "Only post-only orders allowed immediately after a network upgrade asset=2"}
    assert "resting" in status0(e.order("LOT", True, 1, 19.0, ALO))
