"""The /exchange and /info shapes: decoding what the SDK sends, encoding what HL answers."""

from __future__ import annotations

import json

import msgspec
import pytest
from hyperliquid.utils import signing as sdk
from hyperliquid.utils.types import Cloid

from mm.venues.hyperliquid import exchange_wire as w
from mm.venues.hyperliquid import signing

KEY = "0x" + "01" * 32


def _sdk_order_action(cloid: str | None = None) -> dict:
    req = {"coin": "BTC", "is_buy": True, "sz": 0.001, "limit_px": 60000.0, "order_type": {"limit": {"tif": "Gtc"}},
           "reduce_only": False}
    if cloid:
        req["cloid"] = Cloid(cloid)
    return sdk.order_wires_to_order_action([sdk.order_request_to_order_wire(req, 0)], None, "na")


def _body(action: dict, nonce: int = 1700000000000) -> bytes:
    sig = sdk.sign_l1_action(__import__("eth_account").Account.from_key(KEY), action, None, nonce, None, False)
    return json.dumps({"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None,
                       "expiresAfter": None}).encode()


def test_decode_sdk_order_body_and_hash_raw_action() -> None:
    action = _sdk_order_action("0x1234567890abcdef1234567890abcdef")
    raw, req = w.decode_exchange_request(_body(action))
    assert isinstance(req.action, w.OrderAction)
    o = req.action.orders[0]
    assert (o.a, o.b, o.p, o.s, o.r, o.c) == (0, True, "60000", "0.001", False, "0x1234567890abcdef1234567890abcdef")
    assert o.t.limit is not None and o.t.limit.tif == "Gtc"
    assert req.vault_address is None and req.expires_after is None
    # the raw dict hashes exactly as the SDK hashed it
    assert signing.action_hash(raw["action"], None, req.nonce, None) == sdk.action_hash(action, None, req.nonce, None)
    assert signing.recover_l1_signer(raw["action"], raw["signature"], req.nonce) == signing.address_of(KEY)


def test_struct_key_order_matches_the_sdk_for_hashing() -> None:
    action = w.OrderAction(orders=[w.OrderWire(a=0, b=True, p="60000", s="0.001", r=False,
                                               t=w.OrderType(limit=w.Limit(tif="Gtc")))], grouping="na")
    assert signing.action_msgpack(w.action_to_builtins(action)) == signing.action_msgpack(_sdk_order_action())
    cancel = w.CancelAction(cancels=[w.CancelWire(a=0, o=77738308)])
    assert list(w.action_to_builtins(cancel)) == ["type", "cancels"]
    assert w.action_to_builtins(w.ScheduleCancelAction()) == {"type": "scheduleCancel"}
    assert w.action_to_builtins(w.ScheduleCancelAction(time=5)) == {"type": "scheduleCancel", "time": 5}
    bm = w.BatchModifyAction(modifies=[w.ModifyWire(oid=1, order=action.orders[0])])
    assert list(w.action_to_builtins(bm)["modifies"][0]) == ["oid", "order"]
    cbc = w.CancelByCloidAction(cancels=[w.CancelByCloidWire(asset=0, cloid="0x" + "00" * 16)])
    assert list(w.action_to_builtins(cbc)["cancels"][0]) == ["asset", "cloid"]


def test_unknown_keys_ignored_and_nulls_accepted() -> None:
    body = {"action": {"type": "cancel", "cancels": [{"a": 1, "o": 5, "zzz": 1}], "extra": True}, "nonce": 1,
            "signature": {"r": "0x1", "s": "0x2", "v": 27}, "vaultAddress": None, "expiresAfter": None, "foo": "bar"}
    _, req = w.decode_exchange_request(json.dumps(body))
    assert req.action == w.CancelAction(cancels=[w.CancelWire(a=1, o=5)])
    del body["vaultAddress"], body["expiresAfter"]
    _, req = w.decode_exchange_request(json.dumps(body))
    assert req.vault_address is None


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1,2]", b'{"action":{"type":"nope"},"nonce":1,"signature":{"r":"1","s":"2","v":27}}',
     b'{"action":{"type":"cancel","cancels":[]},"signature":{"r":"1","s":"2","v":27}}',
     b'{"action":{"type":"order","orders":[{"a":0,"b":true,"p":1,"s":"1","r":false,"t":{"limit":{"tif":"Gtc"}}}]},'
     b'"nonce":1,"signature":{"r":"1","s":"2","v":27}}'],
)
def test_undeserializable_bodies_raise_wire_error(body: bytes) -> None:
    with pytest.raises(w.WireError):
        w.decode_exchange_request(body)


