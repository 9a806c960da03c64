"""Ground-truth labels of a generated run, as JSON next to its recording (the edge).

What this module owns: the on-disk form of :class:`mm.venues.sim.generator.GroundTruth`
(regime intervals and cascades, the generator config and coins that produced them). The
encode/decode pair is pure; :func:`save_labels` and :func:`load_labels` are the thin file
helpers. A recording ``run/btc.mmrec`` gets its labels at ``run/btc.mmrec.labels.json``
(:func:`labels_path_for`).

Format: one JSON object, the msgspec encoding of ``GroundTruth`` (fields ``seed``,
``start_ts_ns``, ``end_ts_ns``, ``lead_lag_ms``, ``coins``, ``regimes`` (list of
``{coin, symbol_id, regime, start_ts_ns, end_ts_ns, hl_start_ts_ns, hl_end_ts_ns}``),
``cascades`` (list of ``{coin, symbol_id, direction, start_ts_ns, end_ts_ns,
hl_start_ts_ns, hl_end_ts_ns, move_bps, truncated}``), ``config``, ``coin_specs``,
``complete``, ``version``). Times are ns on the stream's ``ts_ns`` clock; ``regime`` is
:class:`mm.schema.Regime`, ``direction`` is :class:`mm.schema.Side` (+1 up, -1 down).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from mm.venues.sim.generator import GroundTruth

__all__ = [
    "LABELS_SUFFIX",
    "LabelsError",
    "decode_labels",
    "encode_labels",
    "labels_path_for",
    "load_labels",
    "save_labels",
]

LABELS_SUFFIX = ".labels.json"
"""Appended to a recording's file name to name its labels file."""

SUPPORTED_VERSION = 1

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(GroundTruth)


class LabelsError(ValueError):
    """A labels file that cannot be read as ground truth (the message says why)."""


def encode_labels(labels: GroundTruth) -> bytes:
    """JSON bytes of ``labels``."""
    return _encoder.encode(labels)


def decode_labels(data: bytes | str) -> GroundTruth:
    """``GroundTruth`` from JSON bytes; :class:`LabelsError` if malformed or of another version."""
    try:
        labels = _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise LabelsError(f"labels: {exc}") from exc
    if labels.version != SUPPORTED_VERSION:
        raise LabelsError(f"labels: version {labels.version} (this build reads {SUPPORTED_VERSION})")
    return labels


def labels_path_for(recording_path: str | os.PathLike[str]) -> Path:
    """Where the labels of the recording at ``recording_path`` live (beside it)."""
    p = Path(recording_path)
    return p.with_name(p.name + LABELS_SUFFIX)


def save_labels(labels: GroundTruth, path: str | os.PathLike[str]) -> Path:
    """Write ``labels`` to ``path`` atomically (temp file then rename); returns the path."""
    dst = Path(path)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(encode_labels(labels))
    os.replace(tmp, dst)
    return dst


def load_labels(path: str | os.PathLike[str]) -> GroundTruth:
    """Read labels written by :func:`save_labels`."""
    return decode_labels(Path(path).read_bytes())
