"""The lineage graph as a picture: the whole graph or the neighbourhood of one node,
rendered as Graphviz dot, Mermaid, or a self-contained SVG drawn by our own layered
layout (no system binary needed; docs/graph.md).

    >>> p = graph(repo, around="models/clf", depth=2)      # doctest: +SKIP
    >>> svg = to_svg(p, marks={run_id: [{"rule": "test-reuse", "severity": "error"}]})

``marks`` maps node IDs to findings (``rule``, ``severity``, optional ``message``); this
module knows nothing of the audit, which computes them (``lineage.audit.graphmarks``).
The SVG is deterministic: the same graph and marks give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lineage.errors import UsageError
from lineage.repo import Repo
from lineage.runs import provenance as prov
from lineage.runs.provenance import RUN, SNAPSHOT, ProvEdge, ProvNode, Provenance

Marks = Mapping[str, Sequence[Mapping[str, Any]]]

#: role -> (colour, dash pattern or "") of input edges; other roles and outputs are grey
ROLE_STYLES: dict[str, tuple[str, str]] = {
    "train": ("#1f6fb4", ""),
    "validation": ("#2a9d3a", "7 4"),
    "test": ("#8e44ad", "2 3"),
    "model": ("#8c5a2b", "10 3 2 3"),
}
OTHER_STYLE = ("#666666", "")
OUTPUT_STYLE = ("#9a9a9a", "")
#: severity -> stroke colour of a node with a finding (the highest severity wins)
SEVERITY_COLOURS = {"critical": "#c00000", "error": "#e02020", "warning": "#f08000", "info": "#d0a000"}
_SEVERITY_ORDER = ("info", "warning", "error", "critical")


# -- which nodes --------------------------------------------------------------------

def graph(repo: Repo, *, around: str | None = None, depth: int | None = None) -> Provenance:
    """The whole lineage graph (every run and snapshot), or the nodes up to ``depth`` edges
    upstream and downstream of ``around`` (a run or snapshot reference; no limit when
    ``depth`` is None). Siblings (other readers of an input) are not "around" a node."""
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, not {depth}")
    if depth is not None and around is None:
        raise UsageError("--depth needs --around ID")
    g = repo.graph
    edges = [(r[0], r[1], r[2]) for r in g.conn.execute(
        "SELECT child, parent, kind FROM edges_up ORDER BY child, parent")]
    if around is None:
        run_ids = {r[0] for r in g.conn.execute("SELECT run_id FROM runs")}
        snap_ids = {r[0] for r in g.conn.execute("SELECT id FROM snapshots")}
        for child, parent, kind in edges:
            (run_ids if kind == "input" else snap_ids).add(child)
            (snap_ids if kind == "input" else run_ids).add(parent)
        root, root_type = "", "graph"
    else:
        root, root_type = prov.resolve_node(repo, around)
        up: dict[str, list[str]] = {}
        down: dict[str, list[str]] = {}
        for child, parent, _ in edges:
            up.setdefault(child, []).append(parent)
            down.setdefault(parent, []).append(child)
        keep = {root} | _walk(root, up, depth) | _walk(root, down, depth)
        kinds = {}
        for child, parent, kind in edges:
            kinds[child] = RUN if kind == "input" else SNAPSHOT
            kinds[parent] = SNAPSHOT if kind == "input" else RUN
        kinds[root] = root_type
        run_ids = {n for n in keep if kinds.get(n) == RUN}
        snap_ids = keep - run_ids
    nodes = run_ids | snap_ids
    outputs = [ProvEdge(parent, child, "output") for child, parent, kind in edges
               if kind == "output" and parent in nodes and child in nodes]
    return prov.assemble(repo, root, root_type, run_ids, snap_ids, outputs,
                         input_filter=lambda e: e.parent in nodes)


def _walk(start: str, nexts: dict[str, list[str]], depth: int | None) -> set[str]:
    seen: set[str] = set()
    frontier = [start]
    step = 0
    while frontier and (depth is None or step < depth):
        step += 1
        frontier = [m for n in frontier for m in nexts.get(n, ()) if m not in seen and m != start]
        seen.update(frontier)
    return seen


# -- dot and mermaid, with the findings marked ----------------------------------------

def _worst(findings: Sequence[Mapping[str, Any]]) -> str:
    return max((str(f.get("severity", "info")) for f in findings),
               key=lambda s: _SEVERITY_ORDER.index(s) if s in _SEVERITY_ORDER else 0)


def _tooltip(findings: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(f"{f.get('rule')} ({f.get('severity')})" + (f": {f['message']}" if f.get("message") else "")
                     for f in findings)


def to_dot(p: Provenance, marks: Marks | None = None) -> str:
    """``provenance.to_dot``, with the nodes of findings outlined in their severity's colour."""
    text = prov.to_dot(p)
    if not marks:
        return text
    extra = []
    for n in p.nodes:
        if marks.get(n.id):
            tip = _tooltip(marks[n.id]).replace("\\", "\\\\").replace('"', '\\"')
            extra.append(f'  "{n.id}" [color="{SEVERITY_COLOURS.get(_worst(marks[n.id]), "#e02020")}", '
                         f'penwidth=3, tooltip="{tip}"];')
    body = text.rstrip("\n")
    assert body.endswith("}")
    return body[:-1] + "".join(line + "\n" for line in extra) + "}\n"


