"""The venue as its own process: TOML config, ``python -m mm.venues.sim.server``, clean shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from mm.venues.sim.config import EnhancedSimConfig, load_config

from .conftest import USER, wait_for

TOML = f"""
[venue]
port = 0
seed = 7
[[venue.coins]]
name = "BTC"
sz_decimals = 5
[[venue.coins]]
name = "ETH"
sz_decimals = 4
symbol_id = 12
[[venue.users]]
address = "{USER.address}"
balance_usd = 5000.0
[venue.matching]
queue_model = "behind_first"
[venue.latency]
enabled = true
mean_ms = 1.0
std_ms = 0.5
[venue.failures]
rejection_rate = 0.5
post_only_windows_s = [[10.0, 5.0]]
"""


def test_load_config(tmp_path: Path) -> None:
    p = tmp_path / "venue.toml"
    p.write_text(TOML)
    cfg = load_config(p)
    assert [c.name for c in cfg.coins] == ["BTC", "ETH"] and cfg.coins[1].symbol_id == 12
    assert cfg.matching.queue_model == "behind_first" and cfg.latency.enabled and cfg.seed == 7
    assert cfg.failures.post_only_windows_s == ((10.0, 5.0),) and cfg.failures.rejection_rate == 0.5
    assert cfg.ws.idle_timeout_s == 60.0 and cfg.host == "127.0.0.1"
    assert EnhancedSimConfig.seed_002().margin_cancel_rate == 0.005


def test_runs_as_a_process_and_replays_csv(tmp_path: Path) -> None:
    (tmp_path / "venue.toml").write_text(TOML)
    d = tmp_path / "rec"
    d.mkdir()
    header = "timestamp,sequence,exchange_timestamp," + ",".join(
        f"bid_price_{i},bid_size_{i},ask_price_{i},ask_size_{i}" for i in range(2))
    (d / "orderbooks_BTC.csv").write_text(
        header + "\n1.0,1,1000,100000.0,1.5,100001.0,2.0,99999.0,1.0,100002.0,1.0\n"
        "1.2,2,1200,100000.0,1.4,100001.0,2.0,99999.0,1.0,100002.0,1.0\n")
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mm.venues.sim.server", "--config", str(tmp_path / "venue.toml"), "--port-file",
         str(port_file), "--replay-csv", str(d), "--speed", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        port = int(wait_for(lambda: port_file.exists() and port_file.read_text().strip(), timeout_s=60,
                            what="port file"))
        url = f"http://127.0.0.1:{port}"
        meta = requests.post(url + "/info", json={"type": "meta"}, timeout=10).json()
        assert [a["name"] for a in meta["universe"]] == ["BTC", "ETH"]

        def top_bid() -> object:
            levels = requests.post(url + "/info", json={"type": "l2Book", "coin": "BTC"}, timeout=10).json()["levels"]
            return levels[0][0] if levels[0] else None

        # both snapshots replayed: the second one's size, applied as a diff
        wait_for(lambda: top_bid() == {"px": "100000.0", "sz": "1.4", "n": 1}, what="replayed book")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    assert b"paper venue listening on http://127.0.0.1:" in out
