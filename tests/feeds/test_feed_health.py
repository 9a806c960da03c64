"""Pure feed-health logic: counters with rate-limited logging, stale detection, keepalive, backoff."""

from __future__ import annotations

import logging
import random

import pytest

from mm.schema import FeedStale, Venue
from mm.venues.feed_health import (
    NS_PER_MS,
    NS_PER_S,
    Backoff,
    BadInput,
    BadInputCounters,
    Keepalive,
    StaleDetector,
)


def test_counters_count_per_kind_and_log_once_per_minute(caplog: pytest.LogCaptureFixture) -> None:
    c = BadInputCounters("t")
    with caplog.at_level(logging.INFO, logger="mm.venues.feed_health"):
        c.count(BadInput.MALFORMED_JSON, 0)
        c.count(BadInput.MALFORMED_JSON, 10 * NS_PER_S)
        c.count(BadInput.MALFORMED_JSON, 59 * NS_PER_S)
        c.count(BadInput.CROSSED_BOOK, 59 * NS_PER_S)
        c.count(BadInput.MALFORMED_JSON, 60 * NS_PER_S, n=2)
    assert c[BadInput.MALFORMED_JSON] == 5 and c[BadInput.CROSSED_BOOK] == 1 and c.total == 6
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "MALFORMED_JSON" in lines[0] and "CROSSED_BOOK" in lines[1]
    assert "2 suppressed" in lines[2] and "total 5" in lines[2]
    assert c.as_dict(nonzero_only=True) == {"MALFORMED_JSON": 5, "CROSSED_BOOK": 1}
    assert set(c.as_dict()) == {k.name for k in BadInput}


def test_stale_detector_once_per_episode_and_recovery() -> None:
    d = StaleDetector(Venue.HYPERLIQUID, [0, 1], stale_after_ns=100)
    d.reset(1_000)
    assert d.check(1_050) == []
    # the first message since reset announces that the symbol's data has started
    assert d.on_message(0, 1_060) == FeedStale(int(Venue.HYPERLIQUID), 0, 1_060, 60, False)
    assert d.on_message(0, 1_060) is None
    out = d.check(1_100)
    assert out == [FeedStale(int(Venue.HYPERLIQUID), 1, 1_100, 100, True)]
    assert d.check(1_150) == []  # not repeated
    assert d.is_stale(1) and not d.is_stale(0)
    assert [e.symbol_id for e in d.check(1_160)] == [0]
    back = d.on_message(1, 1_300)
    assert back == FeedStale(int(Venue.HYPERLIQUID), 1, 1_300, 300, False)
    assert d.on_message(1, 1_310) is None
    assert d.on_message(7, 1_310) is None  # unknown symbol: ignored


def test_keepalive_ping_and_dead() -> None:
    k = Keepalive(ping_interval_ns=50, dead_after_ns=120)
    k.on_connect(0)
    assert not k.ping_due(49) and k.ping_due(50)
    k.on_ping(50)
    assert not k.ping_due(99) and k.ping_due(100)
    k.on_rx(60)
    assert not k.dead(179) and k.dead(180)


def test_backoff_grows_is_bounded_jittered_and_resets() -> None:
    b = Backoff(base_ns=100 * NS_PER_MS, max_ns=2 * NS_PER_S, rng=random.Random(1))
    delays = [b.next_delay_ns() for _ in range(12)]
    for i, d in enumerate(delays):
        ceiling = min(2 * NS_PER_S, 100 * NS_PER_MS * 2**i)
        assert ceiling // 2 <= d <= ceiling
    assert len(set(delays[6:])) > 1, "jitter spreads the capped delays"
    b.reset()
    assert b.next_delay_ns() <= 100 * NS_PER_MS
    with pytest.raises(ValueError):
        Backoff(base_ns=0)
