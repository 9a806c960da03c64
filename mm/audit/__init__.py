"""Decision audit: one record per quote cycle, their files, queries over them, postmortems.

- :mod:`mm.audit.record`: the messages (``CycleDecisionRecord`` tag 60, ``AuditFill`` 61,
  ``RiskStatus`` 62) and their builders. It imports nothing of mm, so that mm.schema can
  put these types in its codec union without an import cycle.
- :mod:`mm.audit.config`: ``MonitorConfig`` (the ``[monitor]`` section).
- :mod:`mm.audit.store`: audit files (rotated, zstd-compressed ``.mmrec``) and their reader.
- :mod:`mm.audit.query`: selection of records by time, mode, symbol, fill (pure).
- :mod:`mm.audit.postmortem`: when to write a postmortem bundle and what it holds (pure).

This package's ``__init__`` stays empty of imports on purpose (see the first point).
"""
