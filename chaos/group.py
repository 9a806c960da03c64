"""Start the real paper process group (supervisor + worker OS processes) from tests and chaos.

:class:`Group` writes a private copy of ``configs/paper.toml`` (own state directory, free
ports for the sim venue and the monitor, the caller's overrides), starts
``python -m procs.supervisor`` and waits for every worker to heartbeat. The helpers around
it read the running group from outside, as an operator would: ``mmctl status``, the
venue's ``/info`` for the paper account, risk's status file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# Settings under which the paper group actually rests orders at the sim venue (the policy
# may rightly stay Flat on this market at the base fee tier): full exposure, the touch
# baseline policy, a kill that demotes to Full again so a reset group quotes again, and a
# heartbeat deadline generous enough for a loaded 2-core box (a killed process is seen at
# once from its exit anyway).
TRADING_REPLACE = {
    'start_level = "SHADOW"': 'start_level = "FULL"',
    "dry_run = false": 'dry_run = false\npolicy = "touch"',
    "quote_notional_usd = 100.0": "quote_notional_usd = 250.0",
    "heartbeat_deadline_ms = 250": "heartbeat_deadline_ms = 5000\ndeadline_overrides_ms = { monitor = 5000 }",
}
TRADING_OVERRIDES = """
[risk]
reconcile_interval_s = 2.0

[escalation]
dwell_s = [0.0, 0.3, 0.3, 0.3, 0.0]

[promotion]
safety_demote_level = "KILL"
safety_demote_to = "FULL"
kill_demote_to = "FULL"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mmctl(run_dir: str, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mm.cli.mmctl", "--run-dir", run_dir, *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def status(run_dir: str) -> dict[str, Any]:
    r = mmctl(run_dir, "status", "--json")
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def shm_entries(run_id: str) -> list[str]:
    return [e for e in os.listdir("/dev/shm") if f"mm.{run_id}." in e]


def proc(st: dict[str, Any], name: str) -> dict[str, Any]:
    """One process's row of ``mmctl status --json``."""
    return next(p for p in st["processes"] if p["name"] == name)


def eventually(pred: Callable[[], T], timeout_s: float, what: str, on_fail: Callable[[], str] = lambda: "") -> T:
    """Poll ``pred`` until it returns something truthy; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{on_fail()}")


class Group:
    """One paper group in ``tmp``. ``overrides`` is TOML appended to the config; ``replace``
    maps text of configs/paper.toml to its replacement; ``env`` is added to the
    supervisor's environment (the workers inherit it)."""

    def __init__(self, tmp: Path, overrides: str = "", replace: dict[str, str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.run_dir = str(tmp / "run")
        self.state_dir = tmp / "state"
        self.log_path = tmp / "supervisor.log"
        base = (REPO / "configs" / "paper.toml").read_text()
        base = base.replace('state_dir = "var/paper"', f'state_dir = "{self.state_dir}"')
        self.venue_port = free_port()
        base = base.replace("18080", str(self.venue_port))  # never collide with a running `make up`
        base = base.replace("port = 9100", f"port = {free_port()}")
        for old, new in (replace or {}).items():
            if old not in base:
                raise ValueError(f"configs/paper.toml no longer has {old!r}")
            base = base.replace(old, new)
        self.config = tmp / "paper.toml"
        self.config.write_text(base + "\n" + overrides)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_id = ""

    @classmethod
    def trading(cls, tmp: Path, overrides: str = "", replace: dict[str, str] | None = None,
                env: dict[str, str] | None = None) -> Group:
        """A group that rests orders at the venue (TRADING_REPLACE, TRADING_OVERRIDES + ``overrides``)."""
        return cls(tmp, TRADING_OVERRIDES + "\n" + overrides, {**TRADING_REPLACE, **(replace or {})}, env)

    def start(self, timeout_s: float = 120.0) -> dict[str, Any]:
        env = dict(os.environ, MM_RUN_DIR=self.run_dir, PYTHONUNBUFFERED="1", **self.env)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "procs.supervisor", "--config", str(self.config)],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        return self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float = 60.0, flowing: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
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

    def status(self) -> dict[str, Any]:
        return status(self.run_dir)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def full_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def group_file(self) -> dict[str, Any]:
        with open(os.path.join(self.run_dir, "group.json")) as fh:
            out: dict[str, Any] = json.load(fh)
        return out

    def risk_status(self) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.run_dir, "risk_status.json")) as fh:
                out: dict[str, Any] = json.load(fh)
                return out
        except (OSError, ValueError):
            return None

    def risk_positions(self) -> dict[str, float] | None:
        st = self.risk_status()
        if st is None:
            return None
        return {s["coin"]: float(s["qty"]) for s in st["limits"]["symbols"]}

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


