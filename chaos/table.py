"""The chaos table: one row per measured figure, with its bound and whether it held."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One figure of one scenario. ``bound`` is the rule in words (``"== 0"``, ``"<= 2 s"``)."""

    scenario: str
    figure: str
    value: float
    unit: str
    bound: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Ctx:
    """What a scenario gets: ``quick`` (CI sizes), a scratch directory, a seed."""

    quick: bool
    tmp: Path
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A named scenario. ``fast`` ones also run in ``make test``; ``run`` returns its rows."""

    name: str
    run: Callable[[Ctx], list[Row]]
    fast: bool
    doc: str = ""


def check(scenario: str, figure: str, value: float, unit: str, op: str, limit: float, detail: str = "") -> Row:
    """A row for ``value <op> limit`` (op one of ==, <=, <, >=, >)."""
    ok = {"==": value == limit, "<=": value <= limit, "<": value < limit, ">=": value >= limit, ">": value > limit}[op]
    return Row(scenario, figure, float(value), unit, f"{op} {limit:g}{(' ' + unit) if unit else ''}", bool(ok), detail)


def format_table(rows: Sequence[Row]) -> str:
    head = ("scenario", "figure", "value", "bound", "ok")
    body = [(r.scenario, r.figure, f"{r.value:.4g} {r.unit}".strip(), r.bound, "PASS" if r.passed else "FAIL") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(out)


def write_json(rows: Sequence[Row], path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2))
