"""The simulated venue: a synthetic market generator and a paper exchange that speaks Hyperliquid.

Paper exchange: ``matching`` (engine and fill model), ``queue_model``, ``fees``, ``latency``,
``failures``, ``nonces``, ``ratelimit`` (pure), ``config``, ``driver`` (market sources) and
``server`` (the HTTP/websocket edge). Market generation: ``generator``, ``generator_config``,
``labels``.
"""
