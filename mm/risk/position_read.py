"""When a read of the venue's positions (clearinghouseState) may be trusted.

Risk reconciles its own position book with the venue every ``interval_ns``. A read taken
while one of our fills is on its way can count that fill twice or not at all, so a read is
sent only when no fill of ours arrived within ``fill_quiet_ns`` and execution (which relays
fills) is alive; its answer is judged only ``settle_ns`` after it came (a fill applied
before the read may still be on the ring), and is rejected, and retried ``fill_quiet_ns``
later, if a fill arrived around the read or execution stopped looping since. Pure logic:
times are passed in; the caller does the I/O.
"""

from __future__ import annotations


class PositionReadGate:
    """The timing rule of venue position reads. One read at a time."""

    def __init__(self, interval_ns: int, start_ns: int, fill_quiet_ns: int = 1_000_000_000,
                 settle_ns: int = 250_000_000) -> None:
        self.interval_ns = interval_ns
        self.fill_quiet_ns = fill_quiet_ns
        self.settle_ns = settle_ns
        self.due_ns = start_ns
        self.sent_ns = 0
        self.answered_ns = 0
        self.last_fill_ns = -fill_quiet_ns

    def on_fill(self, now_ns: int) -> None:
        self.last_fill_ns = now_ns

    @staticmethod
    def _alive(now_ns: int, beat_ns: int, within_ns: int) -> bool:
        return beat_ns > 0 and now_ns - beat_ns <= within_ns

    def may_send(self, now_ns: int, execution_beat_ns: int) -> bool:
        """A read is due, no fill of ours is close, and execution is alive."""
        return (now_ns >= self.due_ns and now_ns - self.last_fill_ns >= self.fill_quiet_ns
                and self._alive(now_ns, execution_beat_ns, self.fill_quiet_ns))

    def on_sent(self, now_ns: int) -> None:
        self.sent_ns = now_ns
        self.answered_ns = 0

    def settled(self, now_ns: int) -> bool:
        """Call once the answer is in: True once it has waited ``settle_ns``."""
        if not self.answered_ns:
            self.answered_ns = now_ns
        return now_ns - self.answered_ns >= self.settle_ns

    def on_failed(self, now_ns: int) -> None:
        self.due_ns = now_ns + self.fill_quiet_ns

    def accept(self, now_ns: int, execution_beat_ns: int) -> bool:
        """Whether the settled answer may be adopted; schedules the next read either way."""
        if (self.last_fill_ns >= self.sent_ns - self.fill_quiet_ns
                or not self._alive(now_ns, execution_beat_ns, self.settle_ns)):
            self.due_ns = now_ns + self.fill_quiet_ns
            return False
        self.due_ns = now_ns + self.interval_ns
        return True
