"""Calibration and skill metrics for the models, and reliability diagrams as PNG bytes.

What this module owns (issue 5 item 11): the numbers ``mmctl train`` prints for every
model, computed the same way everywhere, and the reliability diagram. Pure: arrays in,
numbers or PNG bytes out (the caller writes the file).

Definitions (p = predicted probability, y in {0, 1}, n observations):

- Brier score: ``mean((p - y)^2)``; 0 is perfect, 0.25 is a constant 0.5 forecast.
- Log loss: ``-mean(y ln p + (1 - y) ln(1 - p))`` with p clipped to [1e-12, 1 - 1e-12].
- Brier skill vs climatology: ``1 - Brier / Brier(constant = mean y)``.
- Reliability table: observations sorted by p and cut into bins (equal counts by default,
  so every bin has support); per bin the mean prediction, the observed rate and the count.
  Expected calibration error: ``sum_b n_b/n * |mean p_b - rate_b|``.
- AUC: probability that a random positive scores above a random negative (ties count 1/2),
  from ranks (Mann-Whitney U).
- Information ratio of a signal s against an outcome r (e.g. predicted edge vs realized
  edge, predicted drift vs realized move): the per-observation Sharpe of trading the
  signal's sign, ``mean(sign(s) r) / std(sign(s) r)`` (observations with s = 0 are not
  traded); not annualised.
- Mutual information (bits) between a continuous signal and an outcome: both cut into
  equal-count bins (a binary outcome keeps its two values), the plug-in estimate
  ``sum p(a,b) log2(p(a,b) / (p(a) p(b)))`` minus the Miller-Madow bias correction
  ``(K_ab - K_a - K_b + 1) / (2 n ln 2)`` (K = occupied cells), floored at 0.

The PNG writer is a small pure-numpy rasteriser (lines, markers, bars, a 5x7 bitmap font)
and encoder (zlib-compressed RGB rows with filter byte 0, chunk CRCs from zlib.crc32), so
the diagrams need no plotting library.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

FloatArr = npt.NDArray[np.float64]
_EPS: Final = 1e-12


def _arr(x: npt.ArrayLike) -> FloatArr:
    return np.asarray(x, dtype=np.float64).ravel()


def _check_py(p: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArr, FloatArr]:
    pa, ya = _arr(p), _arr(y)
    if pa.shape != ya.shape:
        raise ValueError(f"p and y must have the same length, got {pa.size} and {ya.size}")
    ok = np.isfinite(pa) & np.isfinite(ya)
    return np.clip(pa[ok], 0.0, 1.0), ya[ok]


def brier_score(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    pa, ya = _check_py(p, y)
    if pa.size == 0:
        return float("nan")
    return float(np.mean((pa - ya) ** 2))


def log_loss(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    pa, ya = _check_py(p, y)
    if pa.size == 0:
        return float("nan")
    pc = np.clip(pa, _EPS, 1.0 - _EPS)
    return float(-np.mean(ya * np.log(pc) + (1.0 - ya) * np.log(1.0 - pc)))


def brier_skill(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """1 - Brier / Brier of the constant forecast mean(y); nan when y is constant."""
    pa, ya = _check_py(p, y)
    if pa.size == 0:
        return float("nan")
    ref = float(np.mean((ya - ya.mean()) ** 2))
    if ref <= 0.0:
        return float("nan")
    return 1.0 - float(np.mean((pa - ya) ** 2)) / ref


def auc(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    pa, ya = _check_py(p, y)
    pos = ya > 0.5
    n1 = int(pos.sum())
    n0 = pa.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(pa, kind="mergesort")
    ranks = np.empty(pa.size)
    sp = pa[order]
    # average ranks over ties
    i = 0
    while i < sp.size:
        j = i
        while j + 1 < sp.size and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    u = ranks[pos].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


class ReliabilityTable(msgspec.Struct, frozen=True, kw_only=True):
    """Per bin: mean prediction, observed rate, count (bins in increasing prediction)."""

    mean_pred: list[float]
    obs_rate: list[float]
    count: list[int]

    @property
    def n(self) -> int:
        return sum(self.count)

    def ece(self) -> float:
        n = self.n
        if n == 0:
            return float("nan")
        return sum(c / n * abs(m - r) for m, r, c in zip(self.mean_pred, self.obs_rate, self.count))


def reliability_table(p: npt.ArrayLike, y: npt.ArrayLike, n_bins: int = 10, *,
                      equal_count: bool = True) -> ReliabilityTable:
    """Bins of predictions with their observed rate (equal-count bins by default: deciles)."""
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    pa, ya = _check_py(p, y)
    if pa.size == 0:
        return ReliabilityTable(mean_pred=[], obs_rate=[], count=[])
    if equal_count:
        order = np.argsort(pa, kind="mergesort")
        groups = [g for g in np.array_split(order, min(n_bins, pa.size)) if g.size]
    else:
        idx = np.minimum((pa * n_bins).astype(np.int64), n_bins - 1)
        groups = [np.flatnonzero(idx == b) for b in range(n_bins)]
        groups = [g for g in groups if g.size]
    return ReliabilityTable(
        mean_pred=[float(pa[g].mean()) for g in groups],
        obs_rate=[float(ya[g].mean()) for g in groups],
        count=[int(g.size) for g in groups],
    )


def information_ratio(signal: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Per-observation Sharpe of sign(signal) * outcome over the observations with a signal."""
    s, r = _arr(signal), _arr(outcome)
    if s.shape != r.shape:
        raise ValueError("signal and outcome must have the same length")
    ok = np.isfinite(s) & np.isfinite(r) & (s != 0.0)
    x = np.sign(s[ok]) * r[ok]
    if x.size < 2:
        return float("nan")
    sd = float(x.std(ddof=1))
    if sd <= 0.0:
        return float("nan")
    return float(x.mean()) / sd


