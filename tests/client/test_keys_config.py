"""The signing key (env var or owner-only file, never shown) and the [exchange] config's validation."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import msgspec
import pytest
from eth_account import Account

from mm.venues.hyperliquid import signing
from mm.venues.hyperliquid.client_config import ClientConfigError, ExchangeClientConfig
from mm.venues.hyperliquid.keys import AgentKey, KeyLoadError, write_key_file

VECTOR_KEY = "0x" + "01" * 32
VECTOR_ACTION = {"type": "order", "orders": [{"a": 0, "b": True, "p": "60000", "s": "0.001", "r": False,
                                              "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}


def _hex(key_hex: str) -> str:
    return key_hex[2:] if key_hex.startswith("0x") else key_hex


def assert_hidden(text: str, key_hex: str) -> None:
    h = _hex(key_hex)
    assert h.lower() not in text.lower()
    assert h[:16].lower() not in text.lower()  # not even a prefix


def test_signature_matches_the_published_vector_and_signing_module() -> None:
    key = AgentKey.from_hex(VECTOR_KEY)
    assert key.address == "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"
    sig_b = key.sign_l1(VECTOR_ACTION, 1700000000000)
    assert sig_b == {"r": "0x6579ee22e0f40e67a8103f7d5d07f9f41d1b65d9b14ea803e47ca6c50c164c14",
                     "s": "0x7efb7efb39d206f5d992d2b755d4c442fad573b88edcf9fac0b5122a7fce9f67", "v": 28}
    sig_a = key.sign_l1(VECTOR_ACTION, 1700000000000, is_mainnet=True)
    assert sig_a["v"] == 27 and sig_a["r"].startswith("0x53f2061c")
    acct = Account.create()
    k2 = AgentKey.from_hex(acct.key.hex())
    assert k2.address == acct.address
    for action in ({"type": "cancel", "cancels": [{"a": 1, "o": 77738308}]}, {"type": "scheduleCancel", "time": 5},
                   VECTOR_ACTION):
        for mainnet in (False, True):
            for expires in (None, 1700000060000):
                assert k2.sign_l1(action, 1700000000123, None, expires, mainnet) == signing.sign_l1_action(
                    acct.key, action, 1700000000123, None, expires, mainnet)
                src = signing.source_for(mainnet)
                sig = k2.sign_l1(action, 1700000000123, None, expires, mainnet)
                assert signing.recover_l1_signer(action, sig, 1700000000123, None, expires, src) == acct.address


def test_key_from_env_never_shown() -> None:
    acct = Account.create()
    env = {"MY_AGENT_KEY": "0x" + acct.key.hex().removeprefix("0x") + "\n"}
    key = AgentKey.from_env("MY_AGENT_KEY", env)
    assert key.address == acct.address and key.origin == "env:MY_AGENT_KEY"
    for text in (repr(key), str(key), f"{key}", repr([key]), repr(key._secret)):
        assert_hidden(text, acct.key.hex())
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert copy.deepcopy(key) is key


def test_missing_or_bad_env_key_errors_do_not_echo() -> None:
    with pytest.raises(KeyLoadError, match="MM_X is not set"):
        AgentKey.from_env("MM_X", {})
    bad = "0x" + "ab" * 31  # one byte short
    with pytest.raises(KeyLoadError) as ei:
        AgentKey.from_env("MM_X", {"MM_X": bad})
    assert "ab" * 8 not in str(ei.value) and ei.value.__cause__ is None and ei.value.__context__ is None
    with pytest.raises(KeyLoadError, match="out of range"):
        AgentKey.from_env("MM_X", {"MM_X": "0x" + "00" * 32})


def test_key_file_owner_only_accepted(tmp_path: Path) -> None:
    acct = Account.create()
    p = write_key_file(tmp_path / "agent.key", acct.key.hex())
    assert os.stat(p).st_mode & 0o777 == 0o600
    key = AgentKey.from_file(p)
    assert key.address == acct.address and key.origin == f"file:{p}"
    assert AgentKey.load(key_env="UNSET_VAR_FOR_SURE", key_file=str(p)).address == acct.address
    os.chmod(p, 0o400)
    assert AgentKey.from_file(p).address == acct.address


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    acct = Account.create()
    p = tmp_path / "agent.key"
    p.write_text(acct.key.hex() + "\n")
    os.chmod(p, mode)
    with pytest.raises(KeyLoadError) as ei:
        AgentKey.from_file(p)
    msg = str(ei.value)
    assert f"mode {mode:04o}" in msg and f"chmod 600 {p}" in msg and "refusing to start" in msg
    assert_hidden(msg, acct.key.hex())


def test_key_file_symlink_garbage_and_missing(tmp_path: Path) -> None:
    acct = Account.create()
    real = write_key_file(tmp_path / "real.key", acct.key.hex())
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(KeyLoadError, match="symlink"):
        AgentKey.from_file(link)
    with pytest.raises(KeyLoadError, match="does not exist"):
        AgentKey.from_file(tmp_path / "nope.key")
    junk = tmp_path / "junk.key"
    junk.write_text("not a key " + acct.key.hex()[:20])
    os.chmod(junk, 0o600)
    with pytest.raises(KeyLoadError) as ei:
        AgentKey.from_file(junk)
    assert acct.key.hex()[:20] not in str(ei.value)


def test_config_defaults_urls_and_source() -> None:
    cfg = ExchangeClientConfig(http_url="http://127.0.0.1:18080/")
    assert cfg.network == "sim" and not cfg.is_mainnet
    assert cfg.resolved_http_url == "http://127.0.0.1:18080" and cfg.resolved_ws_url == "ws://127.0.0.1:18080/ws"
    main = ExchangeClientConfig(network="mainnet")
    assert main.is_mainnet and main.resolved_ws_url == "wss://api.hyperliquid.xyz/ws"
    assert ExchangeClientConfig(network="testnet").resolved_http_url == "https://api.hyperliquid-testnet.xyz"
    assert msgspec.convert({"network": "sim", "http_url": "http://127.0.0.1:1", "post_timeout_ms": 500},
                           ExchangeClientConfig).post_timeout_ms == 500


@pytest.mark.parametrize(("kw", "field"), [
    ({}, "http_url"),
    ({"http_url": "ftp://x"}, "http_url"),
    ({"network": "mainnet", "http_url": "http://127.0.0.1:18080"}, "network"),
    ({"account_address": "0x1234"}, "account_address"),
    ({"key_env": "0x" + "ab" * 32}, "key_env"),
    ({"key_file": "ab" * 32}, "key_file"),
    ({"post_timeout_ms": 0}, "post_timeout_ms"),
    ({"dead_mans_switch_s": 4.0}, "dead_mans_switch_s"),
    ({"dead_mans_switch_s": 10.0, "dead_mans_refresh_s": 6.0}, "dead_mans_refresh_s"),
    ({"ws_stale_after_s": 1.0, "ws_ping_interval_s": 5.0}, "ws_stale_after_s"),
    ({"reconnect_max_ms": 10}, "reconnect_max_ms"),
])
def test_config_validation_names_the_field(kw: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"http_url": "http://127.0.0.1:18080"}
    args.update(kw)
    if "http_url" in kw and kw["http_url"] is None:
        del args["http_url"]
    if field == "http_url" and not kw:
        del args["http_url"]
    with pytest.raises(ClientConfigError) as ei:
        ExchangeClientConfig(**args)  # type: ignore[arg-type]
    assert ei.value.field == field and str(ei.value).startswith(f"exchange.{field}:")
    assert "ab" * 8 not in str(ei.value)  # a key pasted in the wrong field is not echoed


def test_config_repr_holds_no_key(tmp_path: Path) -> None:
    acct = Account.create()
    p = write_key_file(tmp_path / "k", acct.key.hex())
    cfg = ExchangeClientConfig(http_url="http://127.0.0.1:1", key_file=str(p), account_address=acct.address)
    assert_hidden(repr(cfg), acct.key.hex())
    assert_hidden(msgspec.json.encode(cfg).decode(), acct.key.hex())
