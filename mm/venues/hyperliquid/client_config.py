"""Configuration of the Hyperliquid exchange client: ``[exchange]``, one frozen documented struct.

This module owns :class:`ExchangeClientConfig`: which venue (``sim`` / ``testnet`` /
``mainnet``), its URLs, where the signing key comes from (the *name* of an environment
variable or the *path* of an owner-only file: the config never holds the key itself, so
its ``repr`` cannot show it), the account traded for, the per-call timeouts, the
websocket's heartbeat and reconnect timing, and the dead man's switch. ``__post_init__``
validates and raises :class:`ClientConfigError` naming the field; messages about address
and key fields never echo the value (a key pasted into the wrong field must not end up in
a log).

The signature's source letter follows the network, not the URL: ``mainnet`` signs ``"a"``,
everything else ``"b"`` (ARCHITECTURE "local URLs sign as testnet"); a ``mainnet`` config
pointing at a loopback URL is refused, since the paper venue verifies with ``"b"``.

Example (TOML)::

    [exchange]
    network = "sim"
    http_url = "http://127.0.0.1:18080"
    key_file = "/etc/mm/agent.key"      # chmod 600
    account_address = "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"
    post_timeout_ms = 2000
    dead_mans_switch_s = 30.0
"""

from __future__ import annotations

import math
import re
from typing import Final, Literal
from urllib.parse import urlsplit

import msgspec

MAINNET_HTTP_URL: Final = "https://api.hyperliquid.xyz"
TESTNET_HTTP_URL: Final = "https://api.hyperliquid-testnet.xyz"
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

Network = Literal["sim", "testnet", "mainnet"]


class ClientConfigError(ValueError):
    """An exchange client configuration that cannot be run; the message starts with the field."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"exchange.{field}: {why}")
        self.field = field


def _require(cond: bool, field: str, why: str) -> None:
    if not cond:
        raise ClientConfigError(field, why)


def _pos(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def ws_url_for(http_url: str) -> str:
    """The websocket URL the official SDK derives: ``http(s)://h`` -> ``ws(s)://h/ws``."""
    base = http_url.rstrip("/")
    return "ws" + base[len("http"):] + "/ws"


class ExchangeClientConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[exchange]``: the Hyperliquid exchange client (execution's, and risk's kill path).

    Fields:
        network: ``"sim"`` (the paper venue), ``"testnet"`` or ``"mainnet"``. Decides the
            signature source letter (``"a"`` on mainnet only) and the default URLs.
        http_url: REST base URL (``POST /info``, ``/exchange``). Empty: the network's public
            URL (required for ``sim``, e.g. ``http://127.0.0.1:18080``).
        ws_url: websocket URL. Empty: derived from ``http_url`` as the SDK does (``.../ws``).
        account_address: the account traded for (``0x`` + 40 hex). Empty: the signing key's
            own address (the key is the account's, not an API wallet's).
        key_env: NAME of the environment variable holding the key (hex); used when
            ``key_file`` is empty. Never the key itself.
        key_file: path of a file holding the key (hex); must be mode 0600 (or stricter) and
            owned by this user, or start is refused. Takes precedence over ``key_env``.
        use_ws_post: send actions as websocket ``post`` requests (HTTP is the fallback when
            the websocket is down or has just timed out); false: HTTP only.
        post_timeout_ms: ms to wait for the answer of an action sent over the websocket;
            past it the action's outcome is *unknown* (never re-sent blindly).
        http_timeout_ms: ms to wait for the answer of an action sent over HTTP (same rule).
        info_timeout_ms: ms per ``/info`` attempt (openOrders, orderStatus, userFills, ...).
        info_retries: extra attempts of an ``/info`` request after a timeout, connection error,
            HTTP 429 or 5xx (info requests are idempotent), with jittered backoff.
        ws_connect_timeout_ms: ms allowed for one websocket connection attempt.
        ws_ping_interval_s: seconds between ``{"method":"ping"}`` frames (Hyperliquid closes a
            connection it has sent nothing on for 60 s).
        ws_stale_after_s: no frame received for this long: the connection is presumed dead,
            closed and reconnected (> ws_ping_interval_s).
        reconnect_min_ms: first backoff between websocket reconnect attempts.
        reconnect_max_ms: largest backoff (doubling, with jitter, between the two).
        fill_replay_grace_ms: after a reconnect, fills from this long before the newest fill
            seen are fetched again (``userFillsByTime``) and delivered if unseen.
        expires_after_ms: when > 0, every action carries ``expiresAfter = now + this`` so a
            request stuck in transit is refused by the venue rather than applied late; 0 off.
        dead_mans_switch_s: how far ahead ``scheduleCancel`` is set each time it is refreshed
            (> 5 s, the venue's minimum lead); 0 disables the switch.
        dead_mans_refresh_s: seconds between refreshes (< dead_mans_switch_s - 5, so the
            time never comes near while the process is alive).
        dead_mans_refused_retry_s: once the venue refuses ``scheduleCancel`` (the $1M volume
            gate), seconds between further attempts (logged once; trading goes on).
        kill_deadline_s: the kill path's deadline to see no open order (risk's own client).
    """

    network: Network = "sim"
    http_url: str = ""
    ws_url: str = ""
    account_address: str = ""
    key_env: str = "MM_HL_AGENT_KEY"
    key_file: str = ""
    use_ws_post: bool = True
    post_timeout_ms: int = 2_000
    http_timeout_ms: int = 3_000
    info_timeout_ms: int = 3_000
    info_retries: int = 2
    ws_connect_timeout_ms: int = 3_000
    ws_ping_interval_s: float = 20.0
    ws_stale_after_s: float = 50.0
    reconnect_min_ms: int = 200
    reconnect_max_ms: int = 5_000
    fill_replay_grace_ms: int = 5_000
    expires_after_ms: int = 0
    dead_mans_switch_s: float = 30.0
    dead_mans_refresh_s: float = 10.0
    dead_mans_refused_retry_s: float = 300.0
    kill_deadline_s: float = 5.0

    def __post_init__(self) -> None:
        if self.network == "sim":
            _require(bool(self.http_url), "http_url", "must be set for network 'sim' (the paper venue's URL)")
        for name, url, schemes in (("http_url", self.http_url, ("http", "https")),
                                   ("ws_url", self.ws_url, ("ws", "wss"))):
            if url:
                parts = urlsplit(url)
                _require(parts.scheme in schemes and bool(parts.hostname), name,
                         f"must be a {'/'.join(schemes)} URL with a host")
        if self.network == "mainnet":
            _require(not _is_loopback(self.resolved_http_url), "network",
                     "'mainnet' signs with source 'a' but http_url is a loopback address (a local venue verifies "
                     "with 'b'); use network = 'sim'")
        if self.account_address:
            _require(bool(_ADDRESS.match(self.account_address)), "account_address",
                     f"must be 0x followed by 40 hex digits (got {len(self.account_address)} characters)")
        _require(bool(_ENV_NAME.match(self.key_env)) and len(self.key_env) <= 128, "key_env",
                 "must be the NAME of an environment variable (letters, digits, underscore), not a key")
        if self.key_file:
            _require(not _looks_like_key(self.key_file), "key_file", "must be a path to a key file, not a key")
        for name, ms in (("post_timeout_ms", self.post_timeout_ms), ("http_timeout_ms", self.http_timeout_ms),
                         ("info_timeout_ms", self.info_timeout_ms),
                         ("ws_connect_timeout_ms", self.ws_connect_timeout_ms),
                         ("reconnect_min_ms", self.reconnect_min_ms)):
            _require(ms > 0, name, "must be > 0")
        _require(self.reconnect_max_ms >= self.reconnect_min_ms, "reconnect_max_ms", "must be >= reconnect_min_ms")
        _require(0 <= self.info_retries <= 10, "info_retries", "must be between 0 and 10")
        _require(_pos(self.ws_ping_interval_s), "ws_ping_interval_s", "must be > 0")
        _require(_pos(self.ws_stale_after_s) and self.ws_stale_after_s > self.ws_ping_interval_s,
                 "ws_stale_after_s", "must be > ws_ping_interval_s")
        _require(self.fill_replay_grace_ms >= 0, "fill_replay_grace_ms", "must be >= 0")
        _require(self.expires_after_ms >= 0, "expires_after_ms", "must be >= 0 (0 disables)")
        if self.dead_mans_switch_s != 0.0:
            _require(_pos(self.dead_mans_switch_s) and self.dead_mans_switch_s > 5.0, "dead_mans_switch_s",
                     "must be > 5 s (the venue's minimum lead) or 0 to disable")
            _require(_pos(self.dead_mans_refresh_s) and self.dead_mans_refresh_s < self.dead_mans_switch_s - 5.0,
                     "dead_mans_refresh_s", "must be > 0 and < dead_mans_switch_s - 5")
        _require(_pos(self.dead_mans_refused_retry_s), "dead_mans_refused_retry_s", "must be > 0")
        _require(_pos(self.kill_deadline_s), "kill_deadline_s", "must be > 0")

    @property
    def is_mainnet(self) -> bool:
        """Signs with source ``"a"`` only on mainnet."""
        return self.network == "mainnet"

    @property
    def resolved_http_url(self) -> str:
        """``http_url``, or the network's public URL."""
        if self.http_url:
            return self.http_url.rstrip("/")
        return MAINNET_HTTP_URL if self.network == "mainnet" else TESTNET_HTTP_URL

    @property
    def resolved_ws_url(self) -> str:
        """``ws_url``, or the one derived from the HTTP URL."""
        return self.ws_url or ws_url_for(self.resolved_http_url)


def _looks_like_key(text: str) -> bool:
    s = text.strip()
    s = s[2:] if s.startswith("0x") else s
    return len(s) == 64 and all(c in "0123456789abcdefABCDEF" for c in s)
