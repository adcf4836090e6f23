"""``lineage graph``: the whole graph or a neighbourhood as dot, Mermaid and SVG, with
roles on the edges and the nodes of audit findings highlighted."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from runs_pipeline import EVALUATE, FIT, SPLIT, TRAIN, TRANSFORM, raw_data

import lineage
from lineage import runs
from lineage.errors import UsageError
from lineage.runs import graphview

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def pipeline(repo, workdir, monkeypatch):
    """split -> fit -> transform -> train -> evaluate, with roles."""
    monkeypatch.chdir(workdir)
    raw_data(workdir)
    ids = {}
    ids["split"] = runs.run_command(repo, SPLIT, kind="split", inputs=[("other", "data/raw")],
                                    outputs=["data/split"]).record.run_id
    lineage.snapshot("data/split/test.csv", name="test", repo=repo)
    ids["fit"] = runs.run_command(repo, FIT, kind="fit", inputs=[("train", "data/split")],
                                  outputs=["state"]).record.run_id
    ids["transform"] = runs.run_command(repo, TRANSFORM, kind="transform",
                                        inputs=[("train", "data/split"), ("model", "state")],
                                        outputs=["data/feat"]).record.run_id
    ids["train"] = runs.run_command(repo, TRAIN, kind="train", inputs=[("train", "data/feat")],
                                    outputs=["models"]).record.run_id
    ids["evaluate"] = runs.run_command(repo, EVALUATE, kind="evaluate",
                                       inputs=[("model", "models"), ("test", "test")],
                                       outputs=["reports"]).record.run_id
    return ids


def _svg_boxes(text):
    root = ET.fromstring(text.encode())
    boxes = {}
    for g in root.iter(f"{SVG}g"):
        if "node" in (g.get("class") or "").split():
            r = g.find(f"{SVG}rect")
            boxes[g.get("data-id")] = (float(r.get("x")), float(r.get("y")), float(r.get("width")),
                                       float(r.get("height")), g)
    return root, boxes


def test_dot_has_every_edge_with_its_role(repo, pipeline):
    p = graphview.graph(repo)
    dot = graphview.to_dot(p)
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"(?: \[label="([^"]*)"\])?;', dot))
    kind = {n.id: n.attrs.get("kind") for n in p.runs()}
    roles = {(kind[b], r) for a, b, r in edges if b in kind}
    assert roles == {("split", "other"), ("fit", "train"), ("transform", "train"), ("transform", "model"),
                     ("train", "train"), ("evaluate", "model"), ("evaluate", "test")}
    outputs = {kind[a] for a, b, r in edges if a in kind and not r}
    assert outputs == {"split", "fit", "transform", "train", "evaluate"}
    assert set(kind) == set(pipeline.values())


def test_mermaid_has_every_node_and_role_styles(repo, pipeline):
    p = graphview.graph(repo)
    text = graphview.to_mermaid(p)
    for n in p.nodes:
        assert n.id[:12] in text
    assert text.startswith("flowchart LR") and "-->|test|" in text
    assert "stroke-dasharray" in text and "linkStyle" in text
    assert "style n" not in text  # no findings, nothing outlined


def test_svg_parses_is_deterministic_and_boxes_do_not_overlap(repo, pipeline):
    p = graphview.graph(repo)
    svg = graphview.to_svg(p)
    assert svg == graphview.to_svg(graphview.graph(repo))
    root, boxes = _svg_boxes(svg)
    assert set(boxes) == {n.id for n in p.nodes}
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    for n in p.nodes:
        assert n.id[:12] in text
    for kind in ("split", "fit", "transform", "train", "evaluate"):
        assert kind in text
    assert "test@1" in text
    items = sorted(boxes.items())
    for i, (a, (ax, ay, aw, ah, _)) in enumerate(items):
        for b, (bx, by, bw, bh, _) in items[i + 1:]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, (a, b)
    # runs are rounded, snapshots are not; roles are distinct and in the legend
    for nid, (*_, g) in boxes.items():
        assert (g.find(f"{SVG}rect").get("rx") != "0") == (p.node(nid).type == "run")
    paths = {g.get("data-role"): g.find(f"{SVG}path") for g in root.iter(f"{SVG}g") if g.get("class") == "edge"}
    styles = {r: (paths[r].get("stroke"), paths[r].get("stroke-dasharray")) for r in ("train", "test", "model")}
    assert len(set(styles.values())) == 3
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    assert {"train", "test", "model", "output"} <= {t.text for t in legend.iter(f"{SVG}text")}
    # self-contained: nothing to fetch
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in svg and "@import" not in svg


def test_around_with_depth_limits_the_nodes(repo, pipeline):
    p = graphview.graph(repo, around=pipeline["train"], depth=1)
    assert {n.type for n in p.nodes if n.id == pipeline["train"]} == {"run"}
    assert [n.id for n in p.runs()] == [pipeline["train"]]
    assert len(p.nodes) == 3  # its input and its output
    p2 = graphview.graph(repo, around=pipeline["train"], depth=2)
    assert {n.attrs["kind"] for n in p2.runs()} == {"train", "transform", "evaluate"}
    up_down = graphview.graph(repo, around=pipeline["train"])
    assert {n.attrs["kind"] for n in up_down.runs()} == {"split", "fit", "transform", "train", "evaluate"}
    assert graphview.graph(repo, around=pipeline["train"], depth=0).nodes[0].id == pipeline["train"]
    whole = graphview.graph(repo)
    assert len(whole.nodes) > len(p2.nodes) > len(p.nodes)


def test_graph_rejects_bad_input(repo, pipeline):
    with pytest.raises(UsageError):
        graphview.graph(repo, around=pipeline["train"], depth=-1)
    with pytest.raises(UsageError):
        graphview.graph(repo, depth=1)


def test_cli_formats_output_file_and_errors(cli, repo, pipeline, workdir):
    r = cli("graph", "--around", pipeline["evaluate"], "--depth", "1", "-F", "mermaid")
    assert r.code == 0 and r.stdout.startswith("flowchart LR") and "-->|test|" in r.stdout
    assert pipeline["fit"][:12] not in r.stdout
    r = cli("graph", "-F", "svg", "-o", "g.svg")
    assert r.code == 0 and r.stdout == ""
    ET.parse(workdir / "g.svg")
    assert cli("graph").stdout.startswith("digraph")
    for args in (["--around", "nosuchthing"], ["--around", pipeline["train"], "--depth", "-1"],
                 ["-F", "png"], ["--depth", "2"]):
        r = cli("graph", *args)
        assert r.code == 2, args
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, (args, r.stderr)


@pytest.fixture
def leaky(repo, workdir, monkeypatch):
    """A model trained on rows that its test set holds too."""
    monkeypatch.chdir(workdir)
    raw_data(workdir)
    ids = {}
    ids["split"] = runs.run_command(repo, SPLIT, kind="split", inputs=[("other", "data/raw")],
                                    outputs=["data/split"]).record.run_id
    shutil.copy(workdir / "data/split/train.csv", workdir / "leak.csv")
    ids["train"] = runs.run_command(repo, TRAIN, kind="train", inputs=[("train", "data/split/train.csv")],
                                    outputs=["models"]).record.run_id
    ids["evaluate"] = runs.run_command(repo, EVALUATE, kind="evaluate",
                                       inputs=[("model", "models"), ("test", "leak.csv")],
                                       outputs=["reports"]).record.run_id
    return ids


def test_audit_marks_the_nodes_of_a_finding(cli, repo, leaky, workdir):
    from lineage import audit
    from lineage.audit.graphmarks import audit_marks

    p = graphview.graph(repo)
    marks = audit_marks(repo, p)
    report = audit.run(repo, [n.id for n in p.runs()])
    assert report.findings
    assert leaky["evaluate"] in marks
    test_snap = next(e.parent for e in p.edges if e.child == leaky["evaluate"] and e.role == "test")
    assert test_snap in marks
    assert leaky["split"] not in marks  # nothing points at the split
    svg = graphview.to_svg(p, marks)
    _, boxes = _svg_boxes(svg)
    flagged = {nid for nid, (*_, g) in boxes.items() if "finding" in g.get("class").split()}
    assert flagged == set(marks)
    g = boxes[leaky["evaluate"]][4]
    assert g.find(f"{SVG}rect").get("stroke") in graphview.SEVERITY_COLOURS.values()
    assert any(f.rule in g.find(f"{SVG}title").text for f in report.findings)
    # the CLI: --audit marks them, without it nothing is marked
    assert 'class="node run finding' in cli("graph", "-F", "svg", "--audit").stdout
    assert "finding" not in cli("graph", "-F", "svg").stdout.replace("finding: ", "")
    assert "penwidth=3" in cli("graph", "--audit").stdout
    assert "penwidth=3" not in cli("graph").stdout


def _sample_path(d):
    """Points along an SVG path of M, C and L commands."""
    tokens = re.findall(r"[MCL]|-?[\d.]+", d)
    pts, cur, i = [], None, 0
    while i < len(tokens):
        cmd = tokens[i]
        if cmd == "M":
            cur = (float(tokens[i + 1]), float(tokens[i + 2]))
            i += 3
        elif cmd == "L":
            nxt = (float(tokens[i + 1]), float(tokens[i + 2]))
            pts += [(cur[0] + (nxt[0] - cur[0]) * t / 20, cur[1] + (nxt[1] - cur[1]) * t / 20) for t in range(21)]
            cur, i = nxt, i + 3
        else:
            c = [float(x) for x in tokens[i + 1:i + 7]]
            p0, p1, p2, p3 = cur, (c[0], c[1]), (c[2], c[3]), (c[4], c[5])
            for k in range(21):
                t = k / 20
                pts.append(tuple((1 - t) ** 3 * p0[j] + 3 * (1 - t) ** 2 * t * p1[j] + 3 * (1 - t) * t * t * p2[j]
                                 + t ** 3 * p3[j] for j in (0, 1)))
            cur, i = p3, i + 7
    return pts


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_edges_never_run_behind_a_box(repo, pipeline, direction):
    """A long edge (the test set read by the evaluation, layers away) goes through
    virtual nodes: no edge passes through a box other than its two ends."""
    p = graphview.graph(repo)
    lay = graphview.layout(p, direction)
    assert any(len(pts) > 2 for pts in lay.routes.values())  # some edge crosses layers
    svg = graphview.to_svg(p, direction=direction)
    root, boxes = _svg_boxes(svg)
    assert root.get("data-direction") == direction
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "edge":
            continue
        ends = {g.get("data-from"), g.get("data-to")}
        for x, y in _sample_path(g.find(f"{SVG}path").get("d")):
            for nid, (bx, by, bw, bh, _) in boxes.items():
                if nid not in ends:
                    assert not (bx + 1 < x < bx + bw - 1 and by + 1 < y < by + bh - 1), (ends, nid, x, y)
    items = sorted(boxes.items())
    for i, (a, (ax, ay, aw, ah, _)) in enumerate(items):
        for b, (bx, by, bw, bh, _) in items[i + 1:]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, (a, b)
    # layers run along the direction: every input edge points right (LR) or down (TB)
    for e in p.edges:
        a, b = boxes[e.parent], boxes[e.child]
        assert (b[0] > a[0] + a[2]) if direction == "LR" else (b[1] > a[1] + a[3]), e


def test_top_to_bottom_is_narrower_and_the_generic_role_is_not_a_label(repo, pipeline):
    p = graphview.graph(repo)
    lr, tb = graphview.layout(p, "LR"), graphview.layout(p, "TB")
    assert tb.width < lr.width and tb.height > lr.height
    svg = graphview.to_svg(p, direction="TB")
    root = ET.fromstring(svg.encode())
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "role-label"]
    assert "other" not in labels and {"train", "test", "model"} <= set(labels)
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    names = {t.text for t in legend.iter(f"{SVG}text")}
    assert "input (no role)" in names and "validation" not in names
    with pytest.raises(UsageError):
        graphview.to_svg(p, direction="RL")


def test_dot_has_the_svg_colours(repo, pipeline, cli):
    p = graphview.graph(repo)
    dot = graphview.to_dot(p)
    for role in ("train", "test", "model"):
        assert f'edge [color="{graphview.ROLE_STYLES[role][0]}"' in dot
    assert "style=dotted" in dot  # test edges
    assert f'fillcolor="{graphview.ROLE_FILLS["test"]}"' in dot and f'fillcolor="{graphview.RUN_FILL}"' in dot
    assert "rankdir=LR;" in dot and "rankdir=TB;" in graphview.to_dot(p, direction="TB")
    r = cli("graph", "-F", "svg", "--direction", "TB")
    assert r.code == 0 and 'data-direction="TB"' in r.stdout
    ET.fromstring(r.stdout.encode())
    assert cli("graph", "-F", "mermaid", "--direction", "tb").stdout.startswith("flowchart TB")
    r = cli("graph", "--direction", "sideways")
    assert r.code == 2 and len(r.stderr.strip().splitlines()) == 1
