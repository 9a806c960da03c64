"""Queue value: the heuristic's formula and its behaviour by regime, rank, OFI and fee; the
learned model's features, file and fee handling; the ridge fit recovers a linear truth."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from mm.models.queue_value import (
    N_QV_FEATURES,
    QV_FEATURES,
    HeuristicQueueValue,
    HeuristicQueueValueConfig,
    QueueValueModel,
    QueueValueParams,
    decode_params,
    delta_bps,
    encode_params,
    maker_fee_bps,
    qv_features,
)
from mm.models.train import FitConfig, ridge_fit, ridge_fit_cv
from tests.models.helpers import make_snap, mirror


def test_fee_tiers() -> None:
    assert maker_fee_bps("base") == pytest.approx(1.5)
    assert maker_fee_bps("tier4") == pytest.approx(0.0)
    assert maker_fee_bps("base", maker_share=0.05) == pytest.approx(-0.3)
    with pytest.raises(ValueError):
        maker_fee_bps("platinum")


def test_heuristic_formula_by_hand() -> None:
    cfg = HeuristicQueueValueConfig(markout_s=1.0, sigma_sample_ms=100, as_sigmas_by_regime=(0.1, 0.2, 0.4, 1.0),
                                    rank_as_mult=1.0, ofi_as_sigmas=0.2, toxic_as_sigmas=1.0, qty_scale=2.0)
    h = HeuristicQueueValue(cfg, maker_fee_bps=1.5)
    s = make_snap(sigma_ewma=0.5, regime_probs=[0.0, 1.0, 0.0, 0.0], ofi_500ms=-1.0, toxic_prob=0.1)
    sigma_h = 0.5 * math.sqrt(math.pi / 2) * math.sqrt(10.0)
    ofi_adv = 0.5  # -(+1) * -1 / 2: selling pressure is adverse for a bid
    as_bps = sigma_h * (0.2 * (1 + 1.0 * 0.5) + 0.2 * ofi_adv + 1.0 * 0.1)
    d = delta_bps(s, 1, 100.0)
    assert h.adverse_bps(1, 0.5, s) == pytest.approx(as_bps)
    assert h.queue_value(1, 100.0, 0.5, s) == pytest.approx(d - as_bps - 1.5)
    # the same pressure is favourable for an ask: no OFI term
    assert h.adverse_bps(-1, 0.5, s) == pytest.approx(sigma_h * (0.2 * 1.5 + 0.1))


def test_heuristic_orders_regimes_ranks_and_fees() -> None:
    h = HeuristicQueueValue(HeuristicQueueValueConfig(), maker_fee_bps=0.0)
    quiet = make_snap(regime_probs=[1.0, 0, 0, 0], toxic_prob=0.0)
    cascade = make_snap(regime_probs=[0, 0, 0, 1.0], toxic_prob=0.9, sigma_ewma=2.0)
    assert h.queue_value(1, 100.0, 1.0, cascade) < 0.0
    assert h.queue_value(1, 100.0, 1.0, quiet) > h.queue_value(1, 100.0, 1.0, cascade)
    assert h.queue_value(1, 100.0, 0.0, quiet) > h.queue_value(1, 100.0, 1.0, quiet)  # front beats back
    h_fee = HeuristicQueueValue(HeuristicQueueValueConfig(), maker_fee_bps=1.5)
    assert h_fee.queue_value(1, 100.0, 0.0, quiet) == pytest.approx(h.queue_value(1, 100.0, 0.0, quiet) - 1.5)
    assert h.queue_value(1, 100.0, 0.0, make_snap(mid_px=0.0)) == -math.inf


def test_heuristic_config_validation() -> None:
    with pytest.raises(ValueError, match="as_sigmas_by_regime"):
        HeuristicQueueValueConfig(as_sigmas_by_regime=(0.1, 0.2, -0.4, 1.0))
    with pytest.raises(ValueError, match="markout_s"):
        HeuristicQueueValueConfig(markout_s=0.0)


def test_features_side_symmetric_and_interactions_consistent() -> None:
    s = make_snap(ref_mid_px=100.08, toxic_prob=0.4, trade_sign_run_length=-3, microprice=100.07)
    xb = qv_features(s, 1, 100.0, 0.7, 2.0)
    xa = qv_features(mirror(s), -1, 100.1, 0.7, 2.0)
    assert xb == pytest.approx(xa)
    f = dict(zip(QV_FEATURES, xb))
    assert f["rank_x_ofi"] == pytest.approx(f["rank_frac"] * f["ofi_adv"])
    assert f["toxic_x_ofi"] == pytest.approx(f["toxic_prob"] * f["ofi_adv"])
    assert f["rank_x_lead"] == pytest.approx(f["rank_frac"] * f["lead_adv"])
    assert f["lead_adv"] < 0  # Binance above: good for a bid, not adverse


def _params(**kw: object) -> QueueValueParams:
    base: dict[str, object] = dict(symbol="T", qty_scale=2.0, markout_s=1.0, feature_names=list(QV_FEATURES),
                                   intercept=0.3, coef=[0.0] * N_QV_FEATURES,
                                   heuristic=HeuristicQueueValueConfig())
    base.update(kw)
    return QueueValueParams(**base)  # type: ignore[arg-type]


def test_learned_model_nets_the_configured_fee_and_round_trips() -> None:
    coef = [0.0] * N_QV_FEATURES
    coef[0] = -0.5  # rank
    p = _params(coef=coef)
    s = make_snap()
    m = QueueValueModel(decode_params(encode_params(p)), maker_fee_bps=1.5)
    assert m.queue_value(1, 100.0, 1.0, s) == pytest.approx(0.3 - 0.5 - 1.5)
    assert m.gross_edge_bps(1, 100.0, 0.0, s) == pytest.approx(0.3)
    m0 = QueueValueModel.from_bytes(encode_params(p), maker_fee_bps=-0.3)
    assert m0.queue_value(1, 100.0, 0.0, s) == pytest.approx(0.6)
    assert m.heuristic().maker_fee_bps == 1.5


def test_learned_model_file_refusals() -> None:
    p = _params()
    for bad, field in ((dict(format="mm.other"), "format"), (dict(version=9), "version"),
                       (dict(coef=[0.0]), "coef"), (dict(feature_names=list(reversed(QV_FEATURES))), "feature_names"),
                       (dict(intercept=math.inf), "intercept"), (dict(qty_scale=-1.0), "qty_scale")):
        with pytest.raises(ValueError, match=field):
            decode_params(msgspec.json.encode(msgspec.structs.replace(p, **bad)))


def test_ridge_recovers_a_linear_truth_and_cv_picks_small_lambda() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5000, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, 1.0, -2.0]
    w = np.array([0.5, -0.05, 3.0, 0.2])
    y = 1.0 + x @ w + rng.normal(0, 0.1, 5000)
    b0, c = ridge_fit(x, y, 1e-6)
    assert c == pytest.approx(w, rel=0.02, abs=0.005)  # within ~4 standard errors
    assert b0 == pytest.approx(1.0, abs=0.05)
    b0, c, lam, scores = ridge_fit_cv(x, y, FitConfig())
    assert lam <= 0.01 and c == pytest.approx(w, rel=0.03, abs=0.005)
    assert max(scores.values()) > 0.9
    # heavy shrinkage pulls the slopes to 0 and the intercept to the mean
    b0, c = ridge_fit(x, y, 1e6)
    assert np.all(np.abs(c) < 1e-3) and b0 == pytest.approx(float(y.mean()), abs=0.05)
