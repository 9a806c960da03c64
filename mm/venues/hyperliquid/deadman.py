"""The venue's dead man's switch: ``scheduleCancel`` kept armed ahead of now, never relied on.

This module owns :class:`DeadMansSwitch`: every ``refresh_s`` it sets Hyperliquid's
scheduled cancel to ``now + lead_s`` (the venue wants at least 5 s ahead), so if this
process stops refreshing (hung, killed, cut off) the venue cancels every open order of the
account shortly after. It runs in paper and in live alike.

It is an extra line, not the kill path (ARCHITECTURE): Hyperliquid refuses
``scheduleCancel`` until the account has traded $1M ("Cannot set scheduled cancel time
until enough volume traded..."), and allows 10 triggers per UTC day. So:

- a volume refusal is logged once (WARNING), remembered (:attr:`DeadMansStatus.refused_volume`),
  and retried only every ``refused_retry_s``; trading goes on;
- triggers are counted per UTC day, from ``scheduledCancel`` order updates
  (:meth:`DeadMansSwitch.on_order_update`, grouped by their timestamp) and from an armed
  time that passed without a refresh; at the daily cap (or on the venue's "Too many
  scheduled cancel triggers today") arming pauses until the next UTC day;
- any other failure (timeout, unknown outcome, "too early") is logged on change and the
  next refresh simply tries again.

On a clean stop :meth:`DeadMansSwitch.stop` unsets the switch (``time`` left out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final, Protocol

import msgspec

from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid.client import ActionResult
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.reconcile import OrderInfo

log = logging.getLogger(__name__)

DAY_MS: Final = 86_400_000
MIN_LEAD_S: Final = 5.0
VOLUME_GATE_PREFIX: Final = "Cannot set scheduled cancel time until enough volume traded"
_TRIGGER_GROUP_MS: Final = 2_000


class ScheduleCancelClient(Protocol):
    """What the switch needs of a client (``ExchangeClient`` has it)."""

    async def schedule_cancel(self, time_ms: int | None, *, timeout_s: float | None = None) -> ActionResult: ...


class DeadMansStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The switch's state, for status pages and metrics.

    armed_until_ms: unix ms the venue will cancel at if not refreshed (0: not armed).
    last_ok_ms: when the venue last accepted a refresh (0: never).
    refused_volume: the venue refuses for want of traded volume (the $1M gate).
    paused_until_ms: arming paused (trigger cap reached) until this unix ms (0: not paused).
    triggers_today: triggers counted this UTC day.
    attempts / accepted / failures: refresh attempts, accepted ones, the rest.
    last_error: the last refusal or failure text ("" when the last attempt was accepted).
    """

    armed_until_ms: int
    last_ok_ms: int
    refused_volume: bool
    paused_until_ms: int
    triggers_today: int
    attempts: int
    accepted: int
    failures: int
    last_error: str


