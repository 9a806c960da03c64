"""Hyperliquid: market-data wire format and feed (md_wire, feed); exchange client and signing.

Submodules are imported explicitly (``from mm.venues.hyperliquid.feed import HyperliquidFeed``)
so that importing one side does not pull in the other's dependencies.
"""
