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
from dataclasses import dataclass, field
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
#: fill of a snapshot read with one of these roles, the first role in ROLE_PRIORITY winning
ROLE_FILLS = {"test": "#f3e8f8", "validation": "#e8f5ea", "train": "#e9f1fa"}
ROLE_PRIORITY = ("test", "validation", "train")
RUN_FILL, SNAPSHOT_FILL = "#f3f6fb", "#fdfaf1"
#: the SVG dash patterns as Graphviz edge styles
DOT_DASHES = {"": "solid", "7 4": "dashed", "2 3": "dotted", "10 3 2 3": "dashed"}
OTHER_STYLE = ("#666666", "")
OUTPUT_STYLE = ("#9a9a9a", "")
#: severity -> stroke colour of a node with a finding (the highest severity wins)
SEVERITY_COLOURS = {"critical": "#c00000", "error": "#e02020", "warning": "#f08000", "info": "#d0a000"}
_SEVERITY_ORDER = ("info", "warning", "error", "critical")


# -- which nodes --------------------------------------------------------------------

def graph(repo: Repo, *, around: str | Sequence[str] | None = None, depth: int | None = None) -> Provenance:
    """The whole lineage graph (every run and snapshot), or the nodes up to ``depth`` edges
    upstream and downstream of ``around`` (a run or snapshot reference, or several: the
    union of their neighbourhoods, the first one the root; no limit when ``depth`` is
    None). Siblings (other readers of an input) are not "around" a node."""
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
        roots = [prov.resolve_node(repo, ref) for ref in ([around] if isinstance(around, str) else around)]
        if not roots:
            raise UsageError("--around needs an ID")
        root, root_type = roots[0]
        up: dict[str, list[str]] = {}
        down: dict[str, list[str]] = {}
        for child, parent, _ in edges:
            up.setdefault(child, []).append(parent)
            down.setdefault(parent, []).append(child)
        keep: set[str] = set()
        for node, _ in roots:
            keep |= {node} | _walk(node, up, depth) | _walk(node, down, depth)
        kinds = {}
        for child, parent, kind in edges:
            kinds[child] = RUN if kind == "input" else SNAPSHOT
            kinds[parent] = SNAPSHOT if kind == "input" else RUN
        kinds.update(dict(roots))
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


def to_dot(p: Provenance, marks: Marks | None = None, direction: str = "LR") -> str:
    """``provenance.to_dot`` with the SVG's colours: input edges coloured and dashed by
    role (grouped under ``edge [...]`` defaults), snapshots filled with the role they were
    read as, runs filled, the nodes of findings outlined in their severity's colour."""
    if direction not in DIRECTIONS:
        raise UsageError(f"unknown direction {direction!r}; use LR or TB")
    body = prov.to_dot(p).rstrip("\n")
    assert body.endswith("}")
    head, _, rest = body[:-1].partition("\n")
    lines = rest.splitlines()
    node_lines_ = [line for line in lines if " -> " not in line]
    edge_lines = [line for line in lines if " -> " in line]  # one per edge, in order
    if direction != "LR":
        node_lines_ = [line.replace("rankdir=LR;", f"rankdir={direction};") for line in node_lines_]
    out = [head, *node_lines_]
    read_as = snapshot_roles(p)
    for n in p.nodes:
        out.append(f'  "{_dot_id(n.id)}" [style=filled, fillcolor="{node_fill(n.type, read_as.get(n.id))}"];')
    groups: dict[tuple[str, str, str], list[str]] = {}
    for e, line in zip(p.edges, edge_lines):
        colour, dash = _edge_style(e)
        groups.setdefault((colour, DOT_DASHES.get(dash, "dashed"), "1" if e.type == "output" else "1.6"),
                          []).append(line)
    for (colour, style, width), lines_ in groups.items():
        out.append(f'  edge [color="{colour}", fontcolor="{colour}", style={style}, penwidth={width}];')
        out += lines_
    for n in p.nodes:
        if marks and marks.get(n.id):
            tip = _tooltip(marks[n.id]).replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'  "{_dot_id(n.id)}" [color="{SEVERITY_COLOURS.get(_worst(marks[n.id]), "#e02020")}", '
                       f'penwidth=3, tooltip="{tip}"];')
    return "\n".join(out) + "\n}\n"


