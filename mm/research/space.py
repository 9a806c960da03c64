"""The search space of a sweep: which execution parameters vary, over what range.

A space maps dotted execution keys (``execution.glft.gamma_per_bps``, the same keys as
``mmctl replay --set``) to a range. Three kinds:

- float ``{"low": a, "high": b}``, optionally ``"log": true`` (sampled on a log scale);
- int ``{"low": a, "high": b, "int": true}``;
- categorical ``{"choices": [v1, v2, ...]}`` (numbers, strings or booleans).

A space is read from JSON (or TOML) by the caller and checked here: every key must exist in
:class:`~mm.execution.config.ExecutionConfig` and both ends of every range must pass the
config's own validation (so a trial never fails on a value the space allowed).
:func:`default_space` gives a space per policy. Pure: dicts in, dicts out; the sampler is
anything with Optuna's ``suggest_float`` / ``suggest_int`` / ``suggest_categorical``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from mm.execution.config import ExecutionConfig
from mm.replay.suite import apply_overrides


class Suggester(Protocol):
    """What a sampler offers (an ``optuna.Trial`` is one)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


class Param(msgspec.Struct, frozen=True):
    """One dimension: ``key`` (dotted execution key), a range or a list of choices."""

    key: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    def values_at_ends(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        if self.integer:
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


Space = list[Param]

_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "state_machine": {
        "execution.min_queue_value_bps": {"low": 0.0, "high": 3.0},
        "execution.lambda_inv": {"low": 0.0, "high": 2.0},
        "execution.p_fill_min": {"low": 0.0, "high": 0.3},
        "execution.fill_horizon_s": {"low": 0.5, "high": 5.0, "log": True},
        "execution.toxic_reduce_inv_frac": {"low": 0.0, "high": 0.5},
        "execution.models.as_toxic_bps": {"low": 2.0, "high": 20.0},
    },
    "glft": {
        "execution.glft.gamma_per_bps": {"low": 0.01, "high": 1.0, "log": True},
        "execution.glft.kappa_per_bps": {"low": 0.1, "high": 5.0, "log": True},
        "execution.glft.arrival_rate_per_s": {"low": 0.1, "high": 10.0, "log": True},
    },
}


def _key(k: str) -> str:
    k = k.strip()
    return k if k.startswith("execution.") else f"execution.{k}"


def parse_space(doc: Mapping[str, Any], base: ExecutionConfig | None = None) -> Space:
    """A space from its document form (module docstring); raises ValueError naming the key."""
    if not isinstance(doc, Mapping) or not doc:
        raise ValueError("search space: expected a non-empty table of key -> range")
    cfg = base if base is not None else ExecutionConfig()
    out: Space = []
    for raw_key, spec in doc.items():
        key = _key(str(raw_key))
        if not isinstance(spec, Mapping):
            raise ValueError(f"search space {key}: expected a table (low/high or choices)")
        unknown = set(spec) - {"low", "high", "log", "int", "choices"}
        if unknown:
            raise ValueError(f"search space {key}: unknown field(s) {sorted(unknown)}")
        if "choices" in spec:
            ch = spec["choices"]
            if not isinstance(ch, list) or not ch:
                raise ValueError(f"search space {key}: choices must be a non-empty list")
            p = Param(key, choices=list(ch))
        else:
            if "low" not in spec or "high" not in spec:
                raise ValueError(f"search space {key}: needs low and high (or choices)")
            lo, hi = spec["low"], spec["high"]
            if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in (lo, hi)):
                raise ValueError(f"search space {key}: low and high must be finite numbers")
            if not lo <= hi:
                raise ValueError(f"search space {key}: low must be <= high")
            log = bool(spec.get("log", False))
            if log and lo <= 0:
                raise ValueError(f"search space {key}: a log range needs low > 0")
            integer = bool(spec.get("int", False))
            if integer and (int(lo) != lo or int(hi) != hi):
                raise ValueError(f"search space {key}: an int range needs integer ends")
            p = Param(key, float(lo), float(hi), log, integer)
        for v in p.values_at_ends():
            try:
                apply_overrides(cfg, [assignment(key, v)])
            except (ValueError, msgspec.ValidationError) as exc:
                raise ValueError(f"search space {key}: value {v!r} rejected: {exc}") from exc
        out.append(p)
    return out


def default_space(policy: str) -> Space:
    """The built-in space of a policy (``state_machine`` or ``glft``)."""
    if policy not in _DEFAULTS:
        raise ValueError(f"no default search space for policy {policy!r} (have: {sorted(_DEFAULTS)}); pass --space FILE")
    return parse_space(_DEFAULTS[policy])


def suggest(space: Space, trial: Suggester) -> dict[str, Any]:
    """One point of the space, drawn by ``trial``."""
    out: dict[str, Any] = {}
    for p in space:
        if p.choices is not None:
            out[p.key] = trial.suggest_categorical(p.key, p.choices)
        elif p.integer:
            out[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high))
        else:
            v = trial.suggest_float(p.key, p.low, p.high, log=p.log)
            out[p.key] = min(max(float(f"{v:.6g}"), p.low), p.high)  # 6 significant figures: readable --set lines
    return out


def assignment(key: str, value: Any) -> str:
    """``key=value`` as ``mmctl replay --set`` reads it (JSON for the value)."""
    return f"{key}={json.dumps(value)}"


def to_sets(params: Mapping[str, Any]) -> list[str]:
    """Parameters as ``--set`` assignments, in the space's order."""
    return [assignment(k, v) for k, v in params.items()]
