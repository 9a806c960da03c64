"""The README's walkthrough, run as written: its marked shell blocks, in order.

A block runs when the line before its ```bash fence is an HTML comment::

    <!-- walkthrough -->                 run it; exit status 0 expected
    <!-- walkthrough: exit=1 -->         the exit status it must end with (a refused promote)
    <!-- walkthrough: background -->     start it and leave it running (the group, `make up`);
                                         the next block runs once the group is healthy
    <!-- walkthrough: retry=30 -->       rerun it until it succeeds, for up to 30 s (files the
                                         group writes a moment after a command)

The blocks run with bash (``set -eo pipefail``) in a scratch directory laid out like a
checkout (``.venv`` linked to this one, ``configs/paper.toml`` copied with free ports and a
longer heartbeat deadline for a loaded CI box), with ``MM_RUN_DIR`` pointing into it, so the
walkthrough never touches this checkout's ``var/`` or a group the user is running. What
the test changes, and nothing else: ``make up`` runs the Makefile's own ``up`` recipe
(checked to be that), the dashboard port 9100 is the free port of the copied config, and
the long offline verbs get flags appended that shorten them (fewer coins, policies and fee
tiers). Every block's output goes to a transcript, printed at the end and kept
in var/test-artifacts/walkthrough.txt: the README's abridged output is pasted from it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mm.importers import data_dir

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ARTIFACTS = REPO / "var" / "test-artifacts"
UP_RECIPE = "exec $(PY) -m procs.supervisor --config $(CONFIG)"
UP_COMMAND = "exec .venv/bin/python -m procs.supervisor --config configs/paper.toml"
DASHBOARD_PORT = "9100"
# Flags appended to the long offline verbs (argparse: the last occurrence wins).
FAST_FLAGS = {
    "mmctl train": "--coins BTC",
    "mmctl replay": "--coins BTC --policies state_machine,touch --fee-tiers base",
}
MARK = re.compile(r"<!--\s*walkthrough(?::\s*([^>]*?))?\s*-->\s*\n```bash\n(.*?)```", re.S)


@dataclass
class Block:
    opts: dict[str, str]
    text: str
    line: int


def blocks(readme: str) -> list[Block]:
    out = []
    for m in MARK.finditer(readme):
        opts: dict[str, str] = {}
        for part in (m.group(1) or "").split(","):
            part = part.strip()
            if part:
                k, _, v = part.partition("=")
                opts[k.strip()] = v.strip()
        out.append(Block(opts, m.group(2), readme.count("\n", 0, m.start()) + 1))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shorten(cmd: str, mm_fast_flags: dict[str, str]) -> str:
    lines = []
    for ln in cmd.splitlines():
        for verb, flags in mm_fast_flags.items():
            if verb in ln and not ln.rstrip().endswith("\\"):
                ln = ln.rstrip() + " " + flags
        lines.append(ln)
    return "\n".join(lines) + "\n"


def test_walkthrough_blocks_are_marked() -> None:
    bs = blocks(README.read_text())
    text = "\n".join(b.text for b in bs)
    for step in ("mmctl import", "mmctl train", "mmctl replay", "make up", "mmctl status", "/metrics",
                 "mmctl record", "mmctl promote", "mmctl kill", "postmortems", "mmctl shutdown"):
        assert step in text, f"the README walkthrough lost its `{step}` step"
    assert [b for b in bs if "background" in b.opts], "the group block must be marked background"
    assert [b for b in bs if b.opts.get("exit") == "1"], "the refused promote must be marked exit=1"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^up: .*\n\t" + re.escape(UP_RECIPE) + "$", makefile, re.M), \
        "the Makefile's up recipe changed: update UP_COMMAND in this test"


def _wait_healthy(env: dict[str, str], cwd: Path, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    last: dict = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the group exited: " + log.read_text(errors="replace")[-4000:]
        r = subprocess.run([str(cwd / ".venv/bin/mmctl"), "status", "--json"], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            last = json.loads(r.stdout)
            procs = last["processes"]
            up = all(p["alive"] and p["state"] == "running" for p in procs)
            flowing = all(c["published"] > 0 for c in last["channels"] if c["channel"] in ("md", "snap", "ctl"))
            if up and flowing and (last.get("risk") or {}).get("exposure_level"):
                return last
        time.sleep(0.5)
    raise AssertionError(f"group not healthy in {timeout_s} s: {json.dumps(last)[:2000]}\n"
                         + log.read_text(errors="replace")[-4000:])


@pytest.mark.skipif(not (data_dir() / "hyperliquid-2025-09-04").is_dir(),
                    reason="the walkthrough starts from the shared recording (../shared/data/real or $MM_DATA_DIR)")
def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    (work / "configs").mkdir(parents=True)
    (work / ".venv").symlink_to(REPO / ".venv")
    port = str(free_port())
    cfg = (REPO / "configs" / "paper.toml").read_text()
    cfg = cfg.replace("18080", str(free_port())).replace(f"port = {DASHBOARD_PORT}", f"port = {port}")
    # a loaded 2-core CI box can stall a worker past 250 ms; the walkthrough is not a latency test
    cfg = re.sub(r"heartbeat_deadline_ms = \d+", "heartbeat_deadline_ms = 2000", cfg)
    (work / "configs" / "paper.toml").write_text(cfg)
    env = dict(os.environ, MM_RUN_DIR=str(work / "run"), PYTHONUNBUFFERED="1", CI="true")
    fast = dict(FAST_FLAGS)
    help_replay = subprocess.run([str(REPO / ".venv/bin/mmctl"), "replay", "--help"], capture_output=True,
                                 text=True, timeout=60).stdout
    if "--fit" in help_replay:  # fitting the warm-up models is the train step's job here
        fast["mmctl replay"] += " --fit none"
    transcript: list[str] = []
    group: subprocess.Popen[bytes] | None = None
    group_log = tmp_path / "group.log"
    t_start = time.monotonic()
    try:
        for b in blocks(README.read_text()):
            cmd = b.text.replace(f"127.0.0.1:{DASHBOARD_PORT}", f"127.0.0.1:{port}")
            if "background" in b.opts:
                assert cmd.strip() == "make up", f"README line {b.line}: the background block is `make up`"
                transcript.append(f"$ make up   # (background: {UP_COMMAND})")
                with open(group_log, "wb") as fh:
                    group = subprocess.Popen(["bash", "-c", UP_COMMAND], cwd=work, env=env, stdout=fh,
                                             stderr=subprocess.STDOUT, start_new_session=True)
                _wait_healthy(env, work, group, group_log, 180.0)
                continue
            cmd = shorten(cmd, fast)
            want = int(b.opts.get("exit", "0"))
            retry_s = float(b.opts.get("retry", "0"))
            deadline = time.monotonic() + retry_s
            while True:
                t0 = time.monotonic()
                r = subprocess.run(["bash", "-c", "set -eo pipefail\n" + cmd], cwd=work, env=env,
                                   capture_output=True, text=True, timeout=300)
                if r.returncode == want or time.monotonic() >= deadline:
                    break
                time.sleep(1.0)
            transcript.append(f"$ {cmd.strip()}   # README line {b.line}, exit {r.returncode}, "
                              f"{time.monotonic() - t0:.1f} s\n{r.stdout}{r.stderr}")
            assert r.returncode == want, (f"README line {b.line}: exit {r.returncode}, expected {want}\n{cmd}\n"
                                          f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        # what the walkthrough promised exists
        assert (work / "var/models/real/BTC/toxicity.json").exists()
        report = json.loads((work / "var/replay/report.json").read_text())
        assert report["runs"] and (work / "var/replay/report.html").stat().st_size > 1000
        assert list((work / "var/paper/postmortems").glob("*-kill-*/summary.md"))
        assert list((work / "var/recordings").rglob("*.mmrec"))
        assert group is not None, "the walkthrough never started the group"
        rc = group.wait(timeout=90)  # the last block is `mmctl shutdown`
        assert rc == 0, group_log.read_text(errors="replace")[-4000:]
        assert "group stopped; unlinked" in group_log.read_text(errors="replace")
    finally:
        if group is not None and group.poll() is None:
            os.killpg(group.pid, signal.SIGTERM)
            try:
                group.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(group.pid, signal.SIGKILL)
                group.wait()
        text = "\n".join(transcript)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "walkthrough.txt").write_text(text)
        print(f"\nwalkthrough transcript ({time.monotonic() - t_start:.0f} s): {ARTIFACTS / 'walkthrough.txt'}",
              file=sys.stderr)