def _dot_id(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_mermaid(p: Provenance, marks: Marks | None = None, direction: str = "LR") -> str:
    """``provenance.to_mermaid``, with role colours on the edges and findings outlined."""
    if direction not in DIRECTIONS:
        raise UsageError(f"unknown direction {direction!r}; use LR or TB")
    text = prov.to_mermaid(p).rstrip("\n")
    if direction != "LR" and text.startswith("flowchart LR"):
        text = f"flowchart {direction}" + text[len("flowchart LR"):]
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
NODE_GAP, MARGIN = 26.0, 20.0
#: the gap between two layers, left to right (room for a role label) and top to bottom
LAYER_GAPS = {"LR": 110.0, "TB": 64.0}
#: the room a long edge takes in each layer it crosses (across the layer)
VIRTUAL_SIZE = 12.0
DIRECTIONS = ("LR", "TB")


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
    """Placed nodes, and for each drawn edge (parent, child) the points its path goes
    through: the parent's side, two points per virtual node (where the edge enters and
    leaves that layer), the child's side."""

    boxes: dict[str, Box]
    width: float
    height: float
    direction: str = "LR"
    routes: dict[tuple[str, str], tuple[tuple[float, float], ...]] = field(default_factory=dict)


def node_lines(n: ProvNode) -> tuple[str, ...]:
    """The text of a node: dataset@version and short ID; or run ID, kind (status), commit."""
    return tuple(prov._label(n).split("\\n"))


def layout(p: Provenance, direction: str = "LR") -> Layout:
    """A Sugiyama-style layered layout, left to right (``LR``) or top to bottom (``TB``):
    layers by longest path from the sources; an edge spanning several layers gets a
    virtual node in each layer between, so that it takes part in ordering and placement
    and never runs behind a box; order in a layer by barycenter sweeps (the order with
    the fewest crossings kept); positions across the layers by repeated least-squares
    alignment on the neighbours (isotonic regression keeps the order and the gaps)."""
    if direction not in DIRECTIONS:
        raise UsageError(f"unknown direction {direction!r}; use LR or TB")
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
    node = {n.id: n for n in p.nodes}

    # virtual nodes: a chain through every layer an edge crosses
    up: dict[str, list[str]] = {i: [] for i in ids}
    down: dict[str, list[str]] = {i: [] for i in ids}
    chains: dict[tuple[str, str], list[str]] = {}
    for a, b in edges:
        if a == b or layer[b] <= layer[a]:
            continue  # a cycle, which lineage never records: drawn apart, see _route
        prev = a
        chain = []
        for k in range(layer[a] + 1, layer[b]):
            v = f"\0{a}\0{b}\0{k}"
            layer[v] = k
            up[v], down[v] = [], []
            chain.append(v)
            down[prev].append(v)
            up[v].append(prev)
            prev = v
        down[prev].append(b)
        up[b].append(prev)
        chains[(a, b)] = chain
    nlayers = max(layer.values(), default=-1) + 1
    by_layer: list[list[str]] = [[] for _ in range(nlayers)]
    for i in sorted(ids, key=lambda i: (node[i].type != SNAPSHOT, node_lines(node[i]), i)):
        by_layer[layer[i]].append(i)
    for chain in chains.values():
        for v in chain:
            by_layer[layer[v]].append(v)
    _reduce_crossings(by_layer, up, down)

    lr = direction == "LR"
    sizes: dict[str, tuple[float, float, tuple[str, ...]]] = {}
    for i in ids:
        lines = node_lines(node[i])
        sizes[i] = (round(max(len(t) for t in lines) * CHAR_W + 2 * PAD_X, 1),
                    round(len(lines) * LINE_H + 2 * PAD_Y, 1), lines)

    def across(i: str) -> float:  # a node's extent within its layer
        if i not in sizes:
            return VIRTUAL_SIZE
        return sizes[i][1] if lr else sizes[i][0]

    def along(i: str) -> float:  # its extent along the layers
        if i not in sizes:
            return 0.0
        return sizes[i][0] if lr else sizes[i][1]

    centre = _place(by_layer, up, down, across)
    _straighten(by_layer, chains, centre, layer, across)
    thick = [max((along(i) for i in col), default=0.0) for col in by_layer]
    gap = LAYER_GAPS[direction]
    start, pos = [], MARGIN
    for k in range(nlayers):
        start.append(pos)
        pos += thick[k] + gap
    extent_along = pos - gap + MARGIN if nlayers else 2 * MARGIN
    lo = min((centre[i] - across(i) / 2 for i in centre), default=0.0)
    hi = max((centre[i] + across(i) / 2 for i in centre), default=0.0)
    shift = MARGIN - lo
    extent_across = hi - lo + 2 * MARGIN

    boxes: dict[str, Box] = {}
    for i in ids:
        w, h, lines = sizes[i]
        k = layer[i]
        c = centre[i] + shift
        if lr:
            x, y = start[k] + (thick[k] - w) / 2, c - h / 2
        else:
            x, y = c - w / 2, start[k] + (thick[k] - h) / 2
        boxes[i] = Box(i, node[i].type, round(x, 1), round(y, 1), w, h, lines, k)

    def point(s: float, c: float) -> tuple[float, float]:  # along the layers s, across c
        return (round(s, 1), round(c, 1)) if lr else (round(c, 1), round(s, 1))

    # where edges leave and enter a box: spread along its side, in the order of the other ends
    outs: dict[str, list[tuple[float, tuple[str, str]]]] = {}
    ins: dict[str, list[tuple[float, tuple[str, str]]]] = {}
    for (a, b), chain in chains.items():
        first, last = (chain[0], chain[-1]) if chain else (b, a)
        outs.setdefault(a, []).append((centre[first], (a, b)))
        ins.setdefault(b, []).append((centre[last], (a, b)))

    def ports(side: dict[str, list[tuple[float, tuple[str, str]]]]) -> dict[tuple[str, tuple[str, str]], float]:
        out = {}
        for i, ends in side.items():
            ends.sort()
            span = across(i) * 0.5
            for k, (_, key) in enumerate(ends):
                off = 0.0 if len(ends) == 1 else -span / 2 + span * k / (len(ends) - 1)
                out[(i, key)] = centre[i] + shift + off
        return out

    out_port, in_port = ports(outs), ports(ins)
    routes: dict[tuple[str, str], tuple[tuple[float, float], ...]] = {}
    for (a, b), chain in chains.items():
        ka, kb = layer[a], layer[b]
        end_a = start[ka] + (thick[ka] + along(a)) / 2
        end_b = start[kb] + (thick[kb] - along(b)) / 2
        pts = [point(end_a, out_port[(a, (a, b))])]
        for v in chain:
            c = centre[v] + shift
            pts += [point(start[layer[v]], c), point(start[layer[v]] + thick[layer[v]], c)]
        pts.append(point(end_b, in_port[(b, (a, b))]))
        routes[(a, b)] = tuple(pts)
    width, height = (extent_along, extent_across) if lr else (extent_across, extent_along)
    return Layout(boxes, round(width, 1), round(height, 1), direction, routes)


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
    # a source sits just before its first reader, not at the far left: an input read late
    # in the pipeline (a test set) would otherwise cross every layer between
    for i in ids:
        if not parents[i] and children[i]:
            layer[i] = max(layer[i], min(layer[c] for c in children[i]) - 1)
    return layer


def _crossings(by_layer: list[list[str]], down: dict[str, list[str]]) -> int:
    """Edge crossings between consecutive layers (every edge joins consecutive layers once
    the virtual nodes are in)."""
    total = 0
    for k in range(len(by_layer) - 1):
        nxt = {n: i for i, n in enumerate(by_layer[k + 1])}
        ends = [(i, nxt[c]) for i, n in enumerate(by_layer[k]) for c in down.get(n, ()) if c in nxt]
        ends.sort()
        for x, (_, b) in enumerate(ends):  # pairs (a1 < a2, b1 > b2) cross
            total += sum(1 for a2, b2 in ends[x + 1:] if b2 < b and a2 != ends[x][0])
    return total


def _reduce_crossings(by_layer: list[list[str]], up: dict[str, list[str]],
                      down: dict[str, list[str]], sweeps: int = 6) -> None:
    """Barycenter heuristic: alternately order each layer by the mean position of its
    neighbours in the previous (downward sweep) or next (upward sweep) layer; keep the
    order with the fewest crossings seen."""
    def order(layer: list[str], neighbours: dict[str, list[str]], pos: dict[str, int]) -> None:
        keyed = []
        for idx, n in enumerate(layer):
            ps = [pos[m] for m in neighbours[n] if m in pos]
            keyed.append((sum(ps) / len(ps) if ps else float(idx), idx, n))
        layer[:] = [n for _, _, n in sorted(keyed)]

    best = [list(col) for col in by_layer]
    best_count = _crossings(by_layer, down)
    for _ in range(sweeps):
        if best_count == 0:
            break
        for k in range(1, len(by_layer)):
            order(by_layer[k], up, {n: i for i, n in enumerate(by_layer[k - 1])})
        for k in range(len(by_layer) - 2, -1, -1):
            order(by_layer[k], down, {n: i for i, n in enumerate(by_layer[k + 1])})
        count = _crossings(by_layer, down)
        if count < best_count:
            best, best_count = [list(col) for col in by_layer], count
    by_layer[:] = best


def _place(by_layer: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]],
           size: Any, sweeps: int = 8) -> dict[str, float]:
    """The centre of each node across its layer: nodes start packed, then each layer in
    turn moves as close as it can (least squares) to the mean centre of its neighbours
    in the layer before (downward sweeps) and after (upward sweeps), keeping its order
    and the gaps between its nodes."""
    centre: dict[str, float] = {}
    for col in by_layer:
        pos = 0.0
        for n in col:
            centre[n] = pos + size(n) / 2
            pos += size(n) + NODE_GAP
    # centre the packed layers on each other before aligning
    widest = max((centre[c[-1]] + size(c[-1]) / 2 for c in by_layer if c), default=0.0)
    for col in by_layer:
        if col:
            off = (widest - (centre[col[-1]] + size(col[-1]) / 2)) / 2
            for n in col:
                centre[n] += off

    def align(col: list[str], neighbours: dict[str, list[str]], both: dict[str, list[str]] | None) -> None:
        want, weight = [], []
        for n in col:
            ps = [centre[m] for m in neighbours[n]] + ([centre[m] for m in both[n]] if both else [])
            want.append(sum(ps) / len(ps) if ps else centre[n])
            # a virtual node pulls harder, so that long edges run straight
            weight.append((4.0 if n.startswith("\0") else 1.0) * (1.0 if ps else 0.1))
        for n, c in zip(col, _isotonic(want, weight, [size(n) for n in col])):
            centre[n] = c

    for s in range(sweeps):
        for k in range(1, len(by_layer)):
            align(by_layer[k], up, down if s == sweeps - 1 else None)
        for k in range(len(by_layer) - 2, -1, -1):
            align(by_layer[k], down, up if s == sweeps - 1 else None)
    return centre