class VenueView:
    """The sim venue as seen from outside: plain HTTP ``/info`` for one account."""

    def __init__(self, url: str, account: str) -> None:
        self.url = url
        self.account = account

    def info(self, body: dict[str, Any], timeout_s: float = 5.0) -> Any:
        req = urllib.request.Request(self.url + "/info", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())

    def open_orders(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.info({"type": "frontendOpenOrders", "user": self.account}, timeout_s)
        return out

    def positions(self) -> dict[str, float]:
        st = self.info({"type": "clearinghouseState", "user": self.account})
        return {p["position"]["coin"]: float(p["position"]["szi"]) for p in st["assetPositions"]}

    def fills(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.info({"type": "userFills", "user": self.account})
        return out


def position_diff(a: dict[str, float] | None, b: dict[str, float]) -> float:
    """The largest absolute per-coin difference (inf when ``a`` is unknown)."""
    if a is None:
        return float("inf")
    return max((abs(a.get(c, 0.0) - b.get(c, 0.0)) for c in set(a) | set(b)), default=0.0)


class RingTap:
    """One more reader of a ring of a running group, in a thread: how old each message is on
    arrival, on the monotonic clock: ``now - ts_ns`` on the md ring (the feed's receive
    stamp), ``now - origin_ts_ns`` elsewhere (the market event a snapshot or signal came
    from; a snapshot triggered by one of our fills carries the fill's order's origin, so
    the upper tail of those ages includes time to fill: use medians)."""

    def __init__(self, g: Group, ring: str, types: tuple[type, ...] = ()) -> None:
        import threading

        from ipc.ring import Ring
        from mm.schema import Codec

        self.ring = Ring.attach(g.group_file()["rings"][ring])
        self.reader = self.ring.reader(f"chaos-tap-{ring}-{os.getpid()}", start="latest")
        self.md = ring == "md"
        self.types = types
        self.codec = Codec()
        self.ages_ms: list[tuple[float, float]] = []  # (monotonic s, age ms)
        self.wall_skew_s: list[tuple[float, float]] = []  # (monotonic s, a message's wall_ns - our wall clock)
        self.lost = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from ipc.ring import RingOverrun

        while not self._stop.is_set():
            try:
                batch = self.reader.poll_batch(1024)
            except RingOverrun as exc:
                self.lost += exc.lost
                continue
            now = time.monotonic_ns()
            for raw in batch:
                msg = self.codec.decode(raw)
                if self.types and not isinstance(msg, self.types):
                    continue
                wall_ns = getattr(msg, "wall_ns", 0)
                if wall_ns:
                    self.wall_skew_s.append((now / 1e9, wall_ns / 1e9 - time.time()))
                ts = getattr(msg, "ts_ns" if self.md else "origin_ts_ns", 0)
                if ts > 0:
                    self.ages_ms.append((now / 1e9, (now - ts) / 1e6))
            if not batch:
                time.sleep(0.002)

    def between(self, t0_s: float, t1_s: float) -> list[float]:
        return [a for t, a in list(self.ages_ms) if t0_s <= t < t1_s]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.reader.close()
        self.ring.close()
