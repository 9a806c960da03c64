"""Typed configuration: TOML decoded into frozen msgspec structs, validated before start.

One struct per ``[section]``, defaults in the struct, and a docstring that lists every
field with its unit and meaning (the reference for docs/config.md). A bad value or an
unknown key is a :class:`ConfigError` naming the key, raised before any process starts.

This module is pure: :func:`parse_config` takes the TOML text. Reading the file is the
caller's job (:func:`load_config` is the one thin helper that does it, for the edge).
"""

from __future__ import annotations

import os
import tomllib
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from mm.audit.config import MonitorConfig
from mm.execution.config import ExecutionConfig
from mm.execution.variants import VariantSpec
from mm.graduation.exposure import ExposureConfig
from mm.risk.config import EscalationConfig, PromotionConfig, RiskConfig, ShadowConfig, ValidationConfig
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.sim.config import VenueConfig

PROCESS_NAMES: tuple[str, ...] = ("feed", "feature", "alpha", "execution", "risk", "monitor")
"""The workers, in pipeline order (monitor: audit files, metrics, dashboard). The sim venue
(paper mode) is supervised too."""

PosInt = Annotated[int, Meta(gt=0)]
NonNegInt = Annotated[int, Meta(ge=0)]
PosFloat = Annotated[float, Meta(gt=0)]


class ConfigError(ValueError):
    """A configuration that cannot be run. The message names the key."""


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RunConfig(_Section, frozen=True):
    """``[run]`` what to run.

    mode: "paper" (sim venue over loopback, the default), "live" (real venue; needs a key) or
        "replay" (recorded files, single process).
    symbols: coins traded, e.g. ["BTC", "ETH"]; a symbol's id is its index here.
    run_dir: where the control socket, lock and group file live. Empty: $MM_RUN_DIR, else
        $XDG_RUNTIME_DIR/mm or /tmp/mm-<uid>.
    state_dir: persistent state (level history, audit, recordings), relative to the working
        directory unless absolute.
    log_level: Python logging level name for every process.
    """

    mode: Literal["paper", "live", "replay"] = "paper"
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])
    run_dir: str = ""
    state_dir: str = "var"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("run.symbols must name at least one coin")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"run.symbols has duplicates: {self.symbols}")


class IpcConfig(_Section, frozen=True):
    """``[ipc]`` shared-memory channels.

    wait: reader wait strategy: "spin" (busy-spin; needs a dedicated core per reader),
        "spin_then_block" (spin spin_ns, then block on a semaphore) or "block".
    spin_ns: how long spin_then_block spins before blocking, in ns.
    slot_size: bytes per ring slot (header included); a multiple of 64. A message larger
        than the slot's payload is refused at the producer.
    slot_count: slots per ring; a power of two.
    """

    wait: Literal["spin", "spin_then_block", "block"] = "block"
    spin_ns: Annotated[int, Meta(ge=0, le=10_000_000)] = 20_000
    slot_size: Annotated[int, Meta(ge=128, le=65536, multiple_of=64)] = 1024
    slot_count: Annotated[int, Meta(ge=16, le=1 << 22)] = 8192

    def __post_init__(self) -> None:
        if self.slot_count & (self.slot_count - 1):
            raise ValueError(f"ipc.slot_count must be a power of two, got {self.slot_count}")


class SupervisorConfig(_Section, frozen=True):
    """``[supervisor]`` process group and watchdog.

    heartbeat_interval_ms: how often each worker writes its heartbeat row.
    heartbeat_deadline_ms: a worker whose heartbeat is older than this is declared lost.
    deadline_overrides_ms: per-process deadlines in ms for workers off the trading path (the
        monitor serves HTTP and writes audit files; a slow disk must not get it restarted);
        a worker's deadline is the larger of its override and heartbeat_deadline_ms.
    startup_grace_ms: time a freshly started worker has to write its first heartbeat
        (imports and JIT compilation happen before it).
    poll_interval_ms: the supervisor's watchdog and control-socket loop period.
    restartable: workers restarted when lost. Any other lost worker stops the group.
    kill_on_loss: workers whose loss trips the kill switch before their restart.
    max_restarts: restarts allowed per worker within restart_window_s before the supervisor
        gives up and stops the group (kill switch tripped).
    restart_window_s: the window for max_restarts, in seconds.
    shutdown_timeout_ms: how long workers get to exit after SIGTERM before SIGKILL.
    """

    heartbeat_interval_ms: Annotated[int, Meta(ge=5, le=10_000)] = 50
    heartbeat_deadline_ms: Annotated[int, Meta(ge=20, le=60_000)] = 250
    deadline_overrides_ms: dict[str, int] = msgspec.field(default_factory=lambda: {"monitor": 2000})
    startup_grace_ms: Annotated[int, Meta(ge=100, le=300_000)] = 30_000
    poll_interval_ms: Annotated[int, Meta(ge=1, le=1000)] = 20
    restartable: list[str] = msgspec.field(
        default_factory=lambda: ["feed", "feature", "alpha", "execution", "risk", "monitor", "venue"]
    )
    kill_on_loss: list[str] = msgspec.field(default_factory=lambda: ["execution", "risk"])
    max_restarts: Annotated[int, Meta(ge=0, le=1000)] = 5
    restart_window_s: Annotated[float, Meta(gt=0, le=86_400)] = 60.0
    shutdown_timeout_ms: Annotated[int, Meta(ge=100, le=60_000)] = 5_000

    def __post_init__(self) -> None:
        known = set(PROCESS_NAMES) | {"venue"}
        for key in ("restartable", "kill_on_loss"):
            bad = [n for n in getattr(self, key) if n not in known]
            if bad:
                raise ValueError(f"supervisor.{key}: unknown process {bad}; known: {sorted(known)}")
        bad = [n for n in self.deadline_overrides_ms if n not in known]
        if bad:
            raise ValueError(f"supervisor.deadline_overrides_ms: unknown process {bad}; known: {sorted(known)}")
        for n, ms in self.deadline_overrides_ms.items():
            if not 20 <= ms <= 600_000:
                raise ValueError(f"supervisor.deadline_overrides_ms.{n}: {ms} ms; allowed: 20 to 600000")
        if self.heartbeat_deadline_ms <= 2 * self.heartbeat_interval_ms:
            raise ValueError(
                "supervisor.heartbeat_deadline_ms must exceed 2 x heartbeat_interval_ms "
                f"({self.heartbeat_deadline_ms} <= 2 x {self.heartbeat_interval_ms})"
            )


