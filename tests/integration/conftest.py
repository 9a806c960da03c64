"""Start the real process group (supervisor + worker OS processes) for integration tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mmctl(run_dir: str, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mm.cli.mmctl", "--run-dir", run_dir, *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def status(run_dir: str) -> dict:
    r = mmctl(run_dir, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def shm_entries(run_id: str) -> list[str]:
    return [e for e in os.listdir("/dev/shm") if f"mm.{run_id}." in e]


class Group:
    def __init__(self, tmp: Path, overrides: str = "") -> None:
        self.run_dir = str(tmp / "run")
        self.log_path = tmp / "supervisor.log"
        base = (REPO / "configs" / "paper.toml").read_text()
        base = base.replace('state_dir = "var/paper"', f'state_dir = "{tmp / "state"}"')
        base = base.replace("18080", str(free_port()))  # never collide with a running `make up`
        base = base.replace("port = 9100", f"port = {free_port()}")
        self.config = tmp / "paper.toml"
        self.config.write_text(base + "\n" + overrides)
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_id = ""

    def start(self, timeout_s: float = 120.0) -> dict:
        env = dict(os.environ, MM_RUN_DIR=self.run_dir, PYTHONUNBUFFERED="1")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "procs.supervisor", "--config", str(self.config)],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        return self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float = 60.0, flowing: bool = True) -> dict:
        deadline = time.monotonic() + timeout_s
        last: dict = {}
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            r = mmctl(self.run_dir, "status", "--json")
            if r.returncode == 0:
                last = json.loads(r.stdout)
                self.run_id = last["run_id"]
                procs = last["processes"]
                alive = all(p["alive"] and p["state"] == "running" for p in procs)
                fresh = all(p["heartbeat_age_ms"] is not None and p["heartbeat_age_ms"] < 250 for p in procs)
                pipeline = ("md", "snap", "sig", "ex", "ctl")
                flow = not flowing or all(c["published"] > 0 for c in last["channels"] if c["channel"] in pipeline)
                if alive and fresh and flow:
                    return last
            time.sleep(0.2)
        raise AssertionError(f"group not healthy within {timeout_s} s: {json.dumps(last)[:2000]}\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        return rc


@pytest.fixture
def group_factory(tmp_path):
    groups: list[Group] = []

    def make(overrides: str = "") -> Group:
        (tmp_path / f"g{len(groups)}").mkdir()
        g = Group(tmp_path / f"g{len(groups)}", overrides)
        groups.append(g)
        return g

    yield make
    for g in groups:
        if g.proc is not None and g.proc.poll() is None:
            g.stop()
