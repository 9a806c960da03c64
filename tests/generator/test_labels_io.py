"""Labels beside a recording: JSON round trip, file placement, refusal of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mm.schema import Venue
from mm.venues.sim.generator import GroundTruth, MarketGenerator, regime_at
from mm.venues.sim.generator_config import GeneratorConfig
from mm.venues.sim.labels import (
    LabelsError,
    decode_labels,
    encode_labels,
    labels_path_for,
    load_labels,
    save_labels,
)
from tests.generator.conftest import CASCADE_RICH


def _labels() -> GroundTruth:
    gen = MarketGenerator(CASCADE_RICH, ["BTC", "ETH"], seed=5)
    for _ in gen.events(1_000, 60.0):
        pass
    return gen.labels


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    labels = _labels()
    rec = tmp_path / "run1.mmrec"
    path = save_labels(labels, labels_path_for(rec))
    assert path == tmp_path / "run1.mmrec.labels.json"
    assert not list(tmp_path.glob("*.tmp"))
    back = load_labels(path)
    assert back == labels
    assert back.cascades, "the cascade-rich config yields cascades in a minute"


def test_json_is_plain_and_self_describing() -> None:
    labels = _labels()
    doc = json.loads(encode_labels(labels))
    assert doc["version"] == 1 and doc["coins"] == ["BTC", "ETH"] and doc["complete"] is True
    assert doc["config"]["lead_lag_ms"] == 650
    k = doc["cascades"][0]
    assert set(k) == {"coin", "symbol_id", "direction", "start_ts_ns", "end_ts_ns", "hl_start_ts_ns",
                      "hl_end_ts_ns", "move_bps", "truncated"}
    r = doc["regimes"][0]
    assert set(r) == {"coin", "symbol_id", "regime", "start_ts_ns", "end_ts_ns", "hl_start_ts_ns",
                      "hl_end_ts_ns"}
    assert r["start_ts_ns"] == 1_000


def test_bad_label_files_are_refused() -> None:
    with pytest.raises(LabelsError):
        decode_labels(b"not json")
    with pytest.raises(LabelsError):
        decode_labels(b'{"seed": 1}')
    good = json.loads(encode_labels(MarketGenerator(GeneratorConfig(), ["BTC"]).generate(0, 1.0)[1]))
    good["version"] = 99
    with pytest.raises(LabelsError, match="version"):
        decode_labels(json.dumps(good).encode())


def test_regime_at_reads_the_labels_on_either_venue_clock() -> None:
    labels = _labels()
    for r in labels.regimes:
        assert regime_at(labels, r.symbol_id, r.start_ts_ns) == r.regime
        assert regime_at(labels, r.symbol_id, r.end_ts_ns - 1) == r.regime
        assert regime_at(labels, r.symbol_id, r.hl_start_ts_ns, venue=Venue.HYPERLIQUID) == r.regime
    assert regime_at(labels, 0, labels.start_ts_ns - 1) == -1
    assert regime_at(labels, 0, labels.end_ts_ns) == -1
    assert regime_at(labels, 7, labels.start_ts_ns) == -1
