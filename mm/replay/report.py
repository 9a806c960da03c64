"""The replay report: one JSON document and a self-contained HTML page with inline SVG plots.

What it shows per run (a policy at a fee tier): the seed 000 part 7 table, the PnL split
(spread capture, adverse selection, fees, inventory: :mod:`mm.replay.pnl`), fills,
turnover, Sharpe; plots of PnL and inventory over time, the mode timeline (with labelled
cascades shaded), markouts by horizon (1/5/30 s) and the fill edge histogram. The HTML has
no external reference (no script, stylesheet, font or image fetched): every plot is an
inline ``<svg>``. Building the document and the page is pure; :func:`write_report` is the
only I/O.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from mm.replay.draws import band_rows
from mm.replay.metrics import fmt_value
from mm.schema import ExecMode

W, H, PAD = 560, 180, 36
MODE_COLORS = {0: "#bbbbbb", 1: "#2a9d4b", 2: "#e07b00", 3: "#c0392b", 4: "#6c5ce7"}
SERIES_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _esc(x: object) -> str:
    return html.escape(str(x))


def _scale(v: float, lo: float, hi: float, a: float, b: float) -> float:
    return a + (v - lo) / (hi - lo) * (b - a) if hi > lo else (a + b) / 2.0


def _frame(title: str, body: str, x0: float, x1: float, y0: float, y1: float, xlabel: str = "s") -> str:
    ticks = []
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        y = _scale(yv, y0, y1, H - PAD, 14)
        ticks.append(f'<text x="2" y="{y + 3:.1f}" font-size="9">{yv:.3g}</text>'
                     f'<line x1="{PAD}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
    return (f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}">'
            + f'<text x="{PAD}" y="11" font-size="11" font-weight="bold">{_esc(title)}</text>' + "".join(ticks)
            + f'<text x="{PAD}" y="{H - 4}" font-size="9">{x0:.4g}</text>'
            + f'<text x="{W - 60}" y="{H - 4}" font-size="9">{x1:.4g} {_esc(xlabel)}</text>'
            + body + "</svg>")


def line_plot(title: str, series: list[tuple[str, list[float], list[float]]], step: bool = False) -> str:
    xs = [x for _, sx, _ in series for x in sx]
    ys = [y for _, _, sy in series for y in sy if math.isfinite(y)]
    if not xs or not ys:
        return _frame(title, '<text x="200" y="90" font-size="11">no data</text>', 0, 1, 0, 1)
    x0, x1, y0, y1 = min(xs), max(xs), min(min(ys), 0.0), max(max(ys), 0.0)
    body = []
    for k, (name, sx, sy) in enumerate(series):
        pts = []
        for i, (x, y) in enumerate(zip(sx, sy)):
            px, py = _scale(x, x0, x1, PAD, W - 8), _scale(y, y0, y1, H - PAD, 14)
            if step and i > 0:
                pts.append(f"{px:.1f},{_scale(sy[i - 1], y0, y1, H - PAD, 14):.1f}")
            pts.append(f"{px:.1f},{py:.1f}")
        c = SERIES_COLORS[k % len(SERIES_COLORS)]
        body.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.3" points="{" ".join(pts)}"/>')
        body.append(f'<text x="{W - 150}" y="{24 + 11 * k}" font-size="9" fill="{c}">{_esc(name)}</text>')
    return _frame(title, "".join(body), x0, x1, y0, y1)


def bar_plot(title: str, labels: list[str], values: list[float]) -> str:
    vals = [v if math.isfinite(v) else 0.0 for v in values]
    if not vals:
        return _frame(title, "", 0, 1, 0, 1)
    y0, y1 = min(min(vals), 0.0), max(max(vals), 0.0)
    if y0 == y1:
        y1 = y0 + 1.0
    n = len(vals)
    bw = (W - PAD - 8) / n
    body = []
    zero = _scale(0.0, y0, y1, H - PAD, 14)
    for i, (lab, v) in enumerate(zip(labels, vals)):
        x = PAD + i * bw
        y = _scale(v, y0, y1, H - PAD, 14)
        c = "#c0392b" if v < 0 else "#2a9d4b"
        body.append(f'<rect x="{x + 1:.1f}" y="{min(y, zero):.1f}" width="{bw - 2:.1f}" height="{abs(zero - y):.1f}" fill="{c}"/>')
        if n <= 12 or i % 2 == 0:
            body.append(f'<text x="{x + 1:.1f}" y="{H - 16}" font-size="8">{_esc(lab)}</text>')
    return _frame(title, "".join(body), 0, n, y0, y1, "")


def mode_timeline(title: str, modes: dict[str, list[list[float]]], cascades: list[list[float]], names: list[str]) -> str:
    spans = [iv for ivs in modes.values() for iv in ivs]
    if not spans:
        return _frame(title, "", 0, 1, 0, 1)
    x0, x1 = min(iv[0] for iv in spans), max(iv[1] for iv in spans)
    rows = sorted(modes)
    rh = max(10.0, (H - PAD - 20) / max(len(rows), 1))
    body = []
    for r, sid in enumerate(rows):
        y = 18 + r * rh
        body.append(f'<text x="2" y="{y + rh / 2:.1f}" font-size="9">{_esc(names[int(sid)] if int(sid) < len(names) else sid)}</text>')
        for a, b, m in modes[sid]:
            xa, xb = _scale(a, x0, x1, PAD, W - 8), _scale(b, x0, x1, PAD, W - 8)
            body.append(f'<rect x="{xa:.2f}" y="{y:.1f}" width="{max(xb - xa, 0.3):.2f}" height="{rh - 3:.1f}" '
                        f'fill="{MODE_COLORS.get(int(m), "#000")}"/>')
        for a, b, s in cascades:
            if str(int(s)) == sid:
                xa, xb = _scale(a, x0, x1, PAD, W - 8), _scale(b, x0, x1, PAD, W - 8)
                body.append(f'<rect x="{xa:.2f}" y="{y - 2:.1f}" width="{max(xb - xa, 1.0):.2f}" height="{rh + 1:.1f}" '
                            'fill="none" stroke="#000" stroke-width="1.2"/>')
    legend = " ".join(f'<tspan fill="{c}">{ExecMode(k).name}</tspan>' for k, c in MODE_COLORS.items())
    body.append(f'<text x="{PAD}" y="{H - 18}" font-size="9">{legend} (boxes: labelled cascades)</text>')
    return _frame(title, "".join(body), x0, x1, 0, 0)


def _run_html(key: str, run: dict[str, Any], names: list[str]) -> str:
    m = run["metrics"]
    rows = "".join(
        f"<tr><td>{_esc(r['metric'])}</td><td>{_esc(fmt_value(r))}</td><td>{_esc(r['target'])}</td>"
        f"<td>{'' if r['ok'] is None else ('pass' if r['ok'] else 'FAIL')}</td><td>{_esc(r['note'])}</td></tr>"
        for r in m["table"])
    p = m["pnl"]
    pnl_rows = "".join(f"<tr><td>{_esc(k)}</td><td>{v:.4f}</td></tr>" if isinstance(v, float) else
                       f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in p.items())
    s = m["series"]
    inv = [(names[int(sid)] if int(sid) < len(names) else sid, [x[0] for x in ser], [x[1] for x in ser])
           for sid, ser in s["inventory"].items()]
    mk = m["markouts"]
    eh = m["edge_hist"]
    edges = eh["edges_bps"]
    hist_labels = [f"<{edges[0]:g}"] + [f"{edges[i]:g}" for i in range(len(edges) - 1)] + [f">{edges[-1]:g}"]
    plots = [
        line_plot("PnL (USD, mark-to-market, net of fees)", [("pnl", s["pnl"]["t_s"], s["pnl"]["usd"])]),
        line_plot("Inventory (base qty) over time", inv, step=True),
        mode_timeline("Mode timeline", s["modes"], s["cascades"], names),
        bar_plot("Markout by horizon (mean gross edge, bps)", list(mk), [v["mean_bps"] or 0.0 for v in mk.values()]),
        bar_plot("Fill edge histogram (5 s, net of fees, bps bins)", hist_labels, [float(c) for c in eh["counts"]]),
    ]
    return (f'<section><h2>{_esc(key)}</h2><p>fills {m["fills"]} (maker {m["maker_fills"]}), turnover '
            f'{m["turnover_usd"]:.2f} USD, Sharpe {m["sharpe_per_step"]:.3f} per {m["sharpe_step_s"]:g} s '
            f'({m["sharpe_annualized"]:.2f} annualized), cycles {m["cycles"]}, requests {m["requests"]}; '
            f'kill: {_esc(m["kill"]["reason"] or "none")}</p>'
            f'<table><tr><th>metric</th><th>value</th><th>target</th><th></th><th>note</th></tr>{rows}</table>'
            f'<table><tr><th>PnL</th><th>USD</th></tr>{pnl_rows}</table>'
            f'<div class="plots">{"".join(plots)}</div></section>')


def comparison_rows(doc: dict[str, Any]) -> list[list[str]]:
    """The table across runs: one row per metric, one column per run."""
    keys = list(doc["runs"])
    if not keys:
        return []
    out = [["metric", *keys]]
    first = doc["runs"][keys[0]]["metrics"]["table"]
    for i, r in enumerate(first):
        out.append([r["metric"], *(fmt_value(doc["runs"][k]["metrics"]["table"][i]) for k in keys)])
    for label, f in (("PnL total (USD)", lambda m: f"{m['pnl']['total_usd']:.2f}"),
                     ("  spread capture", lambda m: f"{m['pnl']['spread_capture_usd']:.2f}"),
                     ("  adverse selection", lambda m: f"{m['pnl']['adverse_selection_usd']:.2f}"),
                     ("  fees", lambda m: f"{m['pnl']['fees_usd']:.2f}"),
                     ("  inventory", lambda m: f"{m['pnl']['inventory_usd']:.2f}"),
                     ("net bps of turnover", lambda m: "n/a" if m["pnl"]["net_bps_of_turnover"] is None
                      else f"{m['pnl']['net_bps_of_turnover']:.2f}"),
                     ("fills", lambda m: str(m["fills"])),
                     ("turnover (USD)", lambda m: f"{m['turnover_usd']:.0f}"),
                     ("Sharpe (annualized)", lambda m: f"{m['sharpe_annualized']:.2f}"),
                     ("time in Flat", lambda m: f"{100 * m['mode_share'].get('FLAT', 0.0):.1f}%"),
                     ("time in Maker", lambda m: f"{100 * m['mode_share'].get('MAKER', 0.0):.1f}%")):
        out.append([label, *(f(doc["runs"][k]["metrics"]) for k in keys)])
    return out


def uptime_miss_lines(doc: dict[str, Any], most: int = 5) -> list[str]:
    """Per run that missed some positive-queue-value time: where it went (its largest causes,
    as shares of that time; :mod:`mm.replay.uptime`)."""
    out = []
    for key, run in doc["runs"].items():
        misses = run["metrics"].get("uptime_misses") or []
        if not misses:
            continue
        missed = sum(x["share"] for x in misses)
        top = "; ".join(f"{100 * x['share']:.1f}% {x['cause']}" for x in misses[:most])
        more = f"; {len(misses) - most} more causes" if len(misses) > most else ""
        out.append(f"{key}: not quoted {100 * missed:.1f}% of it: {top}{more}")
    return out


def text_table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in rows)


def _models_html(models: dict[str, Any] | None) -> str:
    if not models:
        return ""
    rows = []
    for coin, f in models.get("coins", {}).items():
        tox = f.get("toxicity_test") or {}
        fill = (f.get("fill_1s_test") or {}).get("model") or {}
        qv = f.get("queue_value_test") or {}
        lg = qv.get("learned_gross") or {}
        rows.append(f"<tr><td>{_esc(coin)}</td><td>{_esc(', '.join(f.get('fitted', [])) or 'none')}</td>"
                    f"<td>{_esc(_num(tox.get('auc')))}</td><td>{_esc(_num(fill.get('brier')))}</td>"
                    f"<td>{_esc(_num(lg.get('r2')))}</td><td>{_esc(_num(qv.get('share_learned_pos_net')))}</td>"
                    f"<td>{_esc(f.get('error', ''))}</td></tr>")
    return ("<h3>Models fitted on the warm-up (figures on the evaluated part)</h3><table><tr><th>coin</th><th>fitted</th>"
            "<th>toxicity AUC</th><th>fill 1 s Brier</th><th>queue value R2 (gross)</th>"
            "<th>share of joins with learned net QV &gt; 0 (fit tier)</th><th>note</th></tr>" + "".join(rows) + "</table>")


def _num(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) and math.isfinite(float(x)) else "-"


def _rows_html(rows: list[list[str]]) -> str:
    """Table rows from a text table's rows, the first as the header."""
    return "".join("<tr>" + "".join(f"<t{'h' if i == 0 else 'd'}>{_esc(c)}</t{'h' if i == 0 else 'd'}>" for c in r)
                   + "</tr>" for i, r in enumerate(rows))