class CoresConfig(_Section, frozen=True):
    """``[cores]`` CPU core per process. -1 leaves a process unpinned. On a machine with fewer
    cores than named, cores are shared (core % ncpu) and the supervisor says so.

    supervisor: core of the supervisor (watchdog, control socket), or -1.
    feed: core of the feed process (venue websockets -> md ring), or -1.
    feature: core of the feature process (book, features -> snap ring), or -1.
    alpha: core of the alpha process (lead-lag, target inventory -> sig ring), or -1.
    execution: core of the execution process (state machine, OMS, signed client), or -1.
    risk: core of the risk process (limits, escalation, graduation, kill path), or -1.
    venue: core of the sim venue (paper mode only), or -1.
    monitor: core of the monitor (audit files, metrics, dashboard); -1 (unpinned) by
        default: it is off the hot path.
    """

    supervisor: Annotated[int, Meta(ge=-1)] = 0
    feed: Annotated[int, Meta(ge=-1)] = 1
    feature: Annotated[int, Meta(ge=-1)] = 2
    alpha: Annotated[int, Meta(ge=-1)] = 3
    execution: Annotated[int, Meta(ge=-1)] = 4
    risk: Annotated[int, Meta(ge=-1)] = 5
    venue: Annotated[int, Meta(ge=-1)] = 6
    monitor: Annotated[int, Meta(ge=-1)] = -1

    def core_of(self, process: str) -> int:
        core: int = getattr(self, process)
        return core


class FeedConfig(_Section, frozen=True):
    """``[feed]`` market data source.

    source: "synthetic" (the built-in generator, in process), or "venue" (Hyperliquid and
        Binance websockets at the URLs of [venues]; in paper mode the sim venue).
    synthetic_seed: RNG seed of the synthetic source.
    stale_after_ms: no message from a venue for a symbol within this time emits FeedStale.
    """

    source: Literal["synthetic", "venue"] = "synthetic"
    synthetic_seed: NonNegInt = 7
    stale_after_ms: Annotated[int, Meta(ge=50, le=600_000)] = 5_000


class VenuesConfig(_Section, frozen=True):
    """``[venues]`` endpoints. In paper mode these point at the sim venue on loopback.

    hl_http_url: Hyperliquid REST base URL (POST /info, /exchange).
    hl_ws_url: Hyperliquid websocket URL.
    binance_ws_url: Binance USD-M combined-stream base URL.
    binance_rest_url: Binance USD-M REST base URL (depth snapshot).
    binance_symbols: coin -> Binance symbol of the lead reference, e.g. {BTC = "BTCUSDT"}.
    """

    hl_http_url: str = "http://127.0.0.1:18080"
    hl_ws_url: str = "ws://127.0.0.1:18080/ws"
    binance_ws_url: str = "ws://127.0.0.1:18080/binance/stream"
    binance_rest_url: str = "http://127.0.0.1:18080/binance"
    binance_symbols: dict[str, str] = msgspec.field(
        default_factory=lambda: {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}
    )