def _codes(x: FloatArr, n_bins: int) -> npt.NDArray[np.int64]:
    u = np.unique(x)
    if u.size <= n_bins:
        return np.searchsorted(u, x).astype(np.int64)
    qs = np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return np.searchsorted(np.unique(qs), x, side="right").astype(np.int64)


def mutual_information_bits(x: npt.ArrayLike, y: npt.ArrayLike, n_bins: int = 10) -> float:
    """Binned MI in bits with the Miller-Madow correction (see the module docstring)."""
    xa, ya = _arr(x), _arr(y)
    if xa.shape != ya.shape:
        raise ValueError("x and y must have the same length")
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    n = xa.size
    if n < 2:
        return float("nan")
    cx, cy = _codes(xa, n_bins), _codes(ya, n_bins)
    kx, ky = int(cx.max()) + 1, int(cy.max()) + 1
    joint = np.zeros((kx, ky))
    np.add.at(joint, (cx, cy), 1.0)
    pxy = joint / n
    px = pxy.sum(axis=1, keepdims=True)
    py = pxy.sum(axis=0, keepdims=True)
    nz = pxy > 0.0
    mi = float(np.sum(pxy[nz] * np.log2(pxy[nz] / (px @ py)[nz])))
    k_ab = int(nz.sum())
    k_a = int((px > 0).sum())
    k_b = int((py > 0).sum())
    mi -= (k_ab - k_a - k_b + 1) / (2.0 * n * math.log(2.0))
    return max(mi, 0.0)


def binary_metrics(p: npt.ArrayLike, y: npt.ArrayLike) -> dict[str, float]:
    """Brier, log loss, Brier skill, AUC, ECE (deciles), base rate and n."""
    pa, ya = _check_py(p, y)
    tab = reliability_table(pa, ya, 10)
    return {
        "n": float(pa.size),
        "base_rate": float(ya.mean()) if ya.size else float("nan"),
        "mean_pred": float(pa.mean()) if pa.size else float("nan"),
        "brier": brier_score(pa, ya),
        "log_loss": log_loss(pa, ya),
        "brier_skill": brier_skill(pa, ya),
        "auc": auc(pa, ya),
        "ece": tab.ece(),
    }


# =========================================================================== PNG