def _dataset_html(doc: dict[str, Any], level: int = 2) -> str:
    names = doc.get("coins", [])
    comp = comparison_rows(doc)
    comp_html = _rows_html(comp)
    meta = "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in doc.get("meta", {}).items())
    bands = doc.get("draws")
    bands_html = ""
    if bands:
        brows = band_rows(bands)
        bands_html = (f"<h{level}>Over latency draws (seeds {_esc(bands['latency_seeds'])})</h{level}>"
                      "<p>The comparison above is the first draw's; here each figure's mean [min, max] over the "
                      f"draws and how many draws met its target.</p><table>{_rows_html(brows)}</table>")
    dd = doc.get("decision_diff")
    dd_html = ""
    if dd:
        dd_html = f"<section><h{level}>Decision replay</h{level}><pre>{_esc(json.dumps(dd, indent=1)[:20000])}</pre></section>"
    misses = uptime_miss_lines(doc)
    miss_html = ""
    if misses:
        miss_html = (f"<h{level}>Where the positive-queue-value time went unquoted</h{level}><p>Shares of the time a "
                     "side had net queue value &gt; 0 outside Toxic flow, by the cause the decision record gives "
                     "(first draw).</p><ul>" + "".join(f"<li>{_esc(x)}</li>" for x in misses) + "</ul>")
    runs = "".join(_run_html(k, r, names) for k, r in doc["runs"].items())
    return (f"<ul>{meta}</ul>{_models_html(doc.get('models'))}<h{level}>Comparison</h{level}><table>{comp_html}</table>"
            f"{miss_html}{bands_html}{dd_html}{runs}")


def render_html(doc: dict[str, Any]) -> str:
    """The page of one data set's document, or of a multi-data-set one (``datasets``)."""
    style = ("body{font-family:sans-serif;margin:16px;max-width:1200px}table{border-collapse:collapse;margin:8px 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}.plots svg{margin:4px;border:1px solid #eee}")
    if "datasets" in doc:
        meta = "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in doc.get("meta", {}).items())
        body = f"<ul>{meta}</ul>" + "".join(
            f"<section><h1>{_esc(d['meta'].get('name', ''))}: {_esc(d['meta'].get('data', ''))}</h1>{_dataset_html(d)}"
            "</section>" for d in doc["datasets"])
    else:
        body = _dataset_html(doc)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mm replay report</title><style>{style}</style>"
            f"</head><body><h1>mm replay report</h1>{body}</body></html>")


def write_report(doc: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    pj, ph = d / "report.json", d / "report.html"
    pj.write_text(json.dumps(doc, indent=1, default=str))
    ph.write_text(render_html(doc))
    return pj, ph
