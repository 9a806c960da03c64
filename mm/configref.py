"""The configuration reference: every key of :class:`mm.config.Config`, read from the structs.

For each key: its TOML path (``ipc.slot_count``), type, default, unit, allowed range and
meaning. Type, default and range come from the msgspec type information (``Meta``
constraints, ``Literal`` choices); the meaning comes from the documentation attached to the
field in its struct, found in this order:

1. an attribute docstring (a string literal right after the field's line),
2. the field's entry in the struct's docstring (``name: text`` on its own line, with
   indented continuation lines; ``a, b: text`` and ``a / b: text`` document several),
3. ``#`` comment lines right above the field in the struct's source.

The unit is read from the name's suffix (``_ms``, ``_bps``, ``_usd``...) or, failing that,
from a leading ``"s, "``/``"bps, "``/``"%, "`` in the meaning. Pure: reads source through
:mod:`inspect`, no file is written (``python -m mm.cli.configdoc`` renders docs/config.md).
:func:`allowed_hint` turns a key path into the "allowed: ..." text a config error appends.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import inspect as mi

UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_ns", "ns"), ("_us", "us"), ("_ms", "ms"), ("_s", "s"), ("_bps", "bps"), ("_pct", "%"),
    ("_usd", "USD"), ("_hz", "Hz"), ("_qty", "base qty"), ("_px", "price"), ("_frac", "fraction"),
    ("_ticks", "ticks"), ("_bytes", "bytes"), ("_mb", "MB"), ("_per_s", "per s"), ("_per_min", "per min"),
)
_LEADING_UNIT = re.compile(r"^(ns|us|ms|s|bps|%|USD|Hz|ticks)(,| of | per |:)\s*")


@dataclass
class Key:
    """One configuration key."""

    path: str               # TOML path, e.g. "ipc.slot_count"; "<COIN>" / "[]" mark map keys and arrays
    type: str
    default: str
    unit: str
    allowed: str
    doc: str


@dataclass
class Section:
    """One struct: a ``[section]``, a sub-table or an array of tables."""

    path: str
    title: str               # "[ipc]", "[execution.oms]", "[[venue.coins]]"
    cls_name: str
    summary: str
    keys: list[Key] = field(default_factory=list)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> meaning, from the struct's source and docstring (see the module doc)."""
    names = set(getattr(cls, "__struct_fields__", ()))
    out: dict[str, str] = {}
    # 3. comments above the field, and 1. attribute docstrings
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        src = ""
    if src:
        lines = src.splitlines()
        tree = ast.parse(src)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for i, node in enumerate(body):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            name = node.target.id
            if name not in names:
                continue
            nxt = body[i + 1] if i + 1 < len(body) else None
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                out[name] = " ".join(nxt.value.value.split())
                continue
            comments: list[str] = []
            j = node.lineno - 2
            while j >= 0 and lines[j].strip().startswith("#"):
                comments.insert(0, lines[j].strip().lstrip("#").strip())
                j -= 1
            if comments:
                out.setdefault(name, " ".join(comments))
    # 2. the docstring's entries win over comments
    doc = inspect.getdoc(cls) or ""
    entry = re.compile(r"^(\s*)([A-Za-z_]\w*(?:\s*(?:,|/)\s*[A-Za-z_]\w*)*)\s*:\s*(.*)$")
    cur: list[str] | None = None
    cur_indent = 0
    cur_names: list[str] = []

    def flush() -> None:
        if cur is not None:
            text = " ".join(" ".join(cur).split())
            for n in cur_names:
                if n not in out or not _is_attr_doc(cls, n, src):
                    out[n] = text

    for line in doc.splitlines():
        m = entry.match(line)
        if m:
            cand = [n.strip() for n in re.split(r"[,/]", m.group(2))]
            if all(n in names for n in cand):
                flush()
                cur, cur_indent, cur_names = [m.group(3)], len(m.group(1)), cand
                continue
        if cur is not None and line.strip() and len(line) - len(line.lstrip()) > cur_indent:
            cur.append(line.strip())
            continue
        flush()
        cur, cur_names = None, []
    flush()
    return out


