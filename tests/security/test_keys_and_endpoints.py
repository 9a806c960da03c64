"""Security checks of the process group (issue 10), against real supervisor processes.

- A signing key file that is not owner-only (or owned by another user) refuses the start
  of the group: the supervisor exits 2 before it creates anything, and says which file and
  how to fix it, never what it holds.
- Bad configs are refused the same way, with an error naming the key.
- The key never reaches a file the group writes: a trading paper group (it signs orders,
  cancels and the dead man's switch with generated keys), killed by the operator (a
  postmortem) and with execution killed -9 (error paths, a restart), then stopped: every
  file under its state and run directories and its log, the audit files decompressed, and
  its shared-memory segments read while it ran, are searched for each key's hex (either
  case) and raw bytes.
- The control endpoint is owner-only: the run directory 0700 (tightened if it existed
  looser), the socket 0600, and another user cannot connect to it.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard

from chaos.group import REPO, Group, eventually, mmctl, proc
from mm.venues.hyperliquid.keys import write_key_file

NOBODY = 65534
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
KEY_A = "0x" + "5c" * 31 + "01"
KEY_B = "0x" + "a7" * 31 + "02"


def _supervisor(config: Path, run_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MM_RUN_DIR=str(run_dir))
    return subprocess.run([sys.executable, "-m", "procs.supervisor", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env=env)


def _live_config(tmp: Path, key_file: Path) -> Path:
    cfg = tmp / "live.toml"
    cfg.write_text(f'[run]\nmode = "live"\nstate_dir = "{tmp / "state"}"\n'
                   '[venues]\nhl_http_url = "https://api.hyperliquid.xyz"\n'
                   f'[exchange]\nnetwork = "mainnet"\nkey_file = "{key_file}"\n')
    return cfg


def _nothing_started(run_dir: Path) -> None:
    for name in ("group.json", "control.sock"):
        assert not (run_dir / name).exists(), f"{name} created by a refused start"


def _no_secret_in(text: str) -> None:
    for k in (KEY_A, KEY_B):
        h = k.removeprefix("0x")
        assert h not in text.lower(), "a key in the output"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_key_file_not_owner_only_refuses_start(tmp_path: Path, mode: int) -> None:
    key = write_key_file(tmp_path / "agent.key", KEY_A)
    write_key_file(tmp_path / "agent.key.risk", KEY_B)
    os.chmod(key, mode)
    r = _supervisor(_live_config(tmp_path, key), tmp_path / "run")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "key error" in r.stderr and str(key) in r.stderr and f"{mode:04o}" in r.stderr, r.stderr
    assert "chmod 600" in r.stderr, r.stderr
    _no_secret_in(r.stdout + r.stderr)
    _nothing_started(tmp_path / "run")


def test_owner_only_key_files_are_accepted_up_to_the_start(tmp_path: Path) -> None:
    """The control case: with both files 0600 the same config gets past the key check (and
    only then fails, on purpose, on a run directory it may not use), so the refusals above
    are about the mode and nothing else."""
    key = write_key_file(tmp_path / "agent.key", KEY_A)
    write_key_file(tmp_path / "agent.key.risk", KEY_B)
    run_dir = tmp_path / "run-is-a-file"
    run_dir.write_text("not a directory")
    r = _supervisor(_live_config(tmp_path, key), run_dir)
    assert "key error" not in r.stderr, r.stderr
    assert r.returncode != 0
    _no_secret_in(r.stdout + r.stderr)


@pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")
def test_key_file_owned_by_another_user_refuses_start(tmp_path: Path) -> None:
    key = write_key_file(tmp_path / "agent.key", KEY_A)
    risk = write_key_file(tmp_path / "agent.key.risk", KEY_B)
    os.chown(risk, NOBODY, NOBODY)
    r = _supervisor(_live_config(tmp_path, key), tmp_path / "run")
    assert r.returncode == 2 and "key error" in r.stderr, r.stderr
    assert str(risk) in r.stderr and "owned by uid" in r.stderr, r.stderr
    _no_secret_in(r.stdout + r.stderr)
    _nothing_started(tmp_path / "run")


def test_paper_key_file_made_readable_refuses_start(tmp_path: Path) -> None:
    """Paper keys are generated owner-only; one widened afterwards stops the next start."""
    g = Group(tmp_path)
    from mm.config import load_config
    from procs.paper_keys import provision

    provision(load_config(str(g.config)))
    key = g.state_dir / "keys" / "execution.key"
    os.chmod(key, 0o644)
    r = _supervisor(g.config, Path(g.run_dir))
    assert r.returncode == 2 and "key error" in r.stderr and str(key) in r.stderr, r.stderr
    assert "chmod 600" in r.stderr
    secret = key.read_text().strip().removeprefix("0x").lower()
    assert secret not in (r.stdout + r.stderr).lower()
    _nothing_started(Path(g.run_dir))


@pytest.mark.parametrize(("text", "key"), [
    ("[supervisor]\nheartbeat_deadline_ms = -5\n", "supervisor.heartbeat_deadline_ms"),
    ("[run]\nmode = 'yolo'\n", "run.mode"),
    ("[ipc]\nslot_size = 100\n", "ipc.slot_size"),
    ("[feed]\nstale_after_ms = 'soon'\n", "feed.stale_after_ms"),
    ("[exchange]\nnetwork = 'moon'\n", "network"),
    ("[run]\nmode = 'live'\n", "loopback"),
    ("[supervisor]\nrestartable = ['nope']\n", "supervisor.restartable"),
])
def test_bad_config_refused_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    r = _supervisor(cfg, tmp_path / "run")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "config error" in r.stderr and key in r.stderr and str(cfg) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    _nothing_started(tmp_path / "run")


# --------------------------------------------------------------------------- a running group


def _key_needles(key_dir: Path) -> dict[str, list[bytes]]:
    out = {}
    for p in sorted(key_dir.iterdir()):
        h = p.read_text().strip().removeprefix("0x").lower()
        out[p.name] = [h.encode(), h.upper().encode(), bytes.fromhex(h)]
    return out


def _readable(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(ZSTD_MAGIC):  # audit files: search what they hold, not the compressed bytes
        with zstandard.ZstdDecompressor().stream_reader(data) as r:
            data = r.read()
    return data


def _can_connect_as(uid: int, path: str) -> str:
    """Try to connect to a unix socket as another user (a forked child): "" on success, else the error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to ``uid``, try, report, exit without running any cleanup
        try:
            os.close(r)
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                out = b""
            except OSError as exc:
                out = type(exc).__name__.encode()
            os.write(w, out or b"connected")
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        got = fh.read().decode()
    os.waitpid(pid, 0)
    return "" if got == "connected" else got


