"""mmctl's contract: help for every verb, the same flags everywhere, the documented exit codes
(0 ok, 1 refused, 2 usage or config, 3 no group) and errors that say what to do next."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mm.cli import mmctl

REPO = Path(__file__).resolve().parents[2]


def group_verbs() -> list[str]:
    ap = mmctl.build_parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    return [v for v in sub.choices if v not in mmctl.OFFLINE_VERBS]


ALL_VERBS = group_verbs() + list(mmctl.OFFLINE_VERBS)
# Offline verbs whose reporting flags are still being added by their engineer (non-strict xfail:
# the check starts counting as soon as they have them).
PENDING_FLAGS: dict[str, str] = {}


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = mmctl.main(argv)
    except SystemExit as exc:  # argparse's --help and usage errors
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_verbs_are_all_there() -> None:
    for v in ("status", "kill", "reset-kill", "promote", "demote", "shutdown", "record",
              "train", "replay", "audit", "import"):
        assert v in ALL_VERBS, v


@pytest.mark.parametrize("verb", ALL_VERBS)
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_main([verb, "--help"], capsys)
    assert rc == 0, err
    assert out.startswith(f"usage: mmctl {verb}") or f"mmctl {verb}" in out.splitlines()[0], out[:300]
    assert len(out.splitlines()) >= 3


@pytest.mark.parametrize("verb", ALL_VERBS)
def test_every_verb_takes_config_and_json(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    if verb in PENDING_FLAGS:
        pytest.xfail(PENDING_FLAGS[verb])
    rc, out, _ = run_main([verb, "--help"], capsys)
    assert rc == 0
    assert "--config" in out, f"mmctl {verb} has no --config"
    assert "--json" in out, f"mmctl {verb} has no --json"


def test_top_level_help_lists_exit_codes_and_offline_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_main(["--help"], capsys)
    assert rc == 0
    flat = " ".join(out.split())
    assert "0 ok, 1 refused or failed, 2 usage or config error, 3 no process group running" in flat
    for v in mmctl.OFFLINE_VERBS:
        assert v in flat


@pytest.mark.parametrize("argv", [
    ["status"], ["status", "--json"], ["kill", "--reason", "x"], ["reset-kill"], ["promote", "--reason", "x"],
    ["demote", "--to", "shadow"], ["shutdown"], ["record", "--duration", "1"], ["--json", "status"],
])
def test_no_group_is_exit_3_and_says_how_to_start_one(argv: list[str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MM_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main(argv, capsys)
    assert rc == mmctl.EXIT_NO_GROUP, (rc, out, err)
    assert "no mm process group is running" in err and "make up" in err, err


def test_a_dead_group_file_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "group.json").write_text('{"pid": 999999999}')
    rc, _, err = run_main(["--run-dir", str(run), "status"], capsys)
    assert rc == mmctl.EXIT_NO_GROUP and "make up" in err, err


def test_usage_and_config_errors_are_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(["no-such-verb"], capsys)
    assert rc == mmctl.EXIT_USAGE and "invalid choice" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[ipc]\nslot_count = 3\n")
    rc, _, err = run_main(["--config", str(bad), "status"], capsys)
    assert rc == mmctl.EXIT_USAGE
    assert "[ipc.slot_count]" in err and "allowed: >= 16" in err and "docs/config.md" in err, err
    rc, _, err = run_main(["status", "--config", str(tmp_path / "missing.toml")], capsys)
    assert rc == mmctl.EXIT_USAGE and "cannot read config" in err


def test_offline_verbs_say_where_the_data_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MM_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    for argv in (["import"], ["train", "--data", "real"], ["replay", "--data", "real", "--fit", "none"]):
        rc, _, err = run_main(argv, capsys)
        assert rc == mmctl.EXIT_USAGE, (argv, err)
        assert str(tmp_path / "nowhere") in err and "MM_DATA_DIR" in err, (argv, err)


def test_global_flags_before_an_offline_verb_reach_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert mmctl._offline_split(["--json", "--config", "c.toml", "audit", "--since", "1m"]) == \
        ("audit", ["--since", "1m", "--json", "--config", "c.toml"])
    assert mmctl._offline_split(["--run-dir", "/r", "status"]) is None
    assert mmctl._offline_split(["--help"]) is None


def test_the_installed_entry_point_exit_code(tmp_path: Path) -> None:
    """The same through the console script a user runs (exit status of the process)."""
    exe = REPO / ".venv" / "bin" / "mmctl"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mm.cli.mmctl"]
    r = subprocess.run([*cmd, "--run-dir", str(tmp_path), "promote", "--reason", "x"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 3 and "make up" in r.stderr
