"""``python -m mm.cli.configdoc``: render docs/config.md, the configuration reference.

    python -m mm.cli.configdoc            # print the reference
    python -m mm.cli.configdoc --write    # regenerate docs/config.md
    python -m mm.cli.configdoc --check    # exit 1 when docs/config.md is out of date

Every key of the configuration (:mod:`mm.configref` reads the structs: type, default, unit,
allowed range, meaning). The page is generated: edit the field documentation in the struct
(its docstring entry or attribute docstring), then run ``--write``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mm.configref import Section, sections

REPO = Path(__file__).resolve().parents[2]
DOC_PATH = REPO / "docs" / "config.md"
REGENERATE = "python -m mm.cli.configdoc --write"

HEADER = f"""# Configuration reference

<!-- Generated from the config structs by `{REGENERATE}`; do not edit by hand.
     tests/docs/test_config_reference.py fails when this page is out of date. -->

mm reads one TOML file (`configs/paper.toml` for `make up`; `--config FILE` everywhere).
It is decoded into frozen typed structs and validated before any process starts: an unknown
key or a bad value is an error that names the key and its allowed range, for example

    configs/paper.toml: [ipc.slot_count] Expected `int` >= 16 (allowed: >= 16, <= 4194304; default 8192)

Every key is optional unless its default says "(required)". Units come from the key's name
(`_ms`, `_s`, `_bps`, `_pct` = %, `_usd`...) or its meaning. Ranges not expressible as a
bound (cross-key rules, e.g. `heartbeat_deadline_ms` > 2 x `heartbeat_interval_ms`) are in
the meaning and checked at load too. `<KEY>` in a table name is a map key chosen by you (a
coin, e.g. `[execution.symbol_limits.BTC]`); `[[name]]` is an array of tables.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else ""


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def render_section(sec: Section) -> str:
    level = "##" if "." not in sec.path else "###"
    lines = [f"{level} `{sec.title}`", ""]
    if sec.summary:
        lines += [_cell(sec.summary), ""]
    lines += ["| key | type | default | unit | allowed | meaning |", "|---|---|---|---|---|---|"]
    for k in sec.keys:
        name = k.path.rsplit(".", 1)[-1]
        lines.append(f"| `{name}` | {_cell(k.type)} | {_code(_cell(k.default))} | {_cell(k.unit)} | "
                     f"{_cell(k.allowed)} | {_cell(k.doc)} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    secs = sections()
    toc = ["## Sections", ""] + [f"- [`{s.title}`](#{_anchor(s.title)}) {_cell(_short(s.summary))}"
                                 for s in secs if "." not in s.path] + [""]
    return HEADER + "\n" + "\n".join(toc) + "\n" + "\n".join(render_section(s) for s in secs)


def _short(summary: str) -> str:
    text = summary.split(". ")[0].rstrip(".")
    return ("- " + text) if text else ""


def _anchor(title: str) -> str:
    # GitHub's anchor of a heading made of `code`: lower case, punctuation dropped.
    return "".join(ch for ch in title.lower() if ch.isalnum() or ch in "-_ ").replace(" ", "-")


def undocumented() -> list[str]:
    """Keys whose struct gives no meaning (the reference must explain every key)."""
    return [k.path for s in sections() for k in s.keys if not k.doc]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mm.cli.configdoc", description="Render the configuration "
                                 "reference (docs/config.md) from the config structs.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help=f"write {DOC_PATH.relative_to(REPO)}")
    g.add_argument("--check", action="store_true", help="exit 1 when the file differs from what would be written")
    ap.add_argument("--out", default=str(DOC_PATH), help="file to write or check (default docs/config.md)")
    a = ap.parse_args(argv)
    text = render()
    missing = undocumented()
    if missing:
        print("undocumented keys (give each a docstring entry in its struct): " + ", ".join(missing), file=sys.stderr)
    out = Path(a.out)
    if a.write:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out} ({text.count(chr(10))} lines)")
        return 0
    if a.check:
        current = out.read_text() if out.exists() else ""
        if current != text:
            print(f"{out} is out of date with the config structs; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
