"""Automated postmortem (seed 002): when to write one, and what the bundle holds.

Pure logic. :class:`PostmortemPolicy` watches the safety level (from ControlState) and the
kill switch and says when a bundle is due: on an escalation to Red or Kill, on a kill-switch
trip, and on first sight of a level already at Red or above (a monitor that starts into an
incident still records it). One bundle per escalation episode: another comes only when the
level goes higher, or after the level fell below Red and rose again, and never twice within
``min_interval_ns`` at the same level. :func:`build_bundle` assembles the contents (summary,
state, positions, open orders, timeline and the records of the last minutes); writing them
to disk is mm.audit.store's :func:`mm.audit.store.write_bundle`.

A bundle never holds a key: :func:`redact` blanks any field whose name looks like a secret
before anything is serialised.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec

from mm.audit.record import SAFETY_NAMES, level_name

RED: Final = 3
KILL: Final = 4
_SECRET_RE = re.compile(r"(secret|private|passw|token|api[_-]?key|signing|mnemonic|seed_phrase|^key$|_key$)",
                        re.IGNORECASE)
REDACTED: Final = "[redacted]"


class Trigger(msgspec.Struct, frozen=True, kw_only=True):
    """Why a postmortem is written."""

    kind: str  # "safety" (escalation seen in ControlState) or "kill_switch"
    level: int
    prev_level: int
    reason: str
    ts_ns: int
    wall_ns: int

    @property
    def level_name(self) -> str:
        return level_name(SAFETY_NAMES, self.level)

    def slug(self) -> str:
        """A directory-name-safe label: ``red-safety`` or ``kill-kill_switch``."""
        return f"{self.level_name.lower()}-{self.kind}"


class PostmortemPolicy:
    """Decides when a bundle is due (see the module docstring)."""

    def __init__(self, min_interval_ns: int) -> None:
        self.min_interval_ns = min_interval_ns
        self.level = -1  # last safety level seen (-1: none yet)
        self.ks_epoch: int | None = None
        self.episode_level = -1  # highest level covered by a bundle in this episode (-1: none)
        self.last_bundle_ns: int | None = None
        self.last_bundle_level = -1
        self.suppressed = 0

    def on_safety(self, level: int, reason: str, now_ns: int, wall_ns: int) -> Trigger | None:
        """The safety level of a ControlState. Returns the trigger when a bundle is due."""
        prev = self.level
        self.level = level
        if level < RED:
            self.episode_level = -1  # the episode is over; the next escalation is a new one
            return None
        return self._consider("safety", level, prev, reason, now_ns, wall_ns)

    def on_kill_switch(self, tripped: bool, epoch: int, reason: str, now_ns: int, wall_ns: int) -> Trigger | None:
        """The kill switch's state. A trip (first seen tripped, or a new epoch while tripped)
        is a Kill escalation; a reset ends the Kill part of the episode."""
        first = self.ks_epoch is None
        changed = not first and epoch != self.ks_epoch
        self.ks_epoch = epoch
        if not tripped:
            if changed:
                self.episode_level = min(self.episode_level, self.level if self.level >= RED else -1)
            return None
        if not (first or changed):
            return None
        return self._consider("kill_switch", KILL, self.level, reason, now_ns, wall_ns)

    def _consider(self, kind: str, level: int, prev: int, reason: str, now_ns: int, wall_ns: int) -> Trigger | None:
        if level <= self.episode_level:
            return None  # this episode already has a bundle at this level or above
        self.episode_level = level
        recent = self.last_bundle_ns is not None and now_ns - self.last_bundle_ns < self.min_interval_ns
        if recent and self.last_bundle_level >= level:
            self.suppressed += 1  # oscillation: the bundle written moments ago covers it
            return None
        self.last_bundle_ns = now_ns
        self.last_bundle_level = level
        return Trigger(kind=kind, level=level, prev_level=prev, reason=reason, ts_ns=now_ns, wall_ns=wall_ns)


def split_control_reason(reason: str) -> tuple[str, str]:
    """A ControlState reason, ``"<last exposure event> | safety LEVEL: <why>"``, as
    (exposure event, safety why); a reason without the safety part is all safety."""
    head, sep, tail = reason.partition(" | safety ")
    if not sep:
        return "", reason
    _, colon, why = tail.partition(": ")
    return head, (why if colon else tail)


def redact(obj: Any) -> Any:
    """A copy of a JSON-like value with the value of every secret-looking key blanked."""
    if isinstance(obj, Mapping):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_RE.search(k) else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    return obj


class Bundle(msgspec.Struct, kw_only=True):
    """A postmortem's contents: ``name`` is its directory name, ``files`` maps file names to
    bytes, ``records`` are audit records for ``records/`` (written as an audit file)."""

    name: str
    trigger: Trigger
    files: dict[str, bytes]
    records: list[Any]


def _utc(wall_ns: int) -> str:
    if wall_ns <= 0:
        return "unknown time"
    t = dt.datetime.fromtimestamp(wall_ns / 1e9, tz=dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} UTC"


def _num(x: Any, fmt: str = ".4g") -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "-" if x is None else str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return "-"
    return format(x, fmt)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    n = 0
    for r in rows:
        out.append("| " + " | ".join(_num(v) if not isinstance(v, str) else v.replace("|", "/") for v in r) + " |")
        n += 1
    if n == 0:
        out.append("| " + " | ".join(["(none)"] + [""] * (len(header) - 1)) + " |")
    return out


def summary_markdown(trig: Trigger, state: Mapping[str, Any], n_records: int, minutes: float) -> str:
    """The bundle's summary.md: the trigger, the state at that moment, where to look next."""
    lv = state.get("levels") or {}
    conf = state.get("confidence") or {}
    pnl = state.get("pnl") or {}
    ks = state.get("killswitch") or {}
    lines = [
        f"# Postmortem: {trig.level_name} at {_utc(trig.wall_ns)}",
        "",
        "## Trigger",
        "",
    ]
    if trig.kind == "kill_switch":
        lines.append(f"Kill switch tripped: {trig.reason or '(no reason given)'}")
    else:
        lines.append(f"Safety escalated {level_name(SAFETY_NAMES, trig.prev_level) if trig.prev_level >= 0 else '(first seen)'}"
                     f" -> {trig.level_name}: {split_control_reason(trig.reason)[1] or '(no reason given)'}")
    exposure_note, safety_reason = split_control_reason(str(lv.get("control_reason", "")))
    lines += [
        "",
        f"Run {state.get('run_id', '?')}, mode {state.get('run_mode', '?')}, symbols "
        f"{', '.join(str(s) for s in state.get('symbols', []))}.",
        "",
        "## State at the trigger",
        "",
        f"- safety: {lv.get('safety_name', '-')} ({safety_reason})",
        f"- exposure: {lv.get('exposure_name', '-')}, size x{_num(lv.get('size_multiplier'))}, "
        f"spread x{_num(lv.get('spread_multiplier'))}, reduce-only {lv.get('reduce_only', '-')}"
        + (f" (last exposure event: {exposure_note})" if exposure_note and exposure_note != "start" else ""),
        f"- confidence: overall {_num(conf.get('overall'))} (model {_num(conf.get('model'))}, execution "
        f"{_num(conf.get('execution'))}, safety {_num(conf.get('safety'))})",
        f"- kill switch: {'TRIPPED by ' + str(ks.get('who', '')) + ': ' + str(ks.get('reason', '')) if ks.get('tripped') else 'armed'}",
        f"- PnL: total {_num(pnl.get('total_usd'), '.2f')} USD (realized {_num(pnl.get('realized_usd'), '.2f')}, "
        f"unrealized {_num(pnl.get('unrealized_usd'), '.2f')}, fees {_num(pnl.get('fees_usd'), '.2f')}); "
        f"drawdown {_num(pnl.get('drawdown_pct'), '.3f')} %",
        "",
        "## Positions",
        "",
    ]
    lines += _table(
        ("symbol", "qty", "limit qty", "mid px", "notional USD", "mode"),
        ((s.get("symbol", ""), s.get("position_qty"), s.get("limit_qty"), _num(s.get("mid_px"), ".10g"),
          _num(s.get("notional_usd"), ".2f"),
          s.get("mode_name", "")) for s in state.get("symbols_state", [])),
    )
    lines += ["", "## Open orders (as known from OrderEvents)", ""]
    lines += _table(
        ("cloid", "symbol", "side", "px", "qty", "filled", "status"),
        ((o.get("cloid", ""), o.get("symbol", ""), "buy" if o.get("side", 0) > 0 else "sell", _num(o.get("px"), ".10g"),
          o.get("qty"), o.get("filled_qty"), o.get("status", "")) for o in state.get("open_orders", [])),
    )
    lines += ["", "## Last decisions", ""]
    lines += _table(
        ("time", "symbol", "cycle", "mode", "why", "placed", "cancelled"),
        ((d.get("time", ""), d.get("symbol", ""), d.get("cycle"), d.get("mode_name", ""), d.get("mode_reason", ""),
          d.get("placed"), d.get("cancelled")) for d in state.get("recent_decisions", [])),
    )
    tl = (state.get("timeline") or {}).get("safety") or []
    lines += ["", "## Safety timeline (this window)", ""]
    lines += _table(("time", "level"), ((_utc(int(t) * 1_000_000), level_name(SAFETY_NAMES, int(v))) for t, v in tl))
    lines += ["", "## Processes", ""]
    lines += _table(
        ("process", "alive", "heartbeat age ms", "restarts", "overruns", "errors"),
        ((p.get("name", ""), "yes" if p.get("alive") else "NO", p.get("heartbeat_age_ms"), p.get("restarts"),
          p.get("overruns"), p.get("errors")) for p in state.get("processes", [])),
    )
    lines += [
        "",
        "## Files",
        "",
        f"- `records/`: {n_records} audit records of the last {_num(minutes)} minutes (decisions, fills, control, "
        "risk status); query them with `mmctl audit --dir <this directory>`.",
        "- `state.json`: the monitor's full state at the trigger; `positions.json`, `open_orders.json`, "
        "`timeline.json`, `trigger.json`.",
        "",
    ]
    return "\n".join(lines)


def build_bundle(trig: Trigger, state: Mapping[str, Any], records: Sequence[Any], minutes: float) -> Bundle:
    """Everything a postmortem directory holds, as bytes (state is redacted first)."""
    clean = redact(dict(state))
    enc = msgspec.json.Encoder()

    def js(obj: Any) -> bytes:
        return msgspec.json.format(enc.encode(obj), indent=1) + b"\n"

    stamp = dt.datetime.fromtimestamp(trig.wall_ns / 1e9, tz=dt.UTC).strftime("%Y%m%dT%H%M%S") \
        if trig.wall_ns > 0 else f"mono{trig.ts_ns}"
    files = {
        "summary.md": summary_markdown(trig, clean, len(records), minutes).encode(),
        "trigger.json": js(msgspec.to_builtins(trig)),
        "state.json": js(clean),
        "positions.json": js(clean.get("symbols_state", [])),
        "open_orders.json": js(clean.get("open_orders", [])),
        "timeline.json": js(clean.get("timeline", {})),
    }
    return Bundle(name=f"{stamp}-{trig.slug()}", trigger=trig, files=files, records=list(records))
