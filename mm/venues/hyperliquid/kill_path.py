"""The independent kill path: cancel every open order of the account through our own connection.

This module owns what risk (or the supervisor, or ``mmctl kill``) does when the kill switch
is tripped and execution has not confirmed cancel-all by its deadline (issue 7 item 7):
:func:`cancel_everything` reads the venue's open orders, cancels them all by oid in one
batch per round, and reads again, until the venue lists none or the deadline passes. It
trusts nothing but the venue's own list (orders execution placed a moment ago included)
and never depends on the dead man's switch (``scheduleCancel`` may be refused, see
``deadman.py``).

The caller's client is its own instance (own HTTP session; HTTP only is best here, no
websocket needed) signing with a nonce source shared with execution's, so the two never
collide on a nonce (ARCHITECTURE "Nonce collisions"): in one process share the
:class:`~mm.venues.hyperliquid.signing.NonceSource`; across processes give each a
``NonceSource(clock, allocator=shared_allocator(value))`` over one
``multiprocessing.Value("Q")`` created by the parent, or give risk its own API wallet.

:class:`KillPathRunner` wraps it for a synchronous process (risk's worker loop): a started
client on a background event loop, so a trigger costs only the cancel round trips.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from typing import Final

import msgspec

from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.client import ActionResult, CancelSpec, ExchangeClient, VenueRequestError
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.keys import AgentKey
from mm.venues.hyperliquid.signing import NonceSource

log = logging.getLogger(__name__)

_BATCH_MAX: Final = 500


class KillReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the kill path did.

    confirmed: the venue listed no open order before the deadline.
    rounds: cancel rounds sent (one batch per round, split above ``batch_max``).
    orders_seen: distinct order ids seen open over all reads.
    cancelled: cancel statuses ``success``.
    already_gone: cancel statuses "never placed, already canceled, or filled" (gone anyway).
    cancel_errors: other per-order cancel errors.
    unknown: cancels with no answer (request timed out or lost).
    requests_failed: open-order reads or cancel requests that failed outright.
    remaining: open orders at the last successful read (-1: never read).
    elapsed_ms: from the call to the return.
    first_cancel_ms: from the call to the first cancel sent (-1: none needed or sent).
    confirm_ms: from the call to the empty read (-1: not confirmed).
    errors: the distinct failure reasons met (at most 10).
    """

    confirmed: bool
    rounds: int
    orders_seen: int
    cancelled: int
    already_gone: int
    cancel_errors: int
    unknown: int
    requests_failed: int
    remaining: int
    elapsed_ms: float
    first_cancel_ms: float
    confirm_ms: float
    errors: tuple[str, ...]


