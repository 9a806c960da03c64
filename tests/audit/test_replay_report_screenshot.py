"""The replay report as a person sees it: `mmctl replay`'s report.html rendered by headless
Chromium, a screenshot kept under var/test-artifacts/, and the numbers the browser shows
checked against report.json."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.audit.helpers import REPO, run_chromium

ARTIFACTS = REPO / "var" / "test-artifacts"


def _cells(row_html: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row_html, re.S)]


def comparison_table(dom: str) -> dict[str, dict[str, str]]:
    """metric -> {run key -> shown text}, from the rendered comparison table."""
    m = re.search(r">Comparison</h\d>\s*<table>(.*?)</table>", dom, re.S)
    assert m is not None, "no comparison table in the rendered page"
    rows = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)]
    head = rows[0][1:]
    return {r[0]: dict(zip(head, r[1:], strict=True)) for r in rows[1:]}


def test_replay_report_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    out = tmp_path / "replay"
    r = subprocess.run([sys.executable, "-m", "mm.cli.mmctl", "replay", "--data", "generated", "--duration-s", "240",
                        "--coins", "BTC", "--policies", "state_machine,touch", "--fee-tiers", "base",
                        "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=600, env=dict(os.environ, CI="true"))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((out / "report.json").read_text())
    page = (out / "report.html").resolve()
    url = page.as_uri()

    dom = ""
    for attempt in range(3):  # an occasional empty dump under load
        d = run_chromium(chromium, tmp_path / f"profile-dom{attempt}", url, "--dump-dom")
        assert d.returncode == 0, d.stderr[-2000:]
        dom = d.stdout
        if "Comparison" in dom:
            break
    shot = tmp_path / "replay-report.png"
    s = run_chromium(chromium, tmp_path / "profile-shot", url, f"--screenshot={shot}")
    assert s.returncode == 0, s.stderr[-2000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / "replay-report.png"
    shutil.copyfile(shot, kept)
    (ARTIFACTS / "replay-report.dom.html").write_text(dom)
    print(f"\nreplay report screenshot: {kept}\nreplay report DOM: {ARTIFACTS / 'replay-report.dom.html'}")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a drawn page, not a blank one
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 900)

    assert "<h1>mm replay report</h1>" in dom
    table = comparison_table(dom)
    runs = doc["runs"]
    assert set(table["fills"]) == set(runs) == {"state_machine@base", "touch@base"}
    for key, run in runs.items():
        m = run["metrics"]
        assert table["PnL total (USD)"][key] == f"{m['pnl']['total_usd']:.2f}", key
        assert table["spread capture"][key] == f"{m['pnl']['spread_capture_usd']:.2f}", key
        assert table["adverse selection"][key] == f"{m['pnl']['adverse_selection_usd']:.2f}", key
        assert table["fees"][key] == f"{m['pnl']['fees_usd']:.2f}", key
        assert table["fills"][key] == str(m["fills"]), key
        assert table["turnover (USD)"][key] == f"{m['turnover_usd']:.0f}", key
        assert table["time in Flat"][key] == f"{100 * m['mode_share'].get('FLAT', 0.0):.1f}%", key
        # the parts shown add up to the total shown (to the rounding of four figures)
        parts = sum(float(table[p][key]) for p in ("spread capture", "adverse selection", "fees", "inventory"))
        assert abs(parts - float(table["PnL total (USD)"][key])) <= 0.021, key
    assert int(table["fills"]["touch@base"]) > 0  # the touch baseline trades on the generated market
    # the page says what was replayed: data, split, the fee tier's rates
    flat = " ".join(re.sub(r"<[^>]+>", " ", dom).split())
    assert "generator seed 0" in flat and "never shuffled" in flat
