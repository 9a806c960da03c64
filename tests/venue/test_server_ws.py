"""The venue's websocket as the SDK and a raw client see it: routing, shapes, post, heartbeat."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.websocket_manager import ws_msg_to_identifier
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules, signing
from mm.venues.sim.server import ThreadedVenue

from .conftest import USER, USER_KEY, snapshot, trade, wait_for


def ws_url(venue: ThreadedVenue) -> str:
    return "ws" + venue.url[len("http"):] + "/ws"


class Raw:
    """A raw websocket client that keeps every frame it receives (parsed) in order."""

    def __init__(self, url: str) -> None:
        self.conn: ClientConnection = connect(url, open_timeout=10, close_timeout=2)
        self.frames: list[Any] = []
        self.texts: list[str] = []
        self.closed_code: int | None = None
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        try:
            while True:
                text = self.conn.recv()
                assert isinstance(text, str), "frames must be text"
                self.texts.append(text)
                if text != "Websocket connection established.":
                    self.frames.append(json.loads(text))
        except ConnectionClosed as exc:
            self.closed_code = exc.rcvd.code if exc.rcvd is not None else 1006

    def send(self, obj: Any) -> None:
        self.conn.send(json.dumps(obj))

    def on(self, channel: str) -> list[Any]:
        return [f for f in self.frames if f.get("channel") == channel]

    def close(self) -> None:
        self.conn.close()


def test_sdk_subscriptions_route_and_deliver(venue: ThreadedVenue) -> None:
    got: dict[str, list[Any]] = defaultdict(list)
    info = Info(venue.url, timeout=10)
    try:
        for sub in ({"type": "l2Book", "coin": "LOT"}, {"type": "trades", "coin": "LOT"}, {"type": "bbo", "coin": "LOT"},
                    {"type": "orderUpdates", "user": USER.address}, {"type": "userFills", "user": USER.address},
                    {"type": "activeAssetCtx", "coin": "LOT"}, {"type": "allMids"}):
            info.subscribe(sub, lambda m, t=sub["type"]: got[t].append(m))  # type: ignore[arg-type,misc]
        wait_for(lambda: got["l2Book"] and got["bbo"] and got["userFills"] and got["activeAssetCtx"],
                 what="initial snapshots")
        assert got["userFills"][0]["data"]["isSnapshot"] is True
        e = Exchange(USER, venue.url, timeout=10)
        r = e.order("LOT", True, 1, 20.0, {"limit": {"tif": "Gtc"}})
        oid = r["response"]["data"]["statuses"][0]["resting"]["oid"]
        venue.apply(trade("LOT", False, 20.0, 6))  # 5 ahead, then us
        wait_for(lambda: got["orderUpdates"] and got["trades"] and len(got["userFills"]) >= 2, what="order flow")
        statuses = [u["status"] for m in got["orderUpdates"] for u in m["data"]]
        assert statuses[:1] == ["open"] and "filled" in statuses
        fill = got["userFills"][-1]["data"]
        assert fill["user"] == USER.address.lower() and not fill.get("isSnapshot")
        assert fill["fills"][0]["oid"] == oid
        assert got["trades"][-1]["data"][0]["coin"] == "LOT"
        venue.apply(snapshot("LOT", [(20.0, 2)], [(20.03, 5)]))  # the bbo changes
        wait_for(lambda: any(m["data"]["bbo"][1] and m["data"]["bbo"][1]["px"] == "20.03" for m in got["bbo"]),
                 what="bbo push")
        wait_for(lambda: any(m["data"]["levels"][1][0]["px"] == "20.03" for m in got["l2Book"]), what="l2Book push")
        assert got["allMids"][0]["data"]["mids"]["LOT"]
    finally:
        info.disconnect_websocket()


def test_raw_frames_have_the_shapes_the_sdk_routes(venue: ThreadedVenue) -> None:
    raw = Raw(ws_url(venue))
    try:
        wait_for(lambda: raw.texts, what="banner")
        assert raw.texts[0] == "Websocket connection established."
        subs = [{"type": "l2Book", "coin": "LOT"}, {"type": "trades", "coin": "LOT"}, {"type": "bbo", "coin": "LOT"},
                {"type": "orderUpdates", "user": USER.address}, {"type": "userFills", "user": USER.address}]
        for sub in subs:
            raw.send({"method": "subscribe", "subscription": sub})
        wait_for(lambda: len(raw.on("subscriptionResponse")) == 5, what="subscription responses")
        assert raw.on("subscriptionResponse")[0]["data"] == {"method": "subscribe", "subscription": subs[0]}
        e = Exchange(USER, venue.url, timeout=10)
        e.order("LOT", True, 1, 20.0, {"limit": {"tif": "Gtc"}}, cloid=None)
        venue.apply(trade("LOT", False, 20.0, 7, tid=424242))
        wait_for(lambda: raw.on("orderUpdates") and len(raw.on("userFills")) >= 2 and raw.on("trades"),
                 what="pushes")
        for f in raw.frames:  # every frame routes in the SDK without raising
            ws_msg_to_identifier(f)
        (book,) = raw.on("l2Book")[:1]
        bids, asks = book["data"]["levels"]
        assert bids[0] == {"px": "20.0", "sz": "5.0", "n": 1} and set(asks[0]) == {"px", "sz", "n"}
        assert ws_msg_to_identifier(book) == "l2Book:lot"
        t = raw.on("trades")[0]["data"][0]
        assert set(t) == {"coin", "side", "px", "sz", "hash", "time", "tid", "users"}
        assert (t["side"], t["px"], t["sz"], t["tid"]) == ("A", "20.0", "7.0", 424242)
        bbo = raw.on("bbo")[0]["data"]
        assert set(bbo) == {"coin", "time", "bbo"} and bbo["bbo"][0]["px"] == "20.0"
        first, later = raw.on("userFills")[0]["data"], raw.on("userFills")[1]["data"]
        assert first["isSnapshot"] is True and first["user"] == USER.address.lower()
        assert "isSnapshot" not in later and ws_msg_to_identifier(raw.on("userFills")[1]) == f"userFills:{USER.address.lower()}"
        upd = raw.on("orderUpdates")[0]["data"][0]
        assert set(upd) == {"order", "status", "statusTimestamp"} and upd["status"] == "open"
        assert {"coin", "side", "limitPx", "sz", "oid", "timestamp", "origSz"} <= set(upd["order"])
        # unsubscribe
        raw.send({"method": "unsubscribe", "subscription": subs[1]})
        wait_for(lambda: len(raw.on("subscriptionResponse")) == 6, what="unsubscribe response")
        n_trades = len(raw.on("trades"))
        venue.apply(trade("LOT", True, 20.01, 1))
        raw.send({"method": "ping"})
        wait_for(lambda: raw.on("pong"), what="pong")
        assert len(raw.on("trades")) == n_trades
        assert raw.on("pong")[0] == {"channel": "pong"}
        # errors come on the error channel
        raw.send({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "NOPE"}})
        wait_for(lambda: raw.on("error"), what="error frame")
    finally:
        raw.close()


def test_trades_subscription_backfills_recent_trades(venue: ThreadedVenue) -> None:
    venue.apply(trade("LOT", True, 20.01, 1, tid=11), trade("LOT", False, 20.0, 1, tid=12))
    raw = Raw(ws_url(venue))
    try:
        raw.send({"method": "subscribe", "subscription": {"type": "trades", "coin": "LOT"}})
        wait_for(lambda: raw.on("trades"), what="backfill")
        assert [t["tid"] for t in raw.on("trades")[0]["data"]] == [11, 12]
    finally:
        raw.close()


def test_post_requests_for_action_and_info(venue: ThreadedVenue) -> None:
    raw = Raw(ws_url(venue))
    try:
        raw.send({"method": "post", "id": 5, "request": {"type": "info", "payload": {"type": "l2Book", "coin": "LOT",
                                                                                         "nSigFigs": None}}})
        nonce = int(time.time() * 1000)
        action = {"type": "order", "orders": [{"a": 2, "b": True, "p": "19.5", "s": "1", "r": False,
                                               "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
        sig = signing.sign_l1_action(USER_KEY, action, nonce)
        body = wire.exchange_request_body(action, nonce, sig)
        raw.send({"method": "post", "id": 6, "request": {"type": "action", "payload": body}})
        raw.send({"method": "post", "id": 7, "request": {"type": "action", "payload": {"bad": 1}}})
        wait_for(lambda: len(raw.on("post")) == 3, what="post replies")
        by_id = {p["data"]["id"]: p["data"]["response"] for p in raw.on("post")}
        assert by_id[5]["type"] == "info" and by_id[5]["payload"]["type"] == "l2Book"
        assert by_id[5]["payload"]["data"]["coin"] == "LOT"
        assert by_id[6]["type"] == "action"
        assert by_id[6]["payload"]["status"] == "ok"
        assert "resting" in by_id[6]["payload"]["response"]["data"]["statuses"][0]
        assert by_id[7] == {"type": "error", "payload": "Failed to deserialize the JSON body into the target type"}
    finally:
        raw.close()


def test_idle_connections_are_closed(make_venue: Any) -> None:
    v = make_venue(ws={"idle_timeout_s": 0.3, "send_banner": True})
    quiet = Raw(ws_url(v))
    pinging = Raw(ws_url(v))
    try:
        deadline = time.monotonic() + 15
        while quiet.closed_code is None and time.monotonic() < deadline:
            pinging.send({"method": "ping"})  # pongs keep this one alive
            time.sleep(0.05)
        assert quiet.closed_code is not None, "the silent connection was never closed"
        assert pinging.closed_code is None
    finally:
        quiet.close()
        pinging.close()


@pytest.mark.parametrize("n_sig", [2, 3, 4])
def test_l2book_with_significant_figures(venue: ThreadedVenue, n_sig: int) -> None:
    raw = Raw(ws_url(venue))
    try:
        raw.send({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC", "nSigFigs": n_sig}})
        wait_for(lambda: raw.on("l2Book"), what="book")
        bids, asks = raw.on("l2Book")[0]["data"]["levels"]
        assert all(rules.sig_figs(Decimal(b["px"])) <= n_sig for b in bids + asks)
        assert float(bids[0]["px"]) <= 100000 < float(asks[0]["px"])
        assert sum(float(b["sz"]) for b in bids) == pytest.approx(3.0)
    finally:
        raw.close()


def test_active_asset_ctx_follows_funding_updates(venue: ThreadedVenue) -> None:
    from mm.schema import FundingUpdate, Venue

    raw = Raw(ws_url(venue))
    try:
        raw.send({"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}})
        wait_for(lambda: raw.on("activeAssetCtx"), what="initial ctx")
        first = raw.on("activeAssetCtx")[0]
        assert ws_msg_to_identifier(first) == "activeAssetCtx:btc"
        assert set(first["data"]["ctx"]) == {"funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium",
                                             "oraclePx", "markPx", "midPx", "impactPxs", "dayBaseVlm"}
        assert first["data"]["ctx"]["midPx"] == "100000.5" and first["data"]["ctx"]["impactPxs"] == [
            "100000.0", "100001.0"]
        now = time.time_ns()
        venue.apply(FundingUpdate(int(Venue.HYPERLIQUID), 0, now, now // 1_000_000, 0.0000125, 100000.5, 100001.0,
                                  1234.5))
        wait_for(lambda: any(f["data"]["ctx"]["funding"] == "0.0000125" for f in raw.on("activeAssetCtx")),
                 what="funding push")
        ctx = next(f["data"]["ctx"] for f in raw.on("activeAssetCtx") if f["data"]["ctx"]["funding"] == "0.0000125")
        assert (ctx["markPx"], ctx["oraclePx"], ctx["openInterest"]) == ("100000.5", "100001.0", "1234.5")
    finally:
        raw.close()
