"""mmctl sweep: the search space, the objective, a local sweep of 20+ trials and one on a Dask LocalCluster."""

from __future__ import annotations

import csv
import json
import re
import socket
from pathlib import Path

import pytest

from mm.execution.config import ExecutionConfig
from mm.replay.suite import apply_overrides
from mm.research.objective import best_first, objective_value, summarize
from mm.research.space import default_space, parse_space, suggest, to_sets

pytest.importorskip("optuna")

GEN = ["--data", "generated", "--duration-s", "90", "--coins", "BTC", "--fit", "none", "--min-fills", "1"]


def test_space_checks_keys_and_ranges() -> None:
    sp = parse_space({"lambda_inv": {"low": 0.0, "high": 2.0}, "execution.glft.gamma_per_bps": {"low": 0.01, "high": 1.0,
                                                                                               "log": True},
                      "execution.candidate_offsets_ticks": {"choices": [[0], [1, 0, -1]]},
                      "execution.taker_timeout_ms": {"low": 100, "high": 900, "int": True}})
    assert [p.key for p in sp] == ["execution.lambda_inv", "execution.glft.gamma_per_bps",
                                   "execution.candidate_offsets_ticks", "execution.taker_timeout_ms"]
    with pytest.raises(ValueError, match="no_such_key"):
        parse_space({"execution.no_such_key": {"low": 0, "high": 1}})
    with pytest.raises(ValueError, match="join_rank_frac"):
        parse_space({"execution.join_rank_frac": {"low": 0.0, "high": 2.0}})  # the config rejects 2.0
    with pytest.raises(ValueError, match="log range"):
        parse_space({"execution.lambda_inv": {"low": 0.0, "high": 1.0, "log": True}})
    with pytest.raises(ValueError, match="low must be <= high"):
        parse_space({"execution.lambda_inv": {"low": 2.0, "high": 1.0}})
    with pytest.raises(ValueError, match="no default"):
        default_space("touch")


class _Mid:
    """A sampler that takes the middle of every range (and the first choice)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return (low * high) ** 0.5 if log else (low + high) / 2.0

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return (low + high) // 2

    def suggest_categorical(self, name: str, choices: list[object]) -> object:
        return choices[0]


def test_suggested_point_applies_as_set_lines() -> None:
    for policy in ("state_machine", "glft"):
        params = suggest(default_space(policy), _Mid())
        cfg = apply_overrides(ExecutionConfig(policy=policy), to_sets(params))  # type: ignore[arg-type]
        for k, v in params.items():
            node: object = cfg
            for part in k.split(".")[1:]:
                node = getattr(node, part)
            assert node == pytest.approx(v)


def test_objective_needs_fills_and_ranks_by_direction() -> None:
    metrics = {"fills": 3, "pnl": {"turnover_usd": 300.0, "total_usd": -0.3, "net_bps_of_turnover": -10.0},
               "markouts": {"5s": {"mean_bps": 0.5, "adverse_rate": 0.4}}, "table": []}
    s = summarize(metrics)
    assert objective_value("net_bps", s, min_fills=5) == (None, "3 fills < 5")
    assert objective_value("net_bps", s, min_fills=3) == (-10.0, "")
    with pytest.raises(ValueError):
        objective_value("nope", s)
    rows = [{"trial": 0, "objective": 0.2}, {"trial": 1, "objective": 0.1}, {"trial": 2, "objective": None}]
    assert [r["trial"] for r in best_first(rows, "adverse5")] == [1, 0]
    assert [r["trial"] for r in best_first(rows, "net_bps")] == [0, 1]


def _check_output(out: Path, stdout: str, n: int) -> None:
    doc = json.loads((out / "sweep.json").read_text())
    assert len(doc["rows"]) == n
    with (out / "sweep.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["trial"]) for r in rows] == list(range(n))
    best = doc["best"]
    assert best is not None and best["objective"] == max(r["objective"] for r in doc["rows"] if r["objective"] is not None)
    sets = re.findall(r"^  --set (\S+)$", stdout, re.M)
    assert sets == best["sets"] and sets
    cfg = apply_overrides(ExecutionConfig(), sets)  # the printed lines are what mmctl replay accepts
    assert cfg.lambda_inv == pytest.approx(best["params"]["execution.lambda_inv"])
    assert doc["holdout"] is not None and "summary" in doc["holdout"]


def test_local_sweep_of_twenty_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mm.cli.mmctl import main

    out = tmp_path / "sw"
    rc = main(["sweep", *GEN, "--trials", "20", "--jobs", "2", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "local processes x2" in stdout
    _check_output(out, stdout, 20)
    doc = json.loads((out / "sweep.json").read_text())
    # trials differ (the sampler moved), and the figures are the replay's (fills counted per trial)
    assert len({json.dumps(r["params"], sort_keys=True) for r in doc["rows"]}) == 20
    assert any((r["fills"] or 0) > 0 for r in doc["rows"])


def test_bad_space_and_data_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mm.cli.sweep import main

    bad = tmp_path / "space.json"
    bad.write_text(json.dumps({"execution.nope": {"low": 0, "high": 1}}))
    assert main([*GEN, "--space", str(bad), "--trials", "2"]) == 2
    assert main(["--data", str(tmp_path / "missing"), "--trials", "2"]) == 2
    assert "mmctl sweep:" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sweep_on_a_dask_local_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    distributed = pytest.importorskip("distributed")
    from mm.cli.sweep import main

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  scheduler_port=_free_port(), dashboard_address=None) as cluster:
        out = tmp_path / "sw"
        rc = main([*GEN, "--trials", "4", "--jobs", "2", "--dask", cluster.scheduler_address, "--out", str(out)])
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert f"dask {cluster.scheduler_address}" in stdout
    _check_output(out, stdout, 4)
