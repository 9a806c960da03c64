"""Chaos and failure-mode scenarios against the paper group and the sim venue (issues 10, 12).

``python -m chaos.run`` (``make chaos``) runs every scenario and prints one row per figure;
``tests/chaos`` runs the fast ones inside ``make test``. An edge tool: it starts real
processes and venues, and imports ``mm``; nothing in ``mm`` imports it.
"""