async def cancel_everything(
    client: ExchangeClient,
    deadline_s: float,
    *,
    batch_max: int = _BATCH_MAX,
    retry_pause_s: float = 0.05,
) -> KillReport:
    """Cancel every open order of ``client``'s account, until none is open or ``deadline_s`` passes.

    Never raises for a venue or transport failure (they are counted in the report); every
    request is bounded by what is left of the deadline.
    """
    t0 = time.monotonic()
    deadline = t0 + deadline_s
    seen: set[int] = set()
    errors: list[str] = []
    rounds = cancelled = gone = cancel_errors = unknown = failed = 0
    remaining = -1
    first_cancel_ms = confirm_ms = -1.0
    confirmed = False

    def note(err: str) -> None:
        if err not in errors and len(errors) < 10:
            errors.append(err)

    def ms_since_start() -> float:
        return (time.monotonic() - t0) * 1000.0

    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            orders = await asyncio.wait_for(client.open_orders(timeout_s=left), left)
        except (TimeoutError, VenueRequestError) as exc:
            failed += 1
            note(f"openOrders: {exc or type(exc).__name__}")
            await asyncio.sleep(min(retry_pause_s, max(0.0, deadline - time.monotonic())))
            continue
        remaining = len(orders)
        if not orders:
            confirmed = True
            confirm_ms = ms_since_start()
            break
        if any(o.asset < 0 for o in orders):  # a coin listed after our meta was loaded
            with contextlib.suppress(VenueRequestError, asyncio.TimeoutError):
                await asyncio.wait_for(client.meta(), max(0.001, deadline - time.monotonic()))
        seen.update(o.oid for o in orders)
        specs = [CancelSpec(o.coin, o.oid) for o in orders]
        chunks = [specs[i:i + batch_max] for i in range(0, len(specs), batch_max)]
        left = deadline - time.monotonic()
        if left <= 0:
            break
        rounds += 1
        if first_cancel_ms < 0:
            first_cancel_ms = ms_since_start()
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(client.cancel(ch, timeout_s=left), left + 0.05) for ch in chunks),
            return_exceptions=True)
        progress = False
        for got in outcomes:
            if isinstance(got, BaseException):
                failed += 1
                note(f"cancel: {type(got).__name__}")
                continue
            res: ActionResult = got
            if res.outcome != "ok":
                failed += 1 if res.outcome == "rejected" else 0
                unknown += len(res.statuses) if res.outcome == "unknown" else 0
                note(f"cancel {res.outcome}: {res.error}")
                continue
            for st in res.statuses:
                if st.kind == "success":
                    cancelled += 1
                    progress = True
                elif st.kind == "error" and st.error.startswith(rules.ERR_CANCEL_MISSING):
                    gone += 1
                    progress = True
                elif st.kind == "error":
                    cancel_errors += 1
                    note(f"cancel error: {st.error}")
                else:
                    unknown += 1
        if not progress:
            await asyncio.sleep(min(retry_pause_s, max(0.0, deadline - time.monotonic())))
    report = KillReport(
        confirmed=confirmed, rounds=rounds, orders_seen=len(seen), cancelled=cancelled, already_gone=gone,
        cancel_errors=cancel_errors, unknown=unknown, requests_failed=failed, remaining=remaining,
        elapsed_ms=ms_since_start(), first_cancel_ms=first_cancel_ms, confirm_ms=confirm_ms, errors=tuple(errors))
    if confirmed:
        log.warning("kill path: no open order left (%d seen, %d cancelled) in %.0f ms",
                    report.orders_seen, cancelled, report.elapsed_ms)
    else:
        log.error("kill path: NOT confirmed within %.1f s: %d order(s) still open at the last read; %s",
                  deadline_s, remaining, "; ".join(errors) or "no error text")
    return report


class KillPathRunner:
    """The kill path for a synchronous caller: its own client, kept started on a background loop.

    ``runner = KillPathRunner(cfg, nonce_source=ns); runner.start()`` at process start;
    ``runner.trigger().result()`` (or poll the returned future) when execution has not
    confirmed cancel-all in time; ``runner.close()`` at exit. The client is HTTP only.
    """

    def __init__(self, cfg: ExchangeClientConfig, key: AgentKey | None = None,
                 nonce_source: NonceSource | None = None, name: str = "kill-path") -> None:
        self.cfg = cfg
        self.client = ExchangeClient.from_config(cfg, key=key, nonce_source=nonce_source, name=name,
                                                 use_ws_post=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._started = False

    def __repr__(self) -> str:
        return f"KillPathRunner({self.client!r})"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the loop and the client (loads meta); raises if the venue cannot be reached."""
        if not self._started:
            self._thread.start()
            self._started = True
        asyncio.run_coroutine_threadsafe(self.client.start(connect_ws=False), self._loop).result(timeout_s)

    def trigger(self, deadline_s: float | None = None) -> concurrent.futures.Future[KillReport]:
        """Run :func:`cancel_everything` now; a future with the report."""
        if not self._started:
            raise RuntimeError("KillPathRunner.start() first")
        d = self.cfg.kill_deadline_s if deadline_s is None else deadline_s
        return asyncio.run_coroutine_threadsafe(cancel_everything(self.client, d), self._loop)

    def close(self, timeout_s: float = 10.0) -> None:
        if self._started:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.client.close(), self._loop).result(timeout_s)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
            self._started = False
        if not self._loop.is_running():
            self._loop.close()