def to_mermaid(p: Provenance, marks: Marks | None = None) -> str:
    """``provenance.to_mermaid``, with role colours on the edges and findings outlined."""
    text = prov.to_mermaid(p).rstrip("\n")
    ids = {n.id: f"n{i}" for i, n in enumerate(p.nodes)}
    extra = []
    drawn = [e for e in p.edges if e.parent in ids and e.child in ids]
    for i, e in enumerate(drawn):
        colour, dash = _edge_style(e)
        extra.append(f"  linkStyle {i} stroke:{colour}" + (f",stroke-dasharray:{dash}" if dash else ""))
    for n in p.nodes:
        if marks and marks.get(n.id):
            extra.append(f"  style {ids[n.id]} stroke:{SEVERITY_COLOURS.get(_worst(marks[n.id]), '#e02020')},"
                         "stroke-width:3px")
    return text + "\n" + "".join(line + "\n" for line in extra)


def _edge_style(e: ProvEdge) -> tuple[str, str]:
    if e.type == "output":
        return OUTPUT_STYLE
    return ROLE_STYLES.get(e.role or "", OTHER_STYLE)


# -- the layered layout ------------------------------------------------------------

CHAR_W, LINE_H, PAD_X, PAD_Y = 7.2, 15.0, 10.0, 8.0
LAYER_GAP, NODE_GAP, MARGIN = 110.0, 26.0, 20.0


@dataclass(frozen=True)
class Box:
    """A placed node: top-left corner, size, and its text lines."""

    id: str
    type: str
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]
    layer: int


@dataclass(frozen=True)
class Layout:
    boxes: dict[str, Box]
    width: float
    height: float


def node_lines(n: ProvNode) -> tuple[str, ...]:
    """The text of a node: dataset@version and short ID; or run ID, kind (status), commit."""
    return tuple(prov._label(n).split("\\n"))


