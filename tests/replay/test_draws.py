"""Bands over latency draws (mm.replay.draws): folding per-draw documents, and the CLI's --latency-draws."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mm.cli.replay import main as replay_main
from mm.replay.draws import band_rows, draw_bands


def _doc(pnl: float, adverse: float | None, flat_ok: bool | None, fills: int) -> dict[str, object]:
    table = [
        {"metric": "Adverse selection rate per fill (5 s markout)", "value": adverse, "unit": "pct",
         "target": "<= 20%", "ok": None if adverse is None else adverse <= 0.2},
        {"metric": "Net PnL after fees", "value": pnl, "unit": "usd", "target": ">= 0", "ok": pnl >= 0},
        {"metric": "Mode = Flat during labelled cascades", "value": 0.97 if flat_ok else 0.9, "unit": "pct",
         "target": ">= 95%", "ok": flat_ok},
    ]
    return {"runs": {"state_machine@base": {"metrics": {"table": table, "pnl": {"total_usd": pnl}, "fills": fills}}}}


def test_bands_mean_min_max_and_targets_met() -> None:
    docs = [_doc(1.0, 0.1, True, 10), _doc(-2.0, 0.3, False, 20), _doc(4.0, None, True, 30)]
    b = draw_bands(docs, [0, 1, 2])
    assert b["latency_seeds"] == [0, 1, 2]
    rows = {r["metric"]: r for r in b["runs"]["state_machine@base"]}
    pnl = rows["Net PnL after fees"]
    assert pnl["values"] == [1.0, -2.0, 4.0] and pnl["mean"] == pytest.approx(1.0)
    assert (pnl["min"], pnl["max"], pnl["ok"], pnl["ok_known"]) == (-2.0, 4.0, 2, 3)
    adv = rows["Adverse selection rate per fill (5 s markout)"]
    assert adv["n"] == 2 and adv["mean"] == pytest.approx(0.2) and (adv["ok"], adv["ok_known"]) == (1, 2)
    assert rows["fills"]["mean"] == pytest.approx(20.0) and rows["fills"]["ok_known"] == 0
    text = band_rows(b)
    assert text[0][0].startswith("metric (over 3 latency draws")
    cells = {r[0]: r[1] for r in text[1:]}
    assert cells["Net PnL after fees"] == "1.00 USD [-2.00 USD, 4.00 USD] 2/3 met"
    assert cells["fills"] == "20 [10, 30]"


def test_bands_refuse_mismatched_draws() -> None:
    a = _doc(1.0, 0.1, True, 10)
    b = {"runs": {"touch@base": a["runs"]["state_machine@base"]}}  # type: ignore[index]
    with pytest.raises(ValueError, match="different policies"):
        draw_bands([a, b], [0, 1])
    with pytest.raises(ValueError, match="one document per latency seed"):
        draw_bands([a], [0, 1])
    c = _doc(1.0, 0.1, True, 10)
    c["runs"]["state_machine@base"]["metrics"]["table"].pop()  # type: ignore[index]
    with pytest.raises(ValueError, match="different rows"):
        draw_bands([a, c], [0, 1])


def test_cli_latency_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = replay_main(["--data", "generated", "--coins", "BTC", "--duration-s", "90", "--policies", "touch",
                      "--fee-tiers", "base", "--out", str(tmp_path), "--seed", "3", "--latency-seed", "5",
                      "--latency-draws", "2", "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "latency seeds [5, 6]" in out and "over 2 latency draws" in out
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["meta"]["latency_seed"] == 5 and doc["draws"]["latency_seeds"] == [5, 6]
    rows = {r["metric"]: r for r in doc["draws"]["runs"]["touch@base"]}
    pnl = rows["PnL total (USD)"]
    # the first draw is the report's own run; the band holds it
    assert pnl["values"][0] == pytest.approx(doc["runs"]["touch@base"]["metrics"]["pnl"]["total_usd"])
    assert pnl["min"] <= pnl["mean"] <= pnl["max"]
    assert "Over latency draws" in (tmp_path / "report.html").read_text()
    assert replay_main(["--data", "generated", "--latency-draws", "0", "--out", str(tmp_path)]) == 2