class DeadMansSwitch:
    """Keeps ``scheduleCancel`` at ``now + lead_s``, refreshed every ``refresh_s`` (module docstring)."""

    def __init__(
        self,
        client: ScheduleCancelClient,
        lead_s: float = 30.0,
        refresh_s: float = 10.0,
        refused_retry_s: float = 300.0,
        max_triggers_per_day: int = 10,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        name: str = "dead-mans-switch",
    ) -> None:
        if not lead_s > MIN_LEAD_S:
            raise ValueError(f"lead_s: must be > {MIN_LEAD_S:g} s (the venue's minimum), got {lead_s}")
        if not 0 < refresh_s < lead_s - MIN_LEAD_S:
            raise ValueError(f"refresh_s: must be > 0 and < lead_s - {MIN_LEAD_S:g}, got {refresh_s}")
        if not refused_retry_s > 0:
            raise ValueError("refused_retry_s: must be > 0")
        if max_triggers_per_day < 1:
            raise ValueError("max_triggers_per_day: must be >= 1")
        self.client = client
        self.lead_s = lead_s
        self.refresh_s = refresh_s
        self.refused_retry_s = refused_retry_s
        self.max_triggers_per_day = max_triggers_per_day
        self._clock_ms = clock_ms
        self.name = name
        self.armed_until_ms = 0
        self.last_ok_ms = 0
        self.refused_volume = False
        self.paused_until_ms = 0
        self._day = clock_ms() // DAY_MS
        self.triggers_today = 0
        self.triggers_total = 0
        self._last_trigger_ms = 0
        self.attempts = 0
        self.accepted = 0
        self.failures = 0
        self.last_error = ""
        self._volume_logged = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, client: ScheduleCancelClient, cfg: ExchangeClientConfig) -> DeadMansSwitch | None:
        """The switch for ``[exchange]`` (``dead_mans_switch_s`` ahead, every ``dead_mans_refresh_s``); None when 0."""
        if cfg.dead_mans_switch_s == 0.0:
            return None
        return cls(client, cfg.dead_mans_switch_s, cfg.dead_mans_refresh_s, cfg.dead_mans_refused_retry_s)

    # ------------------------------------------------------------------ state

    def status(self) -> DeadMansStatus:
        return DeadMansStatus(armed_until_ms=self.armed_until_ms, last_ok_ms=self.last_ok_ms,
                              refused_volume=self.refused_volume, paused_until_ms=self.paused_until_ms,
                              triggers_today=self.triggers_today, attempts=self.attempts, accepted=self.accepted,
                              failures=self.failures, last_error=self.last_error)

    def _roll_day(self, now_ms: int) -> None:
        day = now_ms // DAY_MS
        if day != self._day:
            self._day = day
            self.triggers_today = 0
            if self.paused_until_ms and now_ms >= self.paused_until_ms:
                self.paused_until_ms = 0

    def _count_trigger(self, at_ms: int, how: str) -> None:
        if self._last_trigger_ms and abs(at_ms - self._last_trigger_ms) <= _TRIGGER_GROUP_MS:
            return  # the same trigger, seen another way
        self._last_trigger_ms = at_ms
        self._roll_day(at_ms)
        self.triggers_today += 1
        self.triggers_total += 1
        log.warning("%s: scheduled cancel triggered (%s); %d trigger(s) today of %d allowed",
                    self.name, how, self.triggers_today, self.max_triggers_per_day)
        if self.triggers_today >= self.max_triggers_per_day:
            self._pause_for_day(at_ms, "daily trigger cap reached")

    def _pause_for_day(self, now_ms: int, why: str) -> None:
        self.paused_until_ms = (now_ms // DAY_MS + 1) * DAY_MS
        log.warning("%s: not arming until the next UTC day (%s); the kill path does not depend on it",
                    self.name, why)

    def on_order_update(self, update: OrderInfo) -> None:
        """Feed order updates: ``scheduledCancel`` ones mean the switch fired (counted once per trigger)."""
        if update.status == "scheduledCancel":
            self._count_trigger(update.status_ts_ms or self._clock_ms(), "orders cancelled by the venue")
            if self.armed_until_ms and update.status_ts_ms >= self.armed_until_ms - _TRIGGER_GROUP_MS:
                self.armed_until_ms = 0

    # ------------------------------------------------------------------ arming

    async def refresh(self) -> ActionResult | None:
        """One refresh: ``scheduleCancel(now + lead_s)``. None when arming is paused for the day."""
        now = self._clock_ms()
        self._roll_day(now)
        if self.armed_until_ms and now >= self.armed_until_ms:
            # the time we set passed before we came back: the venue fired (if anything was open)
            self._count_trigger(self.armed_until_ms, "armed time passed without a refresh")
            self.armed_until_ms = 0
        if self.paused_until_ms and now < self.paused_until_ms:
            return None
        self.paused_until_ms = 0
        at_ms = now + int(self.lead_s * 1000)
        self.attempts += 1
        res = await self.client.schedule_cancel(at_ms, timeout_s=min(self.refresh_s, self.lead_s - MIN_LEAD_S))
        if res.outcome == "ok":
            self.accepted += 1
            self.armed_until_ms = at_ms
            self.last_ok_ms = self._clock_ms()
            if self.refused_volume or self.last_error:
                log.info("%s: armed (scheduled cancel at now + %.0f s)", self.name, self.lead_s)
            self.refused_volume = False
            self.last_error = ""
            return res
        self.failures += 1
        err = res.error
        if err.startswith(VOLUME_GATE_PREFIX):
            self.refused_volume = True
            if not self._volume_logged:
                self._volume_logged = True
                log.warning("%s: the venue refuses scheduleCancel until enough volume is traded (%s); "
                            "carrying on without it, retrying every %g s. The kill path never depends on it.",
                            self.name, err, self.refused_retry_s)
        elif err.startswith(wire.ERR_SCHEDULE_CANCEL_TOO_MANY):
            self._pause_for_day(now, err)
        elif err != self.last_error:
            log.warning("%s: refresh failed (%s: %s); retrying in %.1f s", self.name, res.outcome, err, self.refresh_s)
        self.last_error = err
        return res

    def next_delay_s(self) -> float:
        """Seconds until the next refresh attempt."""
        now = self._clock_ms()
        if self.paused_until_ms and now < self.paused_until_ms:
            return min(self.refused_retry_s, max(1.0, (self.paused_until_ms - now) / 1000.0))
        if self.refused_volume:
            return self.refused_retry_s
        return self.refresh_s

    async def run(self) -> None:
        """Refresh until cancelled; never raises for a venue refusal or a transport failure."""
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                if self.last_error != type(exc).__name__:
                    log.warning("%s: refresh raised %s; retrying", self.name, type(exc).__name__)
                self.last_error = type(exc).__name__
            await asyncio.sleep(self.next_delay_s())

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a task on the current loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self.run())
            self._task.set_name(self.name)
        return self._task

    async def stop(self, disarm: bool = True) -> None:
        """Stop refreshing; with ``disarm``, unset the venue's scheduled cancel (clean shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if disarm and self.armed_until_ms:
            res = await self.client.schedule_cancel(None)
            if res.outcome == "ok":
                self.armed_until_ms = 0
            else:
                log.warning("%s: could not unset the scheduled cancel (%s)", self.name, res.error)