class PaperConfig(_Section, frozen=True):
    """``[paper]`` what drives the sim venue's market in paper mode.

    driver: "replay" (a recorded Hyperliquid CSV directory, real data by default; falls back
        to the generator, with a warning, when the directory is absent) or "generator" (the
        seeded synthetic market with labelled cascades and a leading Binance reference).
    replay_dir: recorder directory (orderbooks_/trades_/prices_<COIN>.csv), relative to the
        repository unless absolute.
    replay_speed: replay speed multiplier (1 = real time).
    replay_loop: start the replay over at its end.
    generator_seed: seed of the generator driver.
    external_venue: the sim venue runs outside the group (started on its own, e.g.
        ``python -m chaos.outside_venue``, on [venue] port): the supervisor does not start one.
        It then outlives the group, as a real venue does (chaos ``kill9_supervisor``).
    """

    driver: Literal["replay", "generator"] = "replay"
    replay_dir: str = "../shared/data/real/hyperliquid-2025-09-04"
    replay_speed: PosFloat = 1.0
    replay_loop: bool = True
    generator_seed: NonNegInt = 7
    external_venue: bool = False


class ModelsConfig(_Section, frozen=True):
    """``[models]`` fitted model files, loaded at start (``mmctl train`` writes them).

    dir: directory holding ``<COIN>/{toxicity,queue_value,fill_survival,leadlag}.json``,
        relative to the working directory unless absolute. A coin without a file runs its
        documented prior or heuristic baseline, and the process log says which.
    """

    dir: str = "var/models/real"


class Config(_Section, frozen=True):
    """The whole configuration; each field is one ``[section]``."""

    run: RunConfig = msgspec.field(default_factory=RunConfig)
    ipc: IpcConfig = msgspec.field(default_factory=IpcConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
    cores: CoresConfig = msgspec.field(default_factory=CoresConfig)
    feed: FeedConfig = msgspec.field(default_factory=FeedConfig)
    venues: VenuesConfig = msgspec.field(default_factory=VenuesConfig)
    exposure: ExposureConfig = msgspec.field(default_factory=ExposureConfig)
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    escalation: EscalationConfig = msgspec.field(default_factory=EscalationConfig)
    promotion: PromotionConfig = msgspec.field(default_factory=PromotionConfig)
    validation: ValidationConfig = msgspec.field(default_factory=ValidationConfig)
    shadow: ShadowConfig = msgspec.field(default_factory=ShadowConfig)
    # [exchange]: the signed Hyperliquid client of execution and of risk's kill path.
    # Absent: no client is built and no order is ever sent.
    exchange: ExchangeClientConfig | None = None
    monitor: MonitorConfig = msgspec.field(default_factory=MonitorConfig)
    models: ModelsConfig = msgspec.field(default_factory=ModelsConfig)
    paper: PaperConfig = msgspec.field(default_factory=PaperConfig)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    # [[variants]]: execution parameter variants run in shadow beside the active policy
    # (mm.execution.variants.VariantSpec: name, set = {dotted ExecutionConfig key = value}).
    variants: list[VariantSpec] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variants: duplicate names in {names}")
        if self.run.mode == "live" and self.venues.hl_http_url.startswith("http://127."):
            raise ValueError("run.mode = 'live' but venues.hl_http_url points at loopback")
        if self.run.mode == "live" and (self.exchange is None or self.exchange.network != "mainnet"):
            raise ValueError("run.mode = 'live' needs an [exchange] section with network = 'mainnet' "
                             "(and key_env or key_file)")
        missing = [s for s in self.run.symbols if s not in self.venues.binance_symbols]
        if missing:
            raise ValueError(f"venues.binance_symbols has no entry for {missing}")
        if self.run.mode == "paper" and self.feed.source == "venue":
            listed = [c.name for c in self.venue.coins]
            absent = [s for s in self.run.symbols if s not in listed]
            if absent:
                raise ValueError(f"venue.coins must list every run.symbols coin in paper mode; missing {absent}")


def parse_config(text: str, source: str = "<config>") -> Config:
    """Decode and validate TOML text. Raises ConfigError naming the file and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(str(exc))}") from None
    except ValueError as exc:  # a section's own validation error (it names the key)
        raise ConfigError(f"{source}: {exc}") from None


def _explain(msg: str) -> str:
    # msgspec says "... - at `$.ipc.slot_count`"; lead with the key, as a TOML user reads it.
    # The allowed range (mm.configref, from the same structs as docs/config.md) follows.
    if " - at `$." in msg:
        text, _, path = msg.rpartition(" - at `$.")
        key = path.rstrip("`")
        from mm.configref import allowed_hint

        hint = allowed_hint(key)
        return f"[{key}] {text}" + (f" ({hint})" if hint else "")
    return msg


def load_config(path: str) -> Config:
    """Read and validate a TOML file (edge helper)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    return parse_config(text, source=path)


def default_run_dir(cfg_run_dir: str = "", env: dict[str, str] | None = None) -> str:
    """The run directory: the config's, else $MM_RUN_DIR, else a per-user runtime dir."""
    env = dict(os.environ) if env is None else env
    if cfg_run_dir:
        return cfg_run_dir
    if env.get("MM_RUN_DIR"):
        return env["MM_RUN_DIR"]
    if env.get("XDG_RUNTIME_DIR"):
        return os.path.join(env["XDG_RUNTIME_DIR"], "mm")
    return f"/tmp/mm-{os.getuid()}"
