"""``mmctl train`` end to end: generated and real data print the figures and write model
files that load back; bad arguments are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mm.cli.train import main
from mm.execution.engine import direction_models
from mm.importers import data_dir
from mm.models.fill_survival import FillSurvivalModel
from mm.models.queue_value import QueueValueModel
from mm.models.toxicity import decode_model


def test_train_generated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--data", "generated", "--duration-s", "240", "--coins", "BTC", "--seed", "7", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    for needle in ("toxicity", "fill survival", "deciles", "queue value", "lead-lag", "inference (us/call",
                   "Hayashi-Yoshida lead Binance -> HL"):
        assert needle in out, needle
    d = tmp_path / "generated" / "BTC"
    assert {p.name for p in d.iterdir()} >= {"toxicity.json", "fill_survival.json", "queue_value.json",
                                            "leadlag.json", "direction.json", "reliability_fill.png",
                                            "reliability_toxicity.png"}
    decode_model((d / "toxicity.json").read_bytes())
    FillSurvivalModel.from_bytes((d / "fill_survival.json").read_bytes())
    QueueValueModel.from_bytes((d / "queue_value.json").read_bytes())
    # the direction model beside the others, read back the way the engine reads them
    models, errors = direction_models(["BTC"], lambda coin, name: (d.parent / coin / f"{name}.json").read_bytes())
    assert not errors and models[0].params.symbol == "BTC" and 0.0 < models[0].threshold <= 1.0
    assert (d / "reliability_fill.png").read_bytes()[:4] == b"\x89PNG"
    rep = json.loads((tmp_path / "generated" / "report.json").read_text())
    assert "BTC" in rep["coins"] and rep["split"] == 0.6


@pytest.mark.skipif(not (data_dir() / "hyperliquid-2025-09-04").is_dir(), reason="real data not present")
def test_train_real(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--data", "real", "--coins", "WLFI", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "lead on real data" in out and "no reference (Binance) prices" in out
    assert (tmp_path / "real" / "WLFI" / "queue_value.json").is_file()


def test_bad_arguments(tmp_path: Path) -> None:
    assert main(["--data", "generated", "--split", "1.5", "--out", str(tmp_path)]) == 2
    assert main(["--data", "generated", "--fee-tier", "gold", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["--data", "nope"])