def _straighten(by_layer: list[list[str]], chains: dict[tuple[str, str], list[str]], centre: dict[str, float],
                layer: dict[str, int], size: Any) -> None:
    """Run each long edge straight through the layers it crosses where the room allows:
    every virtual node of its chain on one line (the chain's mean, else the first or the
    last virtual node's place), when that line clears the neighbours in each layer."""
    index = {n: i for col in by_layer for i, n in enumerate(col)}
    for chain in chains.values():
        if len(chain) < 2:
            continue
        for target in (sum(centre[v] for v in chain) / len(chain), centre[chain[0]], centre[chain[-1]]):
            ok = True
            for v in chain:
                col, i = by_layer[layer[v]], index[v]
                lo = centre[col[i - 1]] + size(col[i - 1]) / 2 + NODE_GAP if i > 0 else -1e18
                hi = centre[col[i + 1]] - size(col[i + 1]) / 2 - NODE_GAP if i + 1 < len(col) else 1e18
                if not lo <= target - size(v) / 2 or not target + size(v) / 2 <= hi:
                    ok = False
                    break
            if ok:
                for v in chain:
                    centre[v] = target
                break


def _isotonic(want: list[float], weight: list[float], sizes: list[float]) -> list[float]:
    """Centres c closest to ``want`` (weighted least squares) with c[i+1] - c[i] at least
    (sizes[i] + sizes[i+1]) / 2 + NODE_GAP: pool-adjacent-violators on the offsets."""
    offset, acc = [], 0.0
    for i, s in enumerate(sizes):
        if i:
            acc += (sizes[i - 1] + s) / 2 + NODE_GAP
        offset.append(acc)
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for w_, t, o in zip(weight, want, offset):
        blocks.append([w_ * (t - o), w_, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s_, w2, n2 = blocks.pop()
            blocks[-1][0] += s_
            blocks[-1][1] += w2
            blocks[-1][2] += n2
    out = []
    for s_, w_, n_ in blocks:
        out += [s_ / w_] * int(n_)
    return [z + o for z, o in zip(out, offset)]


# -- SVG ---------------------------------------------------------------------------

def _f(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def edge_label(e: ProvEdge) -> str:
    """The label an edge carries: its role, none for an output or the generic ``other``
    input role (the default when no role was given)."""
    return "" if e.type == "output" or not e.role or e.role == "other" else e.role


def _legend_name(e: ProvEdge) -> str:
    if e.type == "output":
        return "output"
    return edge_label(e) or "input (no role)"


def _path(pts: Sequence[tuple[float, float]], lr: bool) -> str:
    """One smooth path through the points: a cubic between each two, leaving and entering
    along the layer direction, so the joins have no corner."""
    d = [f"M{_f(pts[0][0])},{_f(pts[0][1])}"]
    for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
        if lr:
            h = (x2 - x1) / 2
            c = (x1 + h, y1, x2 - h, y2)
        else:
            h = (y2 - y1) / 2
            c = (x1, y1 + h, x2, y2 - h)
        if (x1 == x2 if not lr else y1 == y2):
            d.append(f"L{_f(x2)},{_f(y2)}")
        else:
            d.append(f"C{_f(c[0])},{_f(c[1])} {_f(c[2])},{_f(c[3])} {_f(x2)},{_f(y2)}")
    return " ".join(d)


def svg_size(p: Provenance, direction: str = "LR") -> tuple[float, float]:
    """The width and height of ``to_svg(p, direction=direction)`` without its legend."""
    lay = layout(p, direction)
    return lay.width, lay.height


def to_svg(p: Provenance, marks: Marks | None = None, direction: str = "LR") -> str:
    """A self-contained SVG of the graph, left to right (``LR``) or top to bottom
    (``TB``): no fonts, scripts or links to fetch."""
    marks = marks or {}
    lay = layout(p, direction)
    lr = direction == "LR"
    legend_styles: dict[tuple[str, str], list[str]] = {}
    edges = [e for e in p.edges if e.parent in lay.boxes and e.child in lay.boxes]
    for e in edges:
        names = legend_styles.setdefault(_edge_style(e), [])
        if _legend_name(e) not in names:
            names.append(_legend_name(e))
    rank = {name: k for k, name in enumerate(ROLE_STYLES)}
    legend_styles = dict(sorted(legend_styles.items(), key=lambda kv: min(
        rank.get(n, len(rank) + (n == "input (no role)") + 2 * (n == "output")) for n in kv[1])))
    # a snapshot read as training or held-out data is tinted with its role's colour (test wins)
    read_as = snapshot_roles(p)
    fills_used = [r for r in ROLE_PRIORITY if r in read_as.values()]
    severities = sorted({_worst(f) for f in marks.values() if f}, key=_SEVERITY_ORDER.index, reverse=True)
    legend_rows = len(legend_styles) + len(severities) + len(fills_used)
    legend_h = 20.0 + legend_rows * 18.0 if legend_rows else 0.0
    texts = [", ".join(v) for v in legend_styles.values()] + [f"snapshot read as {r}" for r in fills_used]
    legend_w = 50.0 + CHAR_W * max((len(t) for t in texts), default=16) + MARGIN
    if lr:  # the legend under the drawing; top to bottom, beside it
        lx, ly = MARGIN, lay.height + 8
        width, height = max(lay.width, 260.0), lay.height + legend_h
    else:
        lx, ly = lay.width + (MARGIN if legend_rows else 0.0), MARGIN + 8
        width = max(lay.width + (legend_w if legend_rows else 0.0), 260.0)
        height = max(lay.height, legend_h + 2 * MARGIN)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
           f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="monospace" font-size="12" '
           f'data-direction="{direction}">',
           "<title>lineage graph</title>", "<defs>"]
    colours = sorted({c for c, _ in legend_styles})
    for c in colours:
        out.append(f'<marker id="arrow-{c[1:]}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
                   f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>')
    out.append('<g class="edges">')
    labels = []
    # outputs first, so that the role-coloured inputs are drawn over them
    for e in sorted(edges, key=lambda e: e.type != "output"):
        a, b = lay.boxes[e.parent], lay.boxes[e.child]
        pts = lay.routes.get((e.parent, e.child))
        if pts is None:  # against the layers (a cycle): from centre to centre of the facing sides
            pts = (((a.x + a.w / 2, a.y + a.h), (b.x + b.w / 2, b.y)) if not lr or b.x == a.x else
                   ((a.x + a.w / 2, a.y + a.h / 2), (b.x + b.w / 2, b.y + b.h / 2)))
        colour, dash = _edge_style(e)
        role = e.role or ("output" if e.type == "output" else "")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        width_attr = "1.2" if e.type == "output" else "1.8"
        label = edge_label(e)
        out.append(f'<g class="edge" data-role="{_attr(role)}" data-from="{_attr(e.parent)}" data-to="{_attr(e.child)}">'
                   f'<title>{escape(label or role or e.type)}</title>'
                   f'<path d="{_path(pts, lr)}" fill="none" stroke="{colour}" stroke-width="{width_attr}"{dash_attr} '
                   f'marker-end="url(#arrow-{colour[1:]})"/></g>')
        if label:  # on the first segment, drawn after every edge so no line crosses a label
            (x1, y1), (x2, y2) = pts[0], pts[1]
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            labels.append(f'<text class="role-label" x="{_f(mx)}" y="{_f(my + 4)}" text-anchor="middle" '
                          f'fill="{colour}" stroke="#ffffff" stroke-width="4" paint-order="stroke" '
                          f'font-size="11">{escape(label)}</text>')
    out.append("</g>")
    out.append('<g class="labels">' + "".join(labels) + "</g>")
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
        fill = node_fill(n.type, read_as.get(n.id))
        finding_attr = (f' data-finding="{_attr(" ".join(dict.fromkeys(str(f.get("rule")) for f in found)))}"'
                        if found else "")
        out.append(f'<g class="node {cls}" data-id="{_attr(n.id)}" data-node="{_attr(n.id)}"{finding_attr}>'
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
        y = ly
        out.append(f'<g class="legend"><text x="{_f(lx)}" y="{_f(y)}" font-weight="bold">legend</text>')
        for (colour, dash), names in legend_styles.items():
            y += 18
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{_f(lx)}" y1="{_f(y - 4)}" x2="{_f(lx + 40)}" y2="{_f(y - 4)}" '
                       f'stroke="{colour}" stroke-width="1.8"{dash_attr}/>'
                       f'<text x="{_f(lx + 50)}" y="{_f(y)}">{escape(", ".join(names))}</text>')
        for role in fills_used:
            y += 18
            out.append(f'<rect x="{_f(lx)}" y="{_f(y - 12)}" width="40" height="12" fill="{ROLE_FILLS[role]}" '
                       f'stroke="#333333" stroke-width="1"/>'
                       f'<text x="{_f(lx + 50)}" y="{_f(y)}">snapshot read as {escape(role)}</text>')
        for sev in severities:
            y += 18
            out.append(f'<rect x="{_f(lx)}" y="{_f(y - 12)}" width="40" height="12" fill="none" '
                       f'stroke="{SEVERITY_COLOURS.get(sev, "#e02020")}" stroke-width="3"/>'
                       f'<text x="{_f(lx + 50)}" y="{_f(y)}">finding: {escape(sev)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def node_fill(node_type: str, read_as: str | None) -> str:
    """The fill of a node: runs pale blue-grey, snapshots cream or tinted with the role
    they were read as."""
    return RUN_FILL if node_type == RUN else ROLE_FILLS.get(read_as or "", SNAPSHOT_FILL)


def snapshot_roles(p: Provenance) -> dict[str, str]:
    """{snapshot ID: the role it was read as, test before validation before train}."""
    read_as: dict[str, str] = {}
    for e in p.edges:
        if e.type == "input" and e.role in ROLE_FILLS:
            if e.parent not in read_as or ROLE_PRIORITY.index(e.role) < ROLE_PRIORITY.index(read_as[e.parent]):
                read_as[e.parent] = e.role
    return read_as
