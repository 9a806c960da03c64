"""Fitted model files: the header every model file carries, and decoding them per coin.

:func:`check_header` is the format / version / feature-name check every model's decoder
starts with. :func:`decode_by_coin` is the one loop every model kind is loaded through:
the live processes and the replay read ``<coin>/<name>.json`` through a ``read(coin,
name)`` callable (the process's reads files, :func:`procs.model_files.model_bytes`; the
replay's returns what it fitted) and decode each with the model's own decoder here. A coin
without a file is simply absent from the result (its caller's prior or baseline applies); a
file that does not decode is an error naming the model and the coin, and that coin falls
back too. Pure: the reader does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

ModelReader = Callable[[str, str], "bytes | None"]
"""``read(coin, name)``: a model file's bytes, or None (no file: the prior)."""

T = TypeVar("T")


def check_header(fmt: str, version: int, feature_names: Sequence[str], expected_format: str,
                 expected_version: int, expected_names: Sequence[str]) -> None:
    """ValueError naming the field when a model file's ``format``, ``version`` or
    ``feature_names`` is not the one this code reads."""
    if fmt != expected_format:
        raise ValueError(f"format: expected {expected_format!r}, got {fmt!r}")
    if version != expected_version:
        raise ValueError(f"version: expected {expected_version}, got {version}")
    if tuple(feature_names) != tuple(expected_names):
        raise ValueError(f"feature_names: expected {list(expected_names)}, got {feature_names}")


def decode_by_coin(symbols: Sequence[str], read: ModelReader, name: str, decode: Callable[[bytes], T],
                   what: str, fallback: str) -> tuple[dict[int, T], list[str]]:
    """``decode(read(coin, name))`` by symbol id for every coin with a file, and the errors
    of files that did not decode: ``"<what> model for <coin> is invalid (<why>); <fallback>"``."""
    models: dict[int, T] = {}
    errors: list[str] = []
    for i, coin in enumerate(symbols):
        raw = read(coin, name)
        if raw is not None:
            try:
                models[i] = decode(raw)
            except ValueError as exc:
                errors.append(f"{what} model for {coin} is invalid ({exc}); {fallback}")
    return models, errors