def layout(p: Provenance) -> Layout:
    """A Sugiyama-style layered layout, left to right: layers by longest path from the
    sources, order in a layer by barycenter sweeps, nodes stacked without overlap."""
    ids = [n.id for n in p.nodes]
    node_set = set(ids)
    edges = sorted({(e.parent, e.child) for e in p.edges if e.parent in node_set and e.child in node_set})
    parents: dict[str, list[str]] = {i: [] for i in ids}
    children: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        if a != b:
            parents[b].append(a)
            children[a].append(b)
    layer = _layers(ids, parents, children)
    nlayers = max(layer.values(), default=-1) + 1
    by_layer: list[list[str]] = [[] for _ in range(nlayers)]
    node = {n.id: n for n in p.nodes}
    for i in sorted(ids, key=lambda i: (node[i].type != SNAPSHOT, node_lines(node[i]), i)):
        by_layer[layer[i]].append(i)
    _reduce_crossings(by_layer, parents, children)

    sizes = {}
    for i in ids:
        lines = node_lines(node[i])
        sizes[i] = (round(max(len(t) for t in lines) * CHAR_W + 2 * PAD_X, 1),
                    round(len(lines) * LINE_H + 2 * PAD_Y, 1), lines)
    col_w = [max((sizes[i][0] for i in col), default=0.0) for col in by_layer]
    col_h = [sum(sizes[i][1] for i in col) + NODE_GAP * max(len(col) - 1, 0) for col in by_layer]
    height = max(col_h, default=0.0)
    boxes: dict[str, Box] = {}
    x = MARGIN
    for k, col in enumerate(by_layer):
        y = MARGIN + (height - col_h[k]) / 2
        for i in col:
            w, h, lines = sizes[i]
            boxes[i] = Box(i, node[i].type, round(x + (col_w[k] - w) / 2, 1), round(y, 1), w, h, lines, k)
            y += h + NODE_GAP
        x += col_w[k] + LAYER_GAP
    width = x - LAYER_GAP + MARGIN if by_layer else 2 * MARGIN
    return Layout(boxes, round(width, 1), round(height + 2 * MARGIN, 1))


