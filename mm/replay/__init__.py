"""Deterministic single-process replay (issue 8): engine, latency, PnL, metrics, report, decision replay."""
