"""Global flags given before an offline verb: --run-dir and its value are dropped, others handed on."""

from __future__ import annotations

from mm.cli.mmctl import _offline_split


def test_run_dir_and_its_value_are_dropped() -> None:
    assert _offline_split(["--run-dir", "/tmp/x", "runs", "--json"]) == ("runs", ["--json"])
    assert _offline_split(["--run-dir=/tmp/x", "runs"]) == ("runs", [])


def test_config_and_json_are_handed_to_the_verb() -> None:
    assert _offline_split(["--config", "c.toml", "--json", "replay", "--data", "real"]) == (
        "replay", ["--data", "real", "--config", "c.toml", "--json"])


def test_online_verbs_are_not_offline() -> None:
    assert _offline_split(["--run-dir", "/tmp/x", "status"]) is None