def _layers(ids: list[str], parents: dict[str, list[str]], children: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from the sources (Kahn's order); a node on a cycle goes after its
    placed parents."""
    indeg = {i: len(parents[i]) for i in ids}
    layer = {i: 0 for i in ids}
    ready = sorted(i for i in ids if indeg[i] == 0)
    done: set[str] = set()
    while len(done) < len(ids):
        if not ready:  # a cycle: break it at the first node not yet placed
            ready = [next(i for i in ids if i not in done)]
        i = ready.pop(0)
        if i in done:
            continue
        done.add(i)
        for c in children[i]:
            layer[c] = max(layer[c], layer[i] + 1) if c not in done else layer[c]
            indeg[c] -= 1
            if indeg[c] == 0 and c not in done:
                ready.append(c)
    return layer


def _reduce_crossings(by_layer: list[list[str]], parents: dict[str, list[str]],
                      children: dict[str, list[str]], sweeps: int = 4) -> None:
    """Barycenter heuristic: alternately order each layer by the mean position of its
    neighbours in the previous (downward sweep) or next (upward sweep) layer."""
    def order(layer: list[str], neighbours: dict[str, list[str]], pos: dict[str, int]) -> None:
        keyed = []
        for idx, n in enumerate(layer):
            ps = [pos[m] for m in neighbours[n] if m in pos]
            keyed.append((sum(ps) / len(ps) if ps else float(idx), idx, n))
        layer[:] = [n for _, _, n in sorted(keyed)]

    for _ in range(sweeps):
        for k in range(1, len(by_layer)):
            order(by_layer[k], parents, {n: i for i, n in enumerate(by_layer[k - 1])})
        for k in range(len(by_layer) - 2, -1, -1):
            order(by_layer[k], children, {n: i for i, n in enumerate(by_layer[k + 1])})


# -- SVG ---------------------------------------------------------------------------

def _f(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def to_svg(p: Provenance, marks: Marks | None = None) -> str:
    """A self-contained SVG of the graph: no fonts, scripts or links to fetch."""
    marks = marks or {}
    lay = layout(p)
    styles_used: list[tuple[str, tuple[str, str]]] = []
    edges = [e for e in p.edges if e.parent in lay.boxes and e.child in lay.boxes]
    for e in edges:
        name = "output" if e.type == "output" else (e.role or "input")
        entry = (name if name in ROLE_STYLES or name == "output" else "other roles", _edge_style(e))
        if entry not in styles_used:
            styles_used.append(entry)
    severities = sorted({_worst(f) for f in marks.values() if f}, key=_SEVERITY_ORDER.index, reverse=True)
    legend_rows = len(styles_used) + len(severities)
    legend_h = 20.0 + legend_rows * 18.0 if legend_rows else 0.0
    width = max(lay.width, 260.0)
    height = lay.height + legend_h
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
           f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="monospace" font-size="12">',
           "<title>lineage graph</title>", "<defs>"]
    colours = sorted({c for _, (c, _) in styles_used})
    for c in colours:
        out.append(f'<marker id="arrow-{c[1:]}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
                   f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>')
    out.append('<g class="edges">')
    for e in edges:
        a, b = lay.boxes[e.parent], lay.boxes[e.child]
        x1, y1 = a.x + a.w, a.y + a.h / 2
        x2, y2 = b.x, b.y + b.h / 2
        if x2 <= x1:  # against the layers (a cycle): leave and enter on the same side
            x1, x2 = a.x + a.w / 2, b.x + b.w / 2
        dx = max((x2 - x1) / 2, 30.0)
        c1x, c2x = x1 + dx, x2 - dx
        colour, dash = _edge_style(e)
        role = e.role or ("output" if e.type == "output" else "")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        width_attr = "1.2" if e.type == "output" else "1.8"
        out.append(f'<g class="edge" data-role="{_attr(role)}" data-from="{_attr(e.parent)}" data-to="{_attr(e.child)}">'
                   f'<title>{escape(role or e.type)}</title>'
                   f'<path d="M{_f(x1)},{_f(y1)} C{_f(c1x)},{_f(y1)} {_f(c2x)},{_f(y2)} {_f(x2)},{_f(y2)}" '
                   f'fill="none" stroke="{colour}" stroke-width="{width_attr}"{dash_attr} '
                   f'marker-end="url(#arrow-{colour[1:]})"/>')
        if e.role:
            mx = (x1 + 3 * c1x + 3 * c2x + x2) / 8
            my = (y1 + 3 * y1 + 3 * y2 + y2) / 8
            out.append(f'<text x="{_f(mx)}" y="{_f(my - 4)}" text-anchor="middle" fill="{colour}" '
                       f'stroke="#ffffff" stroke-width="3" paint-order="stroke" font-size="11">{escape(e.role)}</text>')
        out.append("</g>")
    out.append("</g>")
    out.append('<g class="nodes">')
    for n in p.nodes:
        box = lay.boxes[n.id]
        found = marks.get(n.id) or ()
        stroke, sw = ("#333333", "1.2")
        cls = n.type
        title = f"{n.type} {n.id}"
        if found:
            stroke, sw = SEVERITY_COLOURS.get(_worst(found), "#e02020"), "3"
            cls += f" finding severity-{_worst(found)}"
            title += "\n" + "\n".join(f"{f.get('rule')} ({f.get('severity')})"
                                      + (f": {f['message']}" if f.get("message") else "") for f in found)
        rx = "12" if n.type == RUN else "0"
        fill = "#f3f6fb" if n.type == RUN else "#fdfaf1"
        out.append(f'<g class="node {cls}" data-id="{_attr(n.id)}">'
                   f"<title>{escape(title)}</title>"
                   f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.w)}" height="{_f(box.h)}" '
                   f'rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>')
        for k, line in enumerate(box.lines):
            y = box.y + PAD_Y + LINE_H * (k + 1) - 4
            weight = ' font-weight="bold"' if k == 0 else ""
            out.append(f'<text x="{_f(box.x + box.w / 2)}" y="{_f(y)}" text-anchor="middle" fill="#111111"{weight}>'
                       f"{escape(line)}</text>")
        out.append("</g>")
    out.append("</g>")
    if legend_rows:
        y = lay.height + 8
        out.append(f'<g class="legend"><text x="{_f(MARGIN)}" y="{_f(y)}" font-weight="bold">legend</text>')
        for name, (colour, dash) in styles_used:
            y += 18
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{_f(MARGIN)}" y1="{_f(y - 4)}" x2="{_f(MARGIN + 40)}" y2="{_f(y - 4)}" '
                       f'stroke="{colour}" stroke-width="1.8"{dash_attr}/>'
                       f'<text x="{_f(MARGIN + 50)}" y="{_f(y)}">{escape(name)}</text>')
        for sev in severities:
            y += 18
            out.append(f'<rect x="{_f(MARGIN)}" y="{_f(y - 12)}" width="40" height="12" fill="none" '
                       f'stroke="{SEVERITY_COLOURS.get(sev, "#e02020")}" stroke-width="3"/>'
                       f'<text x="{_f(MARGIN + 50)}" y="{_f(y)}">finding: {escape(sev)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
