"""``lineage graph``: the lineage graph (or the neighbourhood of one node) as dot,
Mermaid or SVG, with roles on the edges and, with ``--audit``, the nodes of each
finding highlighted (docs/graph.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from lineage.cli.app import open_repo

FORMATS = ("dot", "mermaid", "svg")


def register(app: typer.Typer) -> None:
    @app.command("graph")
    def graph(
        around: Optional[str] = typer.Option(None, "--around", metavar="ID",
                                             help="Only the nodes upstream and downstream of this run or snapshot."),
        depth: Optional[int] = typer.Option(None, "--depth", metavar="N",
                                            help="With --around: at most N edges away (default: no limit)."),
        fmt: str = typer.Option("dot", "--format", "-F", help="dot, mermaid or svg."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                              help="Write to FILE instead of stdout."),
        direction: str = typer.Option("LR", "--direction", metavar="LR|TB",
                                      help="Left to right (LR, default) or top to bottom (TB)."),
        audit: bool = typer.Option(False, "--audit/--no-audit",
                                   help="Audit the runs shown and highlight the nodes of each finding."),
    ) -> None:
        """The lineage graph with roles on the edges: lineage graph -F svg -o graph.svg"""
        from lineage.errors import UsageError
        from lineage.runs import graphview

        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; use dot, mermaid or svg")
        direction = direction.upper()
        if direction not in graphview.DIRECTIONS:
            raise UsageError(f"unknown direction {direction!r}; use LR or TB")
        with open_repo() as repo:
            p = graphview.graph(repo, around=around, depth=depth)
            marks = None
            if audit:
                from lineage.audit.graphmarks import audit_marks

                marks = audit_marks(repo, p)
        render = {"dot": graphview.to_dot, "mermaid": graphview.to_mermaid, "svg": graphview.to_svg}[fmt]
        text = render(p, marks, direction=direction)
        if output is None:
            sys.stdout.write(text)
        else:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
