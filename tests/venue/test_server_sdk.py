"""The official SDK drives the paper venue over loopback: signed orders, amends, cancels, info."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

from mm.venues.sim.server import ThreadedVenue

from .conftest import AGENT, OTHER, OTHER_KEY, STRANGER, USER, USER_KEY, post_signed, trade

ERR_MISSING = "Order was never placed, already canceled, or filled. asset=0"


def ex(venue: ThreadedVenue, wallet: Any = USER, **kw: Any) -> Exchange:
    return Exchange(wallet, venue.url, timeout=10, **kw)


def info(venue: ThreadedVenue) -> Info:
    return Info(venue.url, skip_ws=True, timeout=10)


def statuses(resp: dict[str, Any], kind: str = "order") -> list[Any]:
    assert resp["status"] == "ok", resp
    assert resp["response"]["type"] == kind
    assert set(resp["response"]) == {"type", "data"} and set(resp["response"]["data"]) == {"statuses"}
    return list(resp["response"]["data"]["statuses"])


def test_sdk_startup_meta_and_spot_meta(venue: ThreadedVenue) -> None:
    i = info(venue)
    assert i.meta()["universe"][0] == {"name": "BTC", "szDecimals": 5, "maxLeverage": 40, "onlyIsolated": False}
    assert i.spot_meta() == {"universe": [], "tokens": []}
    assert i.name_to_asset("LOT") == 2 and i.asset_to_sz_decimals[1] == 4
    mids = i.all_mids()
    assert mids["BTC"] == "100000.5" and mids["LOT"] == "20.005"
    book = i.l2_snapshot("BTC")
    assert book["coin"] == "BTC" and isinstance(book["time"], int)
    assert book["levels"][0][0] == {"px": "100000.0", "sz": "1.0", "n": 1}
    assert book["levels"][1][:2] == [{"px": "100001.0", "sz": "1.0", "n": 1}, {"px": "100002.0", "sz": "2.0", "n": 1}]


def test_place_amend_cancel_with_documented_shapes(venue: ThreadedVenue) -> None:
    e = ex(venue)
    i = info(venue)
    cloid = Cloid.from_int(7)
    r = e.order("BTC", True, 0.001, 99990.0, {"limit": {"tif": "Gtc"}}, cloid=cloid)
    (st,) = statuses(r)
    assert set(st) == {"resting"} and set(st["resting"]) == {"oid", "cloid"}
    oid = st["resting"]["oid"]
    assert st["resting"]["cloid"] == cloid.to_raw()
    (oo,) = i.open_orders(USER.address)
    assert oo == {"coin": "BTC", "limitPx": "99990.0", "oid": oid, "side": "B", "sz": "0.001",
                  "timestamp": oo["timestamp"], "cloid": cloid.to_raw()}
    (fo,) = i.frontend_open_orders(USER.address)
    assert fo["origSz"] == "0.001" and fo["orderType"] == "Limit" and fo["tif"] == "Gtc" and fo["isTrigger"] is False
    q = i.query_order_by_cloid(USER.address, cloid)
    assert q["status"] == "order" and q["order"]["status"] == "open" and q["order"]["order"]["oid"] == oid
    assert i.query_order_by_oid(USER.address, 123) == {"status": "unknownOid"}

    # amend: the SDK's modify_order sends batchModify; a new oid, the same cloid
    r = e.modify_order(oid, "BTC", True, 0.002, 99991.0, {"limit": {"tif": "Gtc"}}, cloid=cloid)
    (st,) = statuses(r)
    new_oid = st["resting"]["oid"]
    assert new_oid != oid
    assert i.query_order_by_oid(USER.address, oid)["order"]["status"] == "canceled"
    assert i.query_order_by_cloid(USER.address, cloid)["order"]["order"]["oid"] == new_oid
    (oo,) = i.open_orders(USER.address)
    assert (oo["limitPx"], oo["sz"]) == ("99991.0", "0.002")
    # batch modify by cloid plus a dead oid: one status each, in order
    r = e.bulk_modify_orders_new([
        {"oid": cloid, "order": {"coin": "BTC", "is_buy": True, "sz": 0.003, "limit_px": 99992.0,
                                 "order_type": {"limit": {"tif": "Gtc"}}, "reduce_only": False, "cloid": cloid}},
        {"oid": oid, "order": {"coin": "BTC", "is_buy": True, "sz": 0.003, "limit_px": 99992.0,
                               "order_type": {"limit": {"tif": "Gtc"}}, "reduce_only": False}},
    ])
    first, second = statuses(r)
    assert "resting" in first
    assert second == {"error": "Cannot modify canceled or filled order asset=0"}
    newest = first["resting"]["oid"]

    # cancel by oid and by cloid
    assert statuses(e.cancel("BTC", newest), "cancel") == ["success"]
    assert statuses(e.cancel("BTC", newest), "cancel") == [{"error": ERR_MISSING}]
    r = e.order("ETH", False, 0.01, 3001.0, {"limit": {"tif": "Alo"}}, cloid=Cloid.from_int(8))
    assert "resting" in statuses(r)[0]
    assert statuses(e.cancel_by_cloid("ETH", Cloid.from_int(8)), "cancel") == ["success"]
    assert statuses(e.cancel_by_cloid("ETH", Cloid.from_int(8)), "cancel") == [
        {"error": "Order was never placed, already canceled, or filled. asset=1"}]
    assert i.open_orders(USER.address) == []


def test_fills_positions_and_fees_shapes(venue: ThreadedVenue) -> None:
    e = ex(venue)
    i = info(venue)
    r = e.order("BTC", True, 1.5, 100002.0, {"limit": {"tif": "Ioc"}})
    (st,) = statuses(r)
    assert set(st) == {"filled"} and set(st["filled"]) == {"totalSz", "avgPx", "oid"}
    assert st["filled"]["totalSz"] == "1.5"
    assert st["filled"]["avgPx"] == "100001.33333333"  # 1.0 @ 100001 + 0.5 @ 100002
    r = e.market_open("ETH", False, 0.5)  # the SDK's market order: IOC at mid minus 5%
    (st,) = statuses(r)
    assert st["filled"]["totalSz"] == "0.5" and st["filled"]["avgPx"] == "3000.0"
    fills = i.user_fills(USER.address)
    assert len(fills) == 3
    newest = fills[0]
    assert set(newest) == {"coin", "px", "sz", "side", "time", "startPosition", "dir", "closedPnl", "hash", "oid",
                           "crossed", "fee", "tid", "feeToken"}
    assert (newest["coin"], newest["side"], newest["dir"], newest["crossed"], newest["feeToken"]) == (
        "ETH", "A", "Open Short", True, "USDC")
    assert float(newest["fee"]) == pytest.approx(0.5 * 3000.0 * 0.00045, abs=1e-6)
    assert newest["hash"].startswith("0x") and len(newest["hash"]) == 66 and newest["tid"] < 2**50
    state = i.user_state(USER.address)
    by_coin = {p["position"]["coin"]: p["position"] for p in state["assetPositions"]}
    assert by_coin["BTC"]["szi"] == "1.5" and by_coin["ETH"]["szi"] == "-0.5"
    assert by_coin["BTC"]["leverage"] == {"type": "cross", "value": 20}
    assert all(p["type"] == "oneWay" for p in state["assetPositions"])
    assert set(state["marginSummary"]) == {"accountValue", "totalNtlPos", "totalRawUsd", "totalMarginUsed"}
    assert float(state["marginSummary"]["totalNtlPos"]) > 1500
    # the SDK's market_close reads the position and sends a reduce-only IOC
    r = e.market_close("ETH")
    assert statuses(r)[0]["filled"]["totalSz"] == "0.5"
    assert i.user_fills(USER.address)[0]["dir"] == "Close Short"
    # update leverage (an L1 action of its own)
    assert e.update_leverage(5, "BTC") == {"status": "ok", "response": {"type": "default"}}
    assert i.user_state(USER.address)["assetPositions"][0]["position"]["leverage"]["value"] == 5


def test_agent_signs_for_its_user(venue: ThreadedVenue) -> None:
    e = ex(venue, AGENT, account_address=USER.address)
    (st,) = statuses(e.order("LOT", True, 1, 19.5, {"limit": {"tif": "Gtc"}}))
    assert "resting" in st
    assert [o["oid"] for o in info(venue).open_orders(USER.address)] == [st["resting"]["oid"]]
    assert info(venue).open_orders(AGENT.address) == []


def test_wrong_key_is_refused_with_hl_error(venue: ThreadedVenue) -> None:
    r = ex(venue, STRANGER).order("BTC", True, 0.001, 99990.0, {"limit": {"tif": "Gtc"}})
    assert r == {"status": "err", "response": f"User or API Wallet {STRANGER.address.lower()} does not exist."}
    # a known key signing as mainnet (source "a") recovers as a different, unknown address
    action = {"type": "cancel", "cancels": [{"a": 0, "o": 1}]}
    nonce = int(time.time() * 1000)
    resp = post_signed(venue.url, USER_KEY, action, nonce, source="a").json()
    assert resp["status"] == "err" and resp["response"].startswith("User or API Wallet 0x")
    assert USER.address.lower() not in resp["response"]


def test_reused_and_stale_nonces_are_refused(venue: ThreadedVenue) -> None:
    action = {"type": "cancel", "cancels": [{"a": 0, "o": 1}]}
    nonce = int(time.time() * 1000)
    first = post_signed(venue.url, USER_KEY, action, nonce).json()
    assert statuses(first, "cancel") == [{"error": ERR_MISSING}]
    again = post_signed(venue.url, USER_KEY, action, nonce).json()
    assert again == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    old = nonce - 3 * 86_400_000
    stale = post_signed(venue.url, USER_KEY, action, old).json()
    assert stale["status"] == "err" and stale["response"].startswith(f"Invalid nonce: nonce too low {old} < ")
    future = nonce + 2 * 86_400_000
    assert post_signed(venue.url, USER_KEY, action, future).json()["response"].startswith("Invalid nonce: nonce too high")
    # a different signer has its own nonce set
    assert post_signed(venue.url, OTHER_KEY, action, nonce).json()["status"] == "ok"
    # the same nonce for the same signer after 100 newer ones: too low
    for k in range(1, 101):
        assert post_signed(venue.url, OTHER_KEY, action, nonce + k).json()["status"] == "ok"
    low = post_signed(venue.url, OTHER_KEY, action, nonce - 1).json()
    assert low == {"status": "err", "response": f"Invalid nonce: nonce too low {nonce - 1} < {nonce + 1}"}
    expired = post_signed(venue.url, USER_KEY, action, nonce + 500, expires_after=nonce - 1000).json()
    assert expired == {"status": "err", "response": "Action already expired"}


def test_tick_lot_and_notional_errors_have_hl_strings(venue: ThreadedVenue) -> None:
    e = ex(venue)
    (st,) = statuses(e.order("BTC", True, 0.001, 99990.5, {"limit": {"tif": "Gtc"}}))  # 6 significant figures
    assert st == {"error": "Price must be divisible by tick size. asset=0"}
    (st,) = statuses(e.order("ETH", True, 0.00001, 3000.0, {"limit": {"tif": "Gtc"}}))
    assert st == {"error": "Order has invalid size. asset=1"}
    (st,) = statuses(e.order("LOT", True, 1, 9.0, {"limit": {"tif": "Gtc"}}))
    assert st == {"error": "Order must have minimum value of $10. asset=2"}
    (st,) = statuses(e.order("BTC", True, 0.001, 99990.0, {"limit": {"tif": "Ioc"}}))
    assert st == {"error": "Order could not immediately match against any resting orders. asset=0"}
    (st,) = statuses(e.order("BTC", False, 0.001, 100010.0, {"limit": {"tif": "Gtc"}}, reduce_only=True))
    assert st == {"error": "Reduce only order would increase position. asset=0"}


def test_alo_that_would_cross_is_rejected_with_bbo(venue: ThreadedVenue) -> None:
    e = ex(venue)
    cloid = Cloid.from_int(99)
    (st,) = statuses(e.order("BTC", True, 0.001, 100001.0, {"limit": {"tif": "Alo"}}, cloid=cloid))
    assert st == {"error": "Post only order would have immediately matched, bbo was 100000@100001. asset=0"}
    assert info(venue).query_order_by_cloid(USER.address, cloid)["order"]["status"] == "badAloPxRejected"
    (st,) = statuses(e.order("ETH", False, 0.01, 3000.0, {"limit": {"tif": "Alo"}}))
    assert st == {"error": "Post only order would have immediately matched, bbo was 3000@3000.1. asset=1"}


def test_queue_position_over_loopback(venue: ThreadedVenue) -> None:
    e = ex(venue)
    i = info(venue)
    (st,) = statuses(e.order("LOT", True, 1, 20.0, {"limit": {"tif": "Gtc"}}))  # behind the 5 lots shown at 20
    assert i.l2_snapshot("LOT")["levels"][0][0] == {"px": "20.0", "sz": "6.0", "n": 2}
    venue.apply(trade("LOT", False, 20.0, 3), trade("LOT", False, 20.0, 2))  # 5 lots trade ahead of us
    assert i.user_fills(USER.address) == []
    venue.apply(trade("LOT", False, 20.0, 1))
    (fill,) = i.user_fills(USER.address)
    assert (fill["oid"], fill["px"], fill["sz"], fill["crossed"]) == (st["resting"]["oid"], "20.0", "1.0", False)
    assert float(fill["fee"]) == pytest.approx(20.0 * 0.00015, abs=1e-6)  # maker


def test_queue_position_advances_on_cancels_ahead(venue: ThreadedVenue) -> None:
    from .conftest import snapshot

    e = ex(venue)
    i = info(venue)
    statuses(e.order("LOT", False, 2, 20.01, {"limit": {"tif": "Gtc"}}))  # behind 5
    venue.apply(snapshot("LOT", [(20.0, 5)], [(20.01, 0.0), (20.02, 5)]))  # all 5 ahead cancelled
    assert i.user_fills(USER.address) == []
    venue.apply(trade("LOT", True, 20.01, 1))
    assert [f["sz"] for f in i.user_fills(USER.address)] == ["1.0"]


def test_undeserializable_bodies_get_422_plain_text(venue: ThreadedVenue) -> None:
    for path, body in [("/exchange", b"{not json"), ("/exchange", json.dumps({"action": {"type": "dance"}}).encode()),
                       ("/info", b'{"type":"nope"}'), ("/info", b"[]")]:
        r = requests.post(venue.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 422
        assert r.text == "Failed to deserialize the JSON body into the target type"
        assert r.headers["Content-Type"].startswith("text/plain")


def test_self_trade_and_user_vs_user_matching(venue: ThreadedVenue) -> None:
    a = ex(venue)
    b = ex(venue, OTHER)
    i = info(venue)
    (rest,) = statuses(a.order("LOT", False, 2, 20.005, {"limit": {"tif": "Gtc"}}))
    (st,) = statuses(b.order("LOT", True, 3, 20.01, {"limit": {"tif": "Ioc"}}))
    assert st["filled"]["totalSz"] == "3.0" and st["filled"]["avgPx"] == "20.00666667"
    maker = i.user_fills(USER.address)[0]
    assert (maker["oid"], maker["crossed"], maker["sz"]) == (rest["resting"]["oid"], False, "2.0")
    (st,) = statuses(a.order("LOT", True, 1, 20.001, {"limit": {"tif": "Gtc"}}))  # the best bid now
    (st2,) = statuses(a.order("LOT", False, 1, 20.0, {"limit": {"tif": "Ioc"}}))  # would hit its own bid first
    assert i.query_order_by_oid(USER.address, st["resting"]["oid"])["order"]["status"] == "selfTradeCanceled"
    assert st2["filled"]["avgPx"] == "20.0"  # then the background bid


def test_schedule_cancel_rules(make_venue: Any) -> None:
    v = make_venue(schedule_cancel={"volume_gate_usd": 1_000_000.0})
    e = ex(v)
    r = e.schedule_cancel(int(time.time() * 1000) + 60_000)
    assert r == {"status": "err", "response": "Cannot set scheduled cancel time until enough volume traded. "
                                             "Required: $1000000. Traded: $0.00000."}
    v2 = make_venue(schedule_cancel={"min_lead_ms": 300})
    e2 = ex(v2)
    assert e2.schedule_cancel(int(time.time() * 1000) + 10)["response"] == (
        "Scheduled cancel time too early, must be at least 5 seconds from now.")
    (st,) = statuses(e2.order("LOT", True, 1, 19.0, {"limit": {"tif": "Gtc"}}))
    assert e2.schedule_cancel(int(time.time() * 1000) + 400) == {"status": "ok", "response": {"type": "default"}}
    oid = st["resting"]["oid"]
    got = _wait_status(v2, oid, "scheduledCancel")
    assert got == "scheduledCancel"
    assert e2.schedule_cancel(None) == {"status": "ok", "response": {"type": "default"}}


def _wait_status(v: ThreadedVenue, oid: int, want: str) -> str:
    from .conftest import wait_for

    i = info(v)
    return str(wait_for(lambda: (s := i.query_order_by_oid(USER.address, oid)["order"]["status"]) == want and s,
                        what=f"order {oid} to become {want}"))


def test_sdk_error_handling_of_our_http_statuses(make_venue: Any) -> None:
    from hyperliquid.utils.error import ClientError, ServerError

    v = make_venue(failures={"disconnect_http": True})
    e = ex(v)
    v.call(lambda s: s.trigger_disconnect(60_000))
    with pytest.raises(ServerError):
        e.order("BTC", True, 0.001, 99990.0, {"limit": {"tif": "Gtc"}})
    v2 = make_venue(failures={"quota_429_probability": 1.0})
    meta = {"universe": [{"name": "BTC", "szDecimals": 5}]}
    e2 = Exchange(USER, v2.url, meta=meta, spot_meta={"universe": [], "tokens": []}, timeout=10)  # type: ignore[arg-type]
    with pytest.raises(ClientError) as exc:
        e2.order("BTC", True, 0.001, 99990.0, {"limit": {"tif": "Gtc"}})
    assert exc.value.status_code == 429


def test_info_user_rate_limit_and_fees(venue: ThreadedVenue) -> None:
    r = requests.post(venue.url + "/info", json={"type": "userRateLimit", "user": USER.address}, timeout=10).json()
    assert r == {"cumVlm": "0.0", "nRequestsUsed": 0, "nRequestsCap": 10000}
    f = requests.post(venue.url + "/info", json={"type": "userFees", "user": USER.address}, timeout=10).json()
    assert (f["userCrossRate"], f["userAddRate"]) == ("0.00045", "0.00015")
    ctx = requests.post(venue.url + "/info", json={"type": "metaAndAssetCtxs"}, timeout=10).json()
    assert ctx[0]["universe"][2]["name"] == "LOT" and ctx[1][0]["midPx"] == "100000.5"
    agg = requests.post(venue.url + "/info", json={"type": "l2Book", "coin": "ETH", "nSigFigs": 3}, timeout=10).json()
    assert agg["levels"][0] == [{"px": "3000.0", "sz": "10.0", "n": 1}, {"px": "2990.0", "sz": "5.0", "n": 1}]
    assert agg["levels"][1] == [{"px": "3010.0", "sz": "15.0", "n": 2}]
    _ = requests


def test_block_order_lets_a_cancel_beat_the_taker(make_venue: Any) -> None:
    import threading

    from .conftest import wait_for

    v = make_venue(matching={"block_ms": 20})
    maker = ex(v, OTHER)
    taker = ex(v)
    (rest,) = statuses(maker.order("LOT", False, 1, 20.005, {"limit": {"tif": "Gtc"}}))
    v.call(lambda s: s.hold_blocks(True))
    results: dict[str, Any] = {}
    t1 = threading.Thread(target=lambda: results.update(ioc=taker.order("LOT", True, 1, 20.01,
                                                                          {"limit": {"tif": "Ioc"}})))
    t1.start()
    wait_for(lambda: v.call(lambda s: s.n_queued_actions) == 1, what="the IOC queued")
    t2 = threading.Thread(target=lambda: results.update(cancel=maker.cancel("LOT", rest["resting"]["oid"])))
    t2.start()
    wait_for(lambda: v.call(lambda s: s.n_queued_actions) == 2, what="the cancel queued")
    v.call(lambda s: s.hold_blocks(False))
    t1.join(30)
    t2.join(30)
    # sent second, the cancel went first within the block: the IOC met the background at 20.01
    assert statuses(results["cancel"], "cancel") == ["success"]
    assert statuses(results["ioc"])[0]["filled"]["avgPx"] == "20.01"
    assert info(v).user_fills(OTHER.address) == []
