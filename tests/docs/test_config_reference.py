"""docs/config.md is the generated configuration reference: up to date, complete, and the
errors for bad values name the key and the allowed range."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mm.cli.configdoc import DOC_PATH, REGENERATE, render, undocumented
from mm.config import ConfigError, parse_config
from mm.configref import field_docs, keys, sections


def test_config_md_is_up_to_date() -> None:
    current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
    assert current == render(), f"docs/config.md is out of date with the config structs: run `{REGENERATE}`"


def test_every_key_is_documented_with_type_and_default() -> None:
    assert undocumented() == [], "give these keys a docstring entry in their struct, then run " + REGENERATE
    ks = keys()
    assert len(ks) > 200  # the whole tree, sub-tables included
    for path, k in ks.items():
        assert k.type, path
    # spot checks across sections and depths, read from the structs
    assert ks["ipc.slot_count"].allowed == ">= 16, <= 4194304" and ks["ipc.slot_count"].default == "8192"
    assert ks["supervisor.heartbeat_deadline_ms"].unit == "ms"
    assert ks["execution.oms.ack_timeout_ms"].unit == "ms" and "Stale" in ks["execution.oms.ack_timeout_ms"].doc
    assert ks["run.mode"].allowed == 'one of "live", "paper", "replay"'
    assert ks["promotion.max_drawdown_pct"].unit == "%"
    titles = [s.title for s in sections()]
    for t in ("[run]", "[execution.oms]", "[execution.symbol_limits.<KEY>]", "[[venue.coins]]", "[exchange]"):
        assert t in titles, t


def test_the_page_lists_every_key() -> None:
    text = DOC_PATH.read_text()
    for s in sections():
        assert f"`{s.title}`" in text, s.title
        for k in s.keys:
            name = k.path.rsplit(".", 1)[-1]
            assert f"| `{name}` |" in text, k.path


def test_field_docs_reads_docstring_entries_comments_and_attribute_docstrings() -> None:
    import msgspec

    class Demo(msgspec.Struct, frozen=True):
        """A demo.

        alpha_ms: first line
            continued here.
        beta, gamma: shared meaning.
        """

        alpha_ms: int = 1
        beta: int = 2
        gamma: int = 3
        # delta's comment
        delta: int = 4
        eps: int = 5
        """eps's attribute docstring."""

    d = field_docs(Demo)
    assert d == {"alpha_ms": "first line continued here.", "beta": "shared meaning.", "gamma": "shared meaning.",
                 "delta": "delta's comment", "eps": "eps's attribute docstring."}


def test_check_mode_says_how_to_regenerate(tmp_path) -> None:
    stale = tmp_path / "config.md"
    stale.write_text("old\n")
    r = subprocess.run([sys.executable, "-m", "mm.cli.configdoc", "--check", "--out", str(stale)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and REGENERATE in r.stderr


@pytest.mark.parametrize("toml, key, allowed", [
    ("[ipc]\nslot_count = 3", "[ipc.slot_count]", "allowed: >= 16, <= 4194304"),
    ("[ipc]\nslot_count = 99999999", "[ipc.slot_count]", "allowed: >= 16, <= 4194304"),
    ('[ipc]\nwait = "fast"', "[ipc.wait]", 'allowed: one of "block", "spin", "spin_then_block"'),
    ("[ipc]\nslot_size = 1000", "[ipc.slot_size]", "a multiple of 64"),
    ("[supervisor]\nrestart_window_s = -1", "[supervisor.restart_window_s]", "allowed: > 0, <= 86400"),
    ('[run]\nmode = "demo"', "[run.mode]", 'one of "live", "paper", "replay"'),
    ("[ipc]\nslot_cnt = 8", "[ipc]", "keys of [ipc]: wait, spin_ns, slot_size, slot_count"),
])
def test_a_bad_value_names_the_key_and_the_allowed_range(toml: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(toml, source="x.toml")
    msg = str(ei.value)
    assert msg.startswith(f"x.toml: {key} "), msg
    assert allowed in msg, msg


def test_section_rules_name_the_key_and_the_bound() -> None:
    # checks that are not a plain bound live in the structs' __post_init__; they name the key too
    for toml, pattern in (("[execution]\nfill_horizon_s = 0", r"fill_horizon_s.*> 0"),
                          ("[ipc]\nslot_count = 1000", r"ipc\.slot_count must be a power of two"),
                          ("[supervisor]\nheartbeat_interval_ms = 200", r"heartbeat_deadline_ms must exceed")):
        with pytest.raises(ConfigError, match=pattern):
            parse_config(toml)