def png_bytes(rgb: npt.NDArray[np.uint8]) -> bytes:
    """Encode an (H, W, 3) uint8 image as a PNG (8-bit RGB, no interlace)."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("image must be (H, W, 3) uint8")
    h, w = img.shape[0], img.shape[1]
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # filter byte 0 (None) per row
    raw[:, 1:] = img.reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + chunk(b"IEND", b""))


def png_decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode a PNG written by :func:`png_bytes` (8-bit RGB, filter 0): for tests and checks."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos = 8
    w = h = 0
    idat = b""
    while pos < len(data):
        (ln,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + ln]
        (crc,) = struct.unpack(">I", data[pos + 8 + ln : pos + 12 + ln])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, _ = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype != 2:
                raise ValueError("only 8-bit RGB is supported")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + ln
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    if np.any(raw[:, 0] != 0):
        raise ValueError("only filter type 0 is supported")
    return raw[:, 1:].reshape(h, w, 3).copy()


# 5x7 glyphs, one int per row, bit 4 = leftmost column.
_FONT: Final[dict[str, tuple[int, ...]]] = {
    " ": (0, 0, 0, 0, 0, 0, 0),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "<": (0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02),
    ">": (0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
}

_PALETTE: Final[tuple[tuple[int, int, int], ...]] = (
    (31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
)


class _Canvas:
    def __init__(self, w: int, h: int) -> None:
        self.img = np.full((h, w, 3), 255, dtype=np.uint8)
        self.w, self.h = w, h

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        xa, xb = sorted((max(0, x0), min(self.w, x1)))
        ya, yb = sorted((max(0, y0), min(self.h, y1)))
        if xb > xa and yb > ya:
            self.img[ya:yb, xa:xb] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int], width: int = 1,
             dash: int = 0) -> None:
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, n)).astype(np.int64)
        ys = np.rint(np.linspace(y0, y1, n)).astype(np.int64)
        if dash > 0:
            keep = (np.arange(n) // dash) % 2 == 0
            xs, ys = xs[keep], ys[keep]
        r = width // 2
        for dx in range(-r, width - r):
            for dy in range(-r, width - r):
                xx, yy = xs + dx, ys + dy
                ok = (xx >= 0) & (xx < self.w) & (yy >= 0) & (yy < self.h)
                self.img[yy[ok], xx[ok]] = color

    def disc(self, cx: float, cy: float, rad: int, color: tuple[int, int, int]) -> None:
        for dy in range(-rad, rad + 1):
            for dx in range(-rad, rad + 1):
                if dx * dx + dy * dy <= rad * rad:
                    x, y = round(cx) + dx, round(cy) + dy
                    if 0 <= x < self.w and 0 <= y < self.h:
                        self.img[y, x] = color

    def text(self, x: int, y: int, s: str, color: tuple[int, int, int] = (0, 0, 0), scale: int = 2,
             align: str = "left") -> None:
        s = s.upper()
        width = len(s) * 6 * scale
        if align == "center":
            x -= width // 2
        elif align == "right":
            x -= width
        for k, ch in enumerate(s):
            glyph = _FONT.get(ch, _FONT["?"])
            gx = x + k * 6 * scale
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (0x10 >> col):
                        self.rect(gx + col * scale, y + row * scale, gx + (col + 1) * scale,
                                  y + (row + 1) * scale, color)


def reliability_png(series: Sequence[tuple[str, ReliabilityTable]], title: str, *,
                    x_label: str = "predicted probability", y_label: str = "observed frequency",
                    width: int = 720, height: int = 640) -> bytes:
    """A reliability diagram: observed rate against mean prediction per bin for each
    series (line + markers, marker area by count), the diagonal, axes with ticks at 0.1
    steps (the range zooms to the data, as small probabilities are common), a legend with
    each series' ECE, and a count histogram strip under the plot. Returns PNG bytes."""
    cv = _Canvas(width, height)
    left, right, top, bottom_main, strip = 90, 30, 60, height - 150, 60
    pw, ph = width - left - right, bottom_main - top
    hi = 0.0
    for _, tab in series:
        if tab.count:
            hi = max(hi, max(tab.mean_pred), max(tab.obs_rate))
    hi = 1.0 if hi <= 0.0 else min(1.0, math.ceil(hi * 10.0 + 1e-9) / 10.0)
    step = 0.1 if hi > 0.35 else (0.05 if hi > 0.15 else 0.02)

    def sx(v: float) -> float:
        return left + v / hi * pw

    def sy(v: float) -> float:
        return bottom_main - v / hi * ph

    grey, dark = (225, 225, 225), (60, 60, 60)
    k = 0
    while k * step <= hi + 1e-9:
        v = k * step
        cv.line(sx(v), top, sx(v), bottom_main, grey)
        cv.line(left, sy(v), left + pw, sy(v), grey)
        lab = f"{v:.2f}"
        cv.text(int(sx(v)), bottom_main + 8, lab, dark, 1, "center")
        cv.text(left - 6, int(sy(v)) - 3, lab, dark, 1, "right")
        k += 1
    cv.line(left, bottom_main, left + pw, bottom_main, dark, 2)
    cv.line(left, top, left, bottom_main, dark, 2)
    cv.line(sx(0.0), sy(0.0), sx(hi), sy(hi), (150, 150, 150), 1, dash=6)
    cv.text(width // 2, 18, title, (0, 0, 0), 2, "center")
    cv.text(left + pw // 2, bottom_main + 24, x_label, dark, 2, "center")
    # y label, written vertically one letter per line would be unreadable; put it on top-left
    cv.text(left, top - 18, y_label, dark, 1, "left")

    total_max = max((max(t.count) for _, t in series if t.count), default=1)
    strip_top = bottom_main + 50
    cv.line(left, strip_top + strip, left + pw, strip_top + strip, dark, 1)
    cv.text(left - 6, strip_top + strip // 2 - 3, "count", dark, 1, "right")
    for i, (name, tab) in enumerate(series):
        color = _PALETTE[i % len(_PALETTE)]
        pts = [(sx(m), sy(r)) for m, r in zip(tab.mean_pred, tab.obs_rate)]
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            cv.line(x0, y0, x1, y1, color, 2)
        for (x, y), c in zip(pts, tab.count):
            cv.disc(x, y, 3 + int(4 * math.sqrt(c / total_max)), color)
        for m, c in zip(tab.mean_pred, tab.count):
            bh = int((strip - 4) * c / total_max)
            x = int(sx(m)) + (i - len(series) // 2) * 5
            cv.rect(x - 2, strip_top + strip - bh, x + 3, strip_top + strip, color)
        ly = top + 10 + 20 * i
        cv.rect(left + 12, ly, left + 26, ly + 12, color)
        cv.text(left + 32, ly, f"{name}  ece={tab.ece():.3f} n={tab.n}", (0, 0, 0), 1 if len(name) > 30 else 2)
    return png_bytes(cv.img)