def _is_attr_doc(cls: type, name: str, src: str) -> bool:
    # True when the field has an attribute docstring (which the docstring entry must not override).
    return bool(re.search(rf"^\s*{name}\s*:.*\n\s*(\"\"\"|\"|')", src, re.M))


def _type_str(t: Any) -> str:
    if isinstance(t, mi.IntType):
        return "int"
    if isinstance(t, mi.FloatType):
        return "float"
    if isinstance(t, mi.BoolType):
        return "bool"
    if isinstance(t, mi.StrType):
        return "string"
    if isinstance(t, mi.LiteralType):
        return "string" if all(isinstance(v, str) for v in t.values) else "literal"
    if isinstance(t, mi.StructType):
        return "table"
    if isinstance(t, mi.ListType | mi.TupleType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        item = getattr(t, "item_type", None)
        if item is None and isinstance(t, mi.TupleType):
            inner = sorted({_type_str(x) for x in t.item_types})
            return f"array of {' | '.join(inner)}"
        return "array of tables" if isinstance(item, mi.StructType) else f"array of {_type_str(item)}"
    if isinstance(t, mi.DictType):
        v = t.value_type
        return f"table of {_type_str(t.key_type)} -> " + ("table" if isinstance(v, mi.StructType) else _type_str(v))
    if isinstance(t, mi.UnionType):
        parts = [_type_str(x) for x in t.types if not isinstance(x, mi.NoneType)]
        opt = any(isinstance(x, mi.NoneType) for x in t.types)
        return " | ".join(parts) + (" (optional)" if opt else "")
    if isinstance(t, mi.NoneType):
        return "none"
    if isinstance(t, mi.AnyType):
        return "any"
    return type(t).__name__.replace("Type", "").lower()


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def allowed_of(t: Any) -> str:
    """The allowed values of a type: numeric bounds, multiples, choices, lengths."""
    if isinstance(t, mi.UnionType):
        parts = [allowed_of(x) for x in t.types if not isinstance(x, mi.NoneType)]
        return "; ".join(p for p in parts if p)
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(json.dumps(v) for v in sorted(t.values, key=str))
    bits: list[str] = []
    if isinstance(t, mi.IntType | mi.FloatType):
        lo = f">= {_num(t.ge)}" if t.ge is not None else (f"> {_num(t.gt)}" if t.gt is not None else "")
        hi = f"<= {_num(t.le)}" if t.le is not None else (f"< {_num(t.lt)}" if t.lt is not None else "")
        bits += [b for b in (lo, hi) if b]
        if t.multiple_of is not None:
            bits.append(f"a multiple of {_num(t.multiple_of)}")
    if isinstance(t, mi.StrType | mi.ListType | mi.DictType | mi.VarTupleType) and (
            getattr(t, "min_length", None) is not None or getattr(t, "max_length", None) is not None):
        if t.min_length is not None:
            bits.append(f"length >= {t.min_length}")
        if t.max_length is not None:
            bits.append(f"length <= {t.max_length}")
    if isinstance(t, mi.ListType | mi.VarTupleType):
        inner = allowed_of(t.item_type)
        if inner:
            bits.append(f"each {inner}")
    return ", ".join(bits)


def _default_str(f: mi.Field) -> str:
    if f.required:
        return "(required)"
    if f.default is not msgspec.NODEFAULT:
        val: Any = f.default
    elif f.default_factory is not msgspec.NODEFAULT:
        val = f.default_factory()
    else:
        return ""
    if isinstance(val, msgspec.Struct):
        return "(table)"
    try:
        builtins = msgspec.to_builtins(val)
    except (TypeError, ValueError):
        return repr(val)
    if isinstance(builtins, dict) and not builtins:
        return "{}"
    if isinstance(builtins, list) and builtins and isinstance(builtins[0], dict):
        return f"({len(builtins)} tables)"
    text = json.dumps(builtins)
    return text if len(text) <= 80 else text[:77] + "..."


def unit_of(name: str, doc: str) -> str:
    """The key's unit from its name suffix, or a leading unit in its meaning."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    m = _LEADING_UNIT.match(doc)
    return m.group(1) if m else ""


def _sub_struct(t: Any) -> tuple[str, type] | None:
    """(kind, class) of a nested struct: 'table', 'map' (dict of tables), 'array' (array of tables)."""
    if isinstance(t, mi.StructType):
        return "table", t.cls
    if isinstance(t, mi.DictType) and isinstance(t.value_type, mi.StructType):
        return "map", t.value_type.cls
    if isinstance(t, mi.ListType | mi.VarTupleType) and isinstance(t.item_type, mi.StructType):
        return "array", t.item_type.cls
    if isinstance(t, mi.UnionType):
        for x in t.types:
            r = _sub_struct(x)
            if r is not None:
                return r
    return None


def sections(root: type | None = None) -> list[Section]:
    """Every struct under the root config, depth first, in field order."""
    if root is None:
        from mm.config import Config

        root = Config
    out: list[Section] = []

    def walk(cls: type, path: str, title: str, note: str = "") -> None:
        doc = inspect.getdoc(cls) or ""
        summary = doc.split("\n\n")[0].replace("\n", " ").strip()
        summary = re.sub(r"^``\[[^`]*\]``:?\s*", "", summary).strip()
        summary = (summary[:1].upper() + summary[1:]) if summary else ""
        note = re.sub(r"^\[[\w.]+\]:\s*", "", note)
        note = note[:1].upper() + note[1:]
        if note and note not in summary:
            summary = f"{summary} {note}".strip()
        sec = Section(path, title, cls.__name__, summary)
        docs = field_docs(cls)
        nested: list[tuple[str, str, type, str]] = []
        for f in mi.type_info(cls).fields:  # type: ignore[attr-defined]
            key = f"{path}.{f.encode_name}" if path else f.encode_name
            meaning = docs.get(f.name, "")
            sub = _sub_struct(f.type)
            if sub is not None:
                kind, scls = sub
                if kind == "table":
                    sub_path, sub_title = key, f"[{key}]"
                elif kind == "map":
                    sub_path, sub_title = f"{key}.<KEY>", f"[{key}.<KEY>]"
                else:
                    sub_path, sub_title = key, f"[[{key}]]"
                nested.append((sub_path, sub_title, scls, meaning if not path else ""))
                if path:  # the root's fields are the sections themselves
                    sec.keys.append(Key(key, _type_str(f.type), _default_str(f), "", f"see {sub_title}", meaning))
                continue
            sec.keys.append(Key(key, _type_str(f.type), _default_str(f), unit_of(f.name, meaning),
                                allowed_of(f.type), meaning))
        if path:
            out.append(sec)
        for sub_path, sub_title, scls, sub_note in nested:
            walk(scls, sub_path, sub_title, sub_note)

    walk(root, "", "")
    return out


def keys(root: type | None = None) -> dict[str, Key]:
    """Every leaf and table key by TOML path."""
    return {k.path: k for s in sections(root) for k in s.keys}


def allowed_hint(path: str) -> str:
    """What a config error appends for a key path (``ipc.slot_count`` or ``venue.coins[0].name``):
    the allowed range, or for a section the keys it has. Empty when nothing is known."""
    norm = re.sub(r"\[\d+\]", "", path).replace("[...]", ".<KEY>")
    secs = {s.path: s for s in sections()}
    allk = {k.path: k for s in secs.values() for k in s.keys}
    k = allk.get(norm)
    if k is None:  # a map key (execution.symbol_limits.BTC.x -> execution.symbol_limits.<KEY>.x)
        parts = norm.split(".")
        for i in range(1, len(parts)):
            alt = ".".join(parts[:i] + ["<KEY>"] + parts[i + 1:])
            if alt in allk:
                k = allk[alt]
                break
    if k is not None:
        bits = [f"allowed: {k.allowed}" if k.allowed else "", f"unit {k.unit}" if k.unit else "",
                "required" if k.default == "(required)" else (f"default {k.default}" if k.default else "")]
        return "; ".join(b for b in bits if b)
    if norm in secs:
        return "keys of [" + norm + "]: " + ", ".join(x.path.rsplit(".", 1)[-1] for x in secs[norm].keys)
    return ""
