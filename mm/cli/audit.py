"""``mmctl audit``: answer "why did we do that?" from the audit files.

  mmctl audit [--dir PATH | --config FILE] [--since T] [--until T] [--mode MODE]
              [--symbol SYM] [--fill-id ID] [--limit N] [--summary] [--json]

``--dir``: an audit directory, a state directory (its ``audit/``), a postmortem bundle (its
``records/``) or one ``.mmrec`` file; without it, ``<state_dir>/audit`` of ``--config`` (by
default configs/paper.toml). ``--since``/``--until``: ISO 8601 (UTC unless an offset is
given) or a duration ago (``10m``, ``2h``, ``90s``). ``--mode``: execution mode (``maker``,
``flat``, ``taker_entry``, ``taker_exit``, ``inventory_reduce``). ``--symbol``: coin or id.
``--fill-id``: a venue trade id, cloid or oid: prints the fill and the decision cycle that
placed its order. ``--limit``: the last N matching cycles (default 50, 0: all).
``--json``: one JSON object per line (field names spelled out).

Exit codes: 0 answered (an empty selection included); 1 the fill was not found or there are
no audit files; 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from mm.audit.query import (
    AuditQuery,
    FillTrace,
    QueryError,
    format_wall,
    mode_number,
    parse_time,
    select,
    summarize,
    to_plain,
    trace_fill,
)
from mm.audit.record import EXPOSURE_NAMES, SAFETY_NAMES, CycleDecisionRecord, level_name
from mm.audit.store import audit_dir, audit_files, read_audit
from mm.config import ConfigError, load_config

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = "configs/paper.toml"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmctl audit", description="Query the decision audit files.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--dir", help="audit directory, state directory, postmortem bundle or .mmrec file")
    src.add_argument("--config", help="config file whose run.state_dir holds the audit files")
    ap.add_argument("--since", help="ISO 8601 time (UTC) or a duration ago: 10m, 2h")
    ap.add_argument("--until", help="ISO 8601 time (UTC) or a duration ago")
    ap.add_argument("--mode", help="execution mode: flat, maker, taker_entry, taker_exit, inventory_reduce")
    ap.add_argument("--symbol", help="coin (BTC) or symbol id (0)")
    ap.add_argument("--fill-id", help="venue trade id, cloid or oid of one of our fills")
    ap.add_argument("--limit", type=int, default=50, help="last N matching cycles (0: all; default 50)")
    ap.add_argument("--summary", action="store_true", help="only the totals of the selection")
    ap.add_argument("--json", action="store_true", help="JSON lines")
    return ap


def _source(args: argparse.Namespace) -> Path:
    if args.dir:
        return Path(args.dir)
    cfg_path = args.config or DEFAULT_CONFIG
    cfg = load_config(cfg_path)
    return audit_dir(cfg.run.state_dir)


def _sign(x: float, fmt: str = "+.4f") -> str:
    return format(x, fmt) if math.isfinite(x) else "-"


def format_record(r: CycleDecisionRecord) -> str:
    """One line per decision cycle."""
    inv = f"inv {r.inventory_qty:+.6g}"
    if math.isfinite(r.max_inventory_qty) and r.max_inventory_qty > 0:
        inv += f"/±{r.max_inventory_qty:.4g}"
    why = "; ".join([r.mode_reason, *r.reasons[:2]]).strip("; ")
    return (
        f"{format_wall(r.wall_ns)} {r.symbol or r.symbol_id:<5} #{r.cycle:<7} {r.mode_name:<16} "
        f"safety {level_name(SAFETY_NAMES, r.safety_level):<6} exp {level_name(EXPOSURE_NAMES, r.exposure_level)} "
        f"x{r.exposure_scaling:.3g}  {inv}  spread raw {_sign(r.raw_spread_bps, '.2f')} final "
        f"{_sign(r.final_spread_bps, '.2f')} bps  placed {len(r.orders_placed)} mod {len(r.orders_modified)} "
        f"cxl {len(r.orders_cancelled)} kept {r.orders_latched}  fills {len(r.fills)}  "
        f"pnl {_sign(r.pnl_delta_usd)} USD  | {why}"
    )


def format_trace(t: FillTrace) -> list[str]:
    f = t.fill
    lines = [
        f"fill trade {f.trade_id} (cloid {f.cloid or '-'}, oid {f.oid}): {t.symbol} "
        f"{'buy' if f.side > 0 else 'sell'} {f.qty:g} @ {f.px:g}, fee {f.fee_usd:g} USD, "
        f"{'maker' if f.is_maker else 'taker'}"
        + (f", at {format_wall(t.audit_fill.wall_ns)}" if t.audit_fill is not None else "")
    ]
    p = t.placed_by
    if p is None:
        lines.append("  placed by: not in these audit files (placed before they start, or by another session)")
    else:
        lines.append(f"  placed by cycle #{p.cycle} at {format_wall(p.wall_ns)}:")
        lines.append("    " + format_record(p))
        for o in p.orders_placed + p.orders_modified:
            if o.cloid == f.cloid:
                lines.append(f"    order: {o.kind} {'buy' if o.side > 0 else 'sell'} {o.qty:g} @ {o.px:g} {o.tif}"
                             + (" reduce-only" if o.reduce_only else "") + (f" (replaces {o.replaces})" if o.replaces else ""))
        chosen = [c for c in p.candidates if c.chosen]
        for c in chosen:
            lines.append(f"    chosen level: {'bid' if c.side > 0 else 'ask'} {c.px:g} ({c.offset_ticks} ticks), queue value "
                         f"{c.queue_value_bps:.3g} bps, P(fill) {c.p_fill:.3g}, E[pnl] {c.epnl_bps:.3g} bps")
        if p.signal_adjustments:
            lines.append("    signals: " + ", ".join(f"{a.name} {a.value:.4g} {a.unit}" for a in p.signal_adjustments))
        ov = p.risk_overlay
        lines.append(f"    risk overlay: safety {level_name(SAFETY_NAMES, ov.safety_level)}, size x{ov.size_multiplier:.3g}, "
                     f"spread x{ov.spread_multiplier:.3g}" + (", reduce-only" if ov.reduce_only else "")
                     + (f"; {'; '.join(ov.effects)}" if ov.effects else ""))
        if p.confidence is not None:
            k = p.confidence
            lines.append(f"    confidence: overall {k.overall:.3f} (model {k.model:.3f}, execution {k.execution:.3f}, "
                         f"safety {k.safety:.3f})")
    if t.reported_in is not None:
        lines.append(f"  reported in cycle #{t.reported_in.cycle} at {format_wall(t.reported_in.wall_ns)} "
                     f"(position after {t.reported_in.position_after_qty:+.6g})")
    elif t.audit_fill is not None:
        lines.append(f"  position after {t.audit_fill.position_after_qty:+.6g}")
    return lines


def _emit_json(obj: Any, out: Any) -> None:
    out.write(msgspec.json.encode(to_plain(obj)).decode() + "\n")


def run(args: argparse.Namespace, out: Any = sys.stdout, now_wall_ns: int | None = None) -> int:
    now = time.time_ns() if now_wall_ns is None else now_wall_ns
    try:
        src = _source(args)
    except ConfigError as exc:
        print(f"mmctl audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not audit_files(src):
        print(f"mmctl audit: no audit files at {src} (does the group run with the monitor? is the path right?)",
              file=sys.stderr)
        return EXIT_NOT_FOUND
    try:
        q = AuditQuery(
            since_wall_ns=parse_time(args.since, now) if args.since else None,
            until_wall_ns=parse_time(args.until, now) if args.until else None,
            mode=mode_number(args.mode) if args.mode else None,
            symbol=args.symbol,
            limit=max(args.limit, 0),
        )
    except QueryError as exc:
        print(f"mmctl audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.fill_id:
        try:
            traces = trace_fill(lambda: read_audit(src), args.fill_id)
        except QueryError as exc:
            print(f"mmctl audit: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not traces:
            print(f"mmctl audit: no fill {args.fill_id!r} in {src}", file=sys.stderr)
            return EXIT_NOT_FOUND
        for t in traces:
            if args.json:
                _emit_json(t, out)
            else:
                out.write("\n".join(format_trace(t)) + "\n")
        return EXIT_OK
    full = AuditQuery(since_wall_ns=q.since_wall_ns, until_wall_ns=q.until_wall_ns, mode=q.mode, symbol=q.symbol)
    if args.summary:
        s = summarize(select(read_audit(src), full))
        if args.json:
            _emit_json(s, out)
        else:
            out.write(_format_summary(s) + "\n")
        return EXIT_OK
    recs = select(read_audit(src), q)
    for r in recs:
        if args.json:
            _emit_json(r, out)
        else:
            out.write(format_record(r) + "\n")
    if not args.json:
        if not recs:
            out.write("no decision records match\n")
        else:
            out.write(f"({len(recs)} cycles shown" + (f", the last {q.limit} matching" if q.limit and len(recs) == q.limit else "")
                      + "; --summary for totals)\n")
    return EXIT_OK


def _format_summary(s: Any) -> str:
    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"

    return (
        f"{s.records} decision cycles from {format_wall(s.first_wall_ns)} to {format_wall(s.last_wall_ns)}\n"
        f"  modes: {counts(s.by_mode)}\n  symbols: {counts(s.by_symbol)}\n  safety: {counts(s.by_safety)}\n"
        f"  orders placed {s.orders_placed}, modified {s.orders_modified}, cancelled {s.orders_cancelled}; "
        f"fills {s.fills}; PnL change {s.pnl_delta_usd:+.4f} USD"
    )


def main(argv: Iterable[str] | None = None) -> int:
    ap = _parser()
    try:
        args = ap.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
