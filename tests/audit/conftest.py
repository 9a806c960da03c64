"""Fixtures of the audit tests: Debian's chromium for the dashboard (installed if missing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable chromium. Installs Debian's package with apt-get when it is
    missing (tests/audit/ensure_chromium.sh); skips, saying why, only if that is impossible."""
    try:
        r = subprocess.run(["sh", str(HERE / "ensure_chromium.sh")], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium could not be installed: {exc}")
    if r.returncode != 0:
        pytest.skip(f"chromium could not be installed (ensure_chromium.sh exit {r.returncode}): "
                    f"{r.stderr.strip()[-500:]}")
    return r.stdout.strip().splitlines()[-1]
