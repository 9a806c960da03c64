"""Binance USD-M futures public streams: the lead reference price (wire, depth_sync, feed).

Submodules are imported explicitly (``from mm.venues.binance.feed import BinanceFeed``).
"""
