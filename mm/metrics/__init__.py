"""Observability of a running group: the monitor's state, its Prometheus metrics and HTTP server.

- :mod:`mm.metrics.state`: ``MonitorState``, what the monitor knows, built from the messages
  and shared memory it reads (pure logic), as one JSON-able state dict.
- :mod:`mm.metrics.registry`: that dict as Prometheus metric families (pure mapping), in the
  monitor's own registry.
- :mod:`mm.metrics.server`: the HTTP server of /metrics, the dashboard and /api/state (edge).
"""
