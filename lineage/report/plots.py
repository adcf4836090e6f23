"""Train vs held-out distribution charts as inline SVG, from stored column profiles.

A numeric profile keeps 257 quantiles: each of the 256 steps between two of them holds
1/256 of the values, spread evenly over the bins it spans (a step of zero width is a
point mass), which gives a histogram without reading the data again. A categorical
profile keeps its top values with their counts: a grouped bar chart of the values most
frequent on either side.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

BINS = 24
TOP = 8
W, H, PAD_L, PAD_B, PAD_T = 360.0, 170.0, 34.0, 34.0, 22.0
TRAIN_COLOUR, HELD_COLOUR = "#1f6fb4", "#8e44ad"


def _f(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def histogram(quantiles: list[float], lo: float, hi: float, bins: int = BINS) -> list[float]:
    """Shares of the values in ``bins`` equal bins over [lo, hi], from evenly spaced quantiles."""
    out = [0.0] * bins
    steps = len(quantiles) - 1
    if steps < 1 or hi <= lo:
        if quantiles:
            out[0] = 1.0
        return out
    width = (hi - lo) / bins
    mass = 1.0 / steps
    for a, b in zip(quantiles, quantiles[1:]):
        if b <= a:
            k = min(bins - 1, max(0, int((a - lo) / width)))
            out[k] += mass
            continue
        first = min(bins - 1, max(0, int((a - lo) / width)))
        last = min(bins - 1, max(0, int((b - lo) / width)))
        for k in range(first, last + 1):
            left, right = max(a, lo + k * width), min(b, lo + (k + 1) * width)
            if right > left:
                out[k] += mass * (right - left) / (b - a)
    return out


def _frame(title: str, kind_note: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{_f(W)}" height="{_f(H)}" '
            f'viewBox="0 0 {_f(W)} {_f(H)}" font-family="sans-serif" font-size="10" role="img">',
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{_f(W)}" height="{_f(H)}" fill="#ffffff"/>',
            f'<text x="{_f(PAD_L)}" y="13" font-size="11" font-weight="bold">{escape(title)}</text>',
            f'<text x="{_f(W - 6)}" y="13" text-anchor="end" fill="#555555">{escape(kind_note)}</text>']


def _legend(y: float) -> str:
    return (f'<rect x="{_f(W - 130)}" y="{_f(y)}" width="10" height="10" fill="{TRAIN_COLOUR}" fill-opacity="0.55"/>'
            f'<text x="{_f(W - 116)}" y="{_f(y + 9)}">train</text>'
            f'<rect x="{_f(W - 76)}" y="{_f(y)}" width="10" height="10" fill="{HELD_COLOUR}" fill-opacity="0.55"/>'
            f'<text x="{_f(W - 62)}" y="{_f(y + 9)}">held-out</text>')


def numeric_chart(column: str, note: str, train: dict[str, Any], held: dict[str, Any]) -> str | None:
    tq, hq = train.get("quantiles") or [], held.get("quantiles") or []
    if not tq or not hq:
        return None
    lo, hi = min(tq[0], hq[0]), max(tq[-1], hq[-1])
    if hi <= lo:
        hi = lo + 1.0
    th, hh = histogram(tq, lo, hi), histogram(hq, lo, hi)
    top = max(max(th), max(hh), 1e-9)
    plot_w, plot_h = W - PAD_L - 8, H - PAD_T - PAD_B
    bw = plot_w / BINS
    out = _frame(column, note)
    for shares, colour, dx, series in ((th, TRAIN_COLOUR, 0.0, "train"), (hh, HELD_COLOUR, bw / 2, "heldout")):
        for k, s in enumerate(shares):
            h = plot_h * s / top
            if h <= 0:
                continue
            out.append(f'<rect class="bar series-{series}" x="{_f(PAD_L + k * bw + dx)}" '
                       f'y="{_f(PAD_T + plot_h - h)}" width="{_f(bw / 2)}" '
                       f'height="{_f(h)}" fill="{colour}" fill-opacity="0.75"/>')
    base = PAD_T + plot_h
    out.append(f'<line x1="{_f(PAD_L)}" y1="{_f(base)}" x2="{_f(PAD_L + plot_w)}" y2="{_f(base)}" stroke="#333333"/>')
    out.append(f'<text x="{_f(PAD_L)}" y="{_f(base + 12)}" fill="#333333">{escape(_num(lo))}</text>')
    out.append(f'<text x="{_f(PAD_L + plot_w)}" y="{_f(base + 12)}" text-anchor="end" fill="#333333">'
               f"{escape(_num(hi))}</text>")
    out.append(f'<text x="4" y="{_f(PAD_T + 8)}" fill="#555555">{top:.0%}</text>')
    out.append(_legend(H - 14))
    out.append("</svg>")
    return "\n".join(out)


def categorical_chart(column: str, note: str, train: dict[str, Any], held: dict[str, Any]) -> str | None:
    def shares(p: dict[str, Any]) -> dict[str, float]:
        top = [(str(k), float(v)) for k, v in p.get("top") or []]
        total = sum(v for _, v in top) + float(p.get("other") or 0) + float(p.get("nulls") or 0)
        return {k: v / total for k, v in top} if total else {}

    ts, hs = shares(train), shares(held)
    if not ts or not hs:
        return None
    values = sorted(set(ts) | set(hs), key=lambda v: (-(ts.get(v, 0) + hs.get(v, 0)), v))[:TOP]
    top = max([ts.get(v, 0) for v in values] + [hs.get(v, 0) for v in values] + [1e-9])
    plot_w, plot_h = W - PAD_L - 8, H - PAD_T - PAD_B
    slot = plot_w / len(values)
    out = _frame(column, note)
    base = PAD_T + plot_h
    for k, v in enumerate(values):
        for share, colour, dx, series in ((ts.get(v, 0.0), TRAIN_COLOUR, 0.1, "train"),
                                          (hs.get(v, 0.0), HELD_COLOUR, 0.5, "heldout")):
            h = plot_h * share / top
            out.append(f'<rect class="bar series-{series}" x="{_f(PAD_L + k * slot + dx * slot)}" '
                       f'y="{_f(base - h)}" width="{_f(slot * 0.4)}" '
                       f'height="{_f(h)}" fill="{colour}" fill-opacity="0.75"><title>{escape(v)}: {share:.1%}'
                       f"</title></rect>")
        label = v if len(v) <= 10 else v[:9] + "…"
        out.append(f'<text x="{_f(PAD_L + (k + 0.5) * slot)}" y="{_f(base + 12)}" text-anchor="middle" '
                   f'fill="#333333">{escape(label)}</text>')
    out.append(f'<line x1="{_f(PAD_L)}" y1="{_f(base)}" x2="{_f(PAD_L + plot_w)}" y2="{_f(base)}" stroke="#333333"/>')
    out.append(f'<text x="4" y="{_f(PAD_T + 8)}" fill="#555555">{top:.0%}</text>')
    out.append(_legend(H - 14))
    out.append("</svg>")
    return "\n".join(out)


def chart(column: dict[str, Any]) -> str | None:
    """The SVG of one drifting column (``build._plots`` entry), or None without data."""
    note = f"{column.get('metric')} {column.get('value'):.3f} (limit {column.get('threshold'):.3f})"
    if column["train"].get("kind") == "categorical":
        return categorical_chart(column["column"], note, column["train"], column["heldout"])
    return numeric_chart(column["column"], note, column["train"], column["heldout"])


def _num(v: float) -> str:
    return f"{v:.4g}"
