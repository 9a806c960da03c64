"""The monitor against the running paper group: /metrics scrapes, the dashboard renders the
group's live state in headless Chromium, and `mmctl status` shows the monitor's essentials."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.audit.helpers import dom_text, run_chromium

from .conftest import mmctl, status

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def chromium() -> str:
    script = HERE.parent / "audit" / "ensure_chromium.sh"
    try:
        r = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium could not be installed: {exc}")
    if r.returncode != 0:
        pytest.skip(f"chromium could not be installed (exit {r.returncode}): {r.stderr.strip()[-300:]}")
    return r.stdout.strip().splitlines()[-1]


def test_metrics_and_dashboard_against_the_running_group(group_factory, chromium, tmp_path):
    g = group_factory()
    st = g.start()
    with open(Path(g.run_dir) / "monitor.json") as fh:
        url = json.load(fh)["url"].rstrip("/")
    # /metrics scrapes and carries the group's figures.
    deadline = time.monotonic() + 30
    names: set[str] = set()
    while time.monotonic() < deadline:
        body = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
        names = {f.name for f in text_string_to_metric_families(body)}
        if any("heartbeat" in n for n in names) and any("safety" in n for n in names):
            break
        time.sleep(1)
    assert any("heartbeat" in n for n in names) and any("safety" in n for n in names), sorted(names)[:40]

    # The dashboard shows the live run: its id, the risk levels and every process.
    shot = tmp_path / "dashboard-group.png"
    # Headless Chromium on a loaded 2-core box now and then exits 0 with an empty dump: retry.
    dom, errors = "", []
    for attempt in range(3):
        r = run_chromium(chromium, tmp_path / f"profile{attempt}", url + "/", "--dump-dom")
        if r.returncode == 0 and 'id="conn"' in r.stdout and ">live<" in r.stdout:
            dom = r.stdout
            break
        errors.append(f"rc {r.returncode}, {len(r.stdout)} bytes: {r.stderr[-300:]}")
    assert dom, errors
    assert dom_text(dom, "conn") == "live"
    assert dom_text(dom, "run-id") == st["run_id"]
    risk = status(g.run_dir)["risk"]
    assert dom_text(dom, "safety-level") == risk["safety_level"]
    assert dom_text(dom, "exposure-level") == risk["exposure_level"]
    for proc in ("feed", "feature", "alpha", "execution", "risk"):
        assert proc in dom
    r = run_chromium(chromium, tmp_path / "profile2", url + "/", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.stat().st_size > 10_000
    print(f"dashboard screenshot: {shot}")

    out = mmctl(g.run_dir, "status")
    assert out.returncode == 0 and "monitor not reachable" not in out.stdout
    assert g.stop() == 0
