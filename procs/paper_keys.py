"""The signing keys of the process group: generated for paper, required (never generated) for live.

Two processes sign Hyperliquid actions, each with its own API wallet (agent) so their
nonce streams never collide (ARCHITECTURE "Nonce collisions"): execution (orders, cancels,
the dead man's switch) and risk (the independent kill path). Both trade for one account.

**Paper** (``run.mode = "paper"`` and ``[exchange] network = "sim"``): the keys are files
under ``<run.state_dir>/keys/`` (directory 0700, files 0600, hex), generated once by the
supervisor before it spawns anything (:func:`provision`) and kept across runs:

- ``account.key``: the account traded for; only its address is used (the venue books
  orders to it; the official SDK can sign as it);
- ``execution.key``: execution's API wallet;
- ``risk.key``: risk's API wallet (kill path, position reconciliation).

The sim venue reads the three addresses (:func:`paper_users`) and approves both agents for
the account, and every client trades for that account. In paper ``[exchange] key_file``
and ``key_env`` are not consulted: a real key is never sent to the sim by mistake, and
nothing secret ever needs to be in a config file or the repository.

**Anywhere else** (live, testnet): nothing is generated. Execution's key comes from
``[exchange] key_file`` or ``key_env``; risk's from ``[risk] key_file`` or ``key_env``, or
when both are empty from the same place as execution's with a ``.risk`` suffix on the file
(``<key_file>.risk``) or ``_RISK`` on the variable (``<key_env>_RISK``)
(``mm.risk.config.RiskConfig.key_source``).
:func:`provision` loads both and refuses to start the group (:class:`KeySetupError`,
naming what is missing, never a key) when either cannot be loaded.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final, Literal

import msgspec

from mm.config import Config
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.keys import AgentKey, KeyLoadError, write_key_file
from mm.venues.sim.config import UserConfig, VenueConfig

Role = Literal["execution", "risk"]
ROLES: Final[tuple[Role, ...]] = ("execution", "risk")
ACCOUNT: Final = "account"
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeySetupError(RuntimeError):
    """The group's signing keys cannot be set up; the message says what to do (never a key)."""


class Signers(msgspec.Struct, frozen=True):
    """The addresses of the group's account and of its two API wallets."""

    account: str
    execution: str
    risk: str


def uses_paper_keys(cfg: Config) -> bool:
    """True when the group signs with generated keys (paper mode against the sim venue)."""
    return cfg.run.mode == "paper" and cfg.exchange is not None and cfg.exchange.network == "sim"


def key_dir(cfg: Config) -> Path:
    return Path(cfg.run.state_dir) / "keys"


def _paper_path(cfg: Config, name: str) -> Path:
    return key_dir(cfg) / f"{name}.key"


def _random_key_hex() -> str:
    while True:
        n = int.from_bytes(secrets.token_bytes(32), "big")
        if 0 < n < _SECP256K1_N:
            return f"0x{n:064x}"


def _ensure_paper_keys(cfg: Config) -> list[str]:
    """Create the key directory and any missing key file; the names of the files made."""
    d = key_dir(cfg)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    made = []
    for name in (ACCOUNT, *ROLES):
        p = _paper_path(cfg, name)
        if not p.exists():
            try:
                write_key_file(p, _random_key_hex())
            except FileExistsError:  # made concurrently: keep that one
                continue
            made.append(p.name)
    return made


def load_key(cfg: Config, role: Role) -> AgentKey:
    """The API wallet key of ``role`` (module docstring). KeyLoadError when it cannot be loaded."""
    x = cfg.exchange
    if x is None:
        raise KeyLoadError("no [exchange] section: nothing signs, no key is needed")
    if uses_paper_keys(cfg):
        return AgentKey.from_file(_paper_path(cfg, role))
    if role == "execution":
        return AgentKey.load(x.key_env, x.key_file)
    kind, where = cfg.risk.key_source(x.key_file, x.key_env)
    return AgentKey.from_file(where) if kind == "file" else AgentKey.from_env(where)


def account_address(cfg: Config) -> str:
    """The account the group trades for: the paper account's address, else ``[exchange] account_address``."""
    x = cfg.exchange
    if x is None:
        return ""
    if uses_paper_keys(cfg):
        return AgentKey.from_file(_paper_path(cfg, ACCOUNT)).address
    return x.account_address


def exchange_config(cfg: Config) -> ExchangeClientConfig:
    """``[exchange]`` with the account address filled in (paper: the generated account's)."""
    x = cfg.exchange
    if x is None:
        raise KeyLoadError("no [exchange] section")
    if uses_paper_keys(cfg):
        return msgspec.structs.replace(x, account_address=account_address(cfg))
    return x


def signers(cfg: Config) -> Signers:
    """The addresses of the account and of both API wallets (loads the keys; shows no secret)."""
    ex = load_key(cfg, "execution")
    rk = load_key(cfg, "risk")
    acct = account_address(cfg) or ex.address
    return Signers(account=acct, execution=ex.address, risk=rk.address)


def provision(cfg: Config) -> Signers | None:
    """Before the group starts: make the paper keys (once), or check that live keys are there.

    Returns the signers (None when there is no ``[exchange]`` section: no client, no order).
    Raises KeySetupError with what to fix.
    """
    x = cfg.exchange
    if x is None:
        return None
    if uses_paper_keys(cfg):
        try:
            _ensure_paper_keys(cfg)
            return signers(cfg)
        except (OSError, KeyLoadError) as exc:
            raise KeySetupError(f"paper keys in {key_dir(cfg)}: {exc}") from None
    try:
        s = signers(cfg)
    except KeyLoadError as exc:
        kind, risk_where = cfg.risk.key_source(x.key_file, x.key_env)
        where = ((f"key_file = {x.key_file!r}" if x.key_file else f"key_env = {x.key_env!r}")
                 + f" (risk: {'key_file' if kind == 'file' else 'key_env'} = {risk_where!r})")
        raise KeySetupError(
            f"{cfg.run.mode} mode ({x.network}) needs two API wallet keys, execution's and risk's, from {where}; "
            f"keys are never generated outside paper mode: {exc}") from None
    if s.execution == s.risk:
        raise KeySetupError("execution and risk must sign with different API wallets (separate nonce streams)")
    return s


def paper_users(cfg: Config, venue: VenueConfig) -> VenueConfig:
    """The venue's config with the paper account (both agents approved) added to its users."""
    if not uses_paper_keys(cfg):
        return venue
    s = signers(cfg)
    users = []
    ours = UserConfig(address=s.account, agents=(s.execution, s.risk))
    for u in venue.users:
        if u.address.lower() == s.account.lower():  # configured already: approve our agents too
            ours = msgspec.structs.replace(u, agents=tuple(dict.fromkeys((*u.agents, s.execution, s.risk))))
        else:
            users.append(u)
    return msgspec.structs.replace(venue, users=(*users, ours))
