"""Venues: each venue's wire format (pure) and its clients (edge).

Market data: :mod:`mm.venues.hyperliquid.md_wire` / :mod:`mm.venues.hyperliquid.feed`,
:mod:`mm.venues.binance.wire` / :mod:`mm.venues.binance.depth_sync` /
:mod:`mm.venues.binance.feed`, with the shared health logic in :mod:`mm.venues.feed_health`.
"""