@pytest.mark.integration
def test_running_group_keeps_keys_secret_and_its_control_endpoint_private(tmp_path: Path) -> None:
    g = Group.trading(tmp_path, replace={"[monitor]\n": "[monitor]\npostmortem_min_interval_s = 1.0\n"})
    os.makedirs(g.run_dir, mode=0o755)
    os.chmod(g.run_dir, 0o755)  # an existing, too open run directory is tightened
    shm_dumps: dict[str, bytes] = {}
    try:
        st = g.start(180)
        # --- the control endpoint
        sock = os.path.join(g.run_dir, "control.sock")
        assert stat.S_IMODE(os.stat(g.run_dir).st_mode) == 0o700
        s = os.stat(sock)
        assert stat.S_ISSOCK(s.st_mode) and stat.S_IMODE(s.st_mode) & 0o077 == 0, oct(s.st_mode)
        assert s.st_uid == os.getuid()
        with socket.socket(socket.AF_UNIX) as c:  # the owner can
            c.connect(sock)
        if os.getuid() == 0:
            assert _can_connect_as(NOBODY, sock) == "PermissionError"
        for name in ("group.json",):
            assert stat.S_IMODE(os.stat(os.path.join(g.run_dir, name)).st_mode) & 0o077 == 0

        # --- make it sign, fail and write: orders, a kill (postmortem), kill -9 execution
        from chaos.group import VenueView
        from mm.config import load_config
        from procs.paper_keys import signers

        cfg = load_config(str(g.config))
        venue = VenueView(cfg.venues.hl_http_url, signers(cfg).account)
        eventually(venue.open_orders, 90, "orders resting", g.log)
        assert mmctl(g.run_dir, "kill", "--reason", "security test").returncode == 0
        pm = g.state_dir / "postmortems"
        eventually(lambda: pm.exists() and any(pm.iterdir()), 60, "a postmortem bundle", g.log)
        os.kill(proc(st, "execution")["pid"], signal.SIGKILL)
        eventually(lambda: proc(g.status(), "execution")["restarts"] >= 1, 60, "execution restarted", g.log)
        g.wait_healthy(90)
        time.sleep(2.0)
        for e in os.listdir("/dev/shm"):
            if f"mm.{g.run_id}." in e:
                shm_dumps[e] = Path("/dev/shm", e).read_bytes()
    finally:
        rc = g.stop()
    assert rc == 0, g.log()

    needles = _key_needles(g.state_dir / "keys")
    assert len(needles) == 3
    files = [p for p in tmp_path.rglob("*") if p.is_file() and (g.state_dir / "keys") not in p.parents]
    kinds = {"log": [p for p in files if p.suffix == ".log"],
             "audit": [p for p in files if "audit" in p.parts],
             "postmortem": [p for p in files if "postmortems" in p.parts]}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    assert shm_dumps
    found = []
    blobs = [(str(p), _readable(p)) for p in files] + list(shm_dumps.items())
    for where, data in blobs:
        for name, forms in needles.items():
            if any(f in data for f in forms):
                found.append(f"{name} in {where}")
    assert found == [], found
    print(f"\nsearched {len(files)} files ({', '.join(f'{k} {len(v)}' for k, v in kinds.items())}) and "
          f"{len(shm_dumps)} shared-memory segments for 3 keys: none found")