def test_every_sdk_action_shape_decodes() -> None:
    mod = {"type": "batchModify", "modifies": [{"oid": 7, "order": _sdk_order_action()["orders"][0]}]}
    mod_cloid = {"type": "batchModify", "modifies": [{"oid": "0x" + "ab" * 16, "order": _sdk_order_action()["orders"][0]}]}
    single = {"type": "modify", "oid": 7, "order": _sdk_order_action()["orders"][0]}
    sc = {"type": "scheduleCancel", "time": 1705234867890}
    lev = {"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": 5}
    trig = {"type": "order", "orders": [{"a": 0, "b": False, "p": "100", "s": "1", "r": True,
                                         "t": {"trigger": {"isMarket": True, "triggerPx": "99", "tpsl": "sl"}}}],
            "grouping": "normalTpsl"}
    for action, cls in [(mod, w.BatchModifyAction), (mod_cloid, w.BatchModifyAction), (single, w.ModifyAction),
                        (sc, w.ScheduleCancelAction), (lev, w.UpdateLeverageAction), (trig, w.OrderAction)]:
        _, req = w.decode_exchange_request(_body(action))
        assert isinstance(req.action, cls)
        assert w.action_to_builtins(req.action) == action


def test_response_shapes_are_byte_exact() -> None:
    enc = msgspec.json.encode
    assert enc(w.ok_statuses("order", [w.status_resting(77738308)])) == (
        b'{"status":"ok","response":{"type":"order","data":{"statuses":[{"resting":{"oid":77738308}}]}}}')
    assert enc(w.ok_statuses("order", [w.status_filled("0.02", "1891.4", 77747314)])) == (
        b'{"status":"ok","response":{"type":"order","data":{"statuses":[{"filled":{"totalSz":"0.02",'
        b'"avgPx":"1891.4","oid":77747314}}]}}}')
    assert enc(w.ok_statuses("order", [w.status_error("Order must have minimum value of $10.")])) == (
        b'{"status":"ok","response":{"type":"order","data":{"statuses":[{"error":"Order must have minimum'
        b' value of $10."}]}}}')
    assert enc(w.ok_statuses("cancel", [w.CANCEL_SUCCESS])) == (
        b'{"status":"ok","response":{"type":"cancel","data":{"statuses":["success"]}}}')
    assert enc(w.ok_default()) == b'{"status":"ok","response":{"type":"default"}}'
    assert enc(w.err(w.err_unknown_signer("0xABC"))) == (
        b'{"status":"err","response":"User or API Wallet 0xabc does not exist."}')


def test_client_decodes_documented_responses() -> None:
    r = w.decode_exchange_response(
        '{"status":"ok","response":{"type":"cancel","data":{"statuses":[{"error":"Order was never placed, already '
        'canceled, or filled. asset=1"}, "success"]}}}')
    assert isinstance(r.response, w.OkBody) and r.response.data is not None
    first, second = r.response.data.statuses
    assert isinstance(first, w.OrderStatusEntry) and first.error is not None
    assert second == "success"
    r = w.decode_exchange_response('{"status":"err","response":"Invalid nonce: duplicate nonce 1"}')
    assert r.response == "Invalid nonce: duplicate nonce 1"


def test_info_requests_decode_with_sdk_extras() -> None:
    assert isinstance(w.decode_info_request(b'{"type":"meta","dex":""}'), w.InfoMeta)
    assert isinstance(w.decode_info_request(b'{"type":"spotMeta"}'), w.InfoSpotMeta)
    r = w.decode_info_request(b'{"type":"orderStatus","user":"0xabc","oid":"0x' + b"ab" * 16 + b'"}')
    assert isinstance(r, w.InfoOrderStatus) and isinstance(r.oid, str)
    r = w.decode_info_request(b'{"type":"orderStatus","user":"0xabc","oid":12}')
    assert isinstance(r, w.InfoOrderStatus) and r.oid == 12
    r = w.decode_info_request(b'{"type":"l2Book","coin":"BTC","nSigFigs":null,"mantissa":null,"x":1}')
    assert isinstance(r, w.InfoL2Book) and r.n_sig_figs is None
    with pytest.raises(w.WireError):
        w.decode_info_request(b'{"type":"candleSnapshotX"}')


def test_weights() -> None:
    assert w.info_weight("l2Book") == 2 and w.info_weight("meta") == 20 and w.info_weight("userRole") == 60
    orders = [w.OrderWire(a=0, b=True, p="1", s="1", r=False, t=w.OrderType(limit=w.Limit(tif="Gtc")))] * 85
    assert w.exchange_weight(w.OrderAction(orders=orders, grouping="na")) == 3
    assert w.exchange_weight(w.CancelAction(cancels=[])) == 1
    assert w.action_request_count(w.OrderAction(orders=orders, grouping="na")) == 85


def test_ws_client_frames() -> None:
    m = w.decode_ws_client_message('{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC"}}')
    assert m.subscription == w.Subscription(type="l2Book", coin="BTC")
    m = w.decode_ws_client_message('{"method":"post","id":5,"request":{"type":"info","payload":{"type":"meta"}}}')
    assert m.id == 5 and m.request is not None and m.request.payload == {"type": "meta"}
    with pytest.raises(w.WireError):
        w.decode_ws_client_message('{"method":"dance"}')
