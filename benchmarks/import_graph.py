"""Figures of the import graph: modules, cyclic groups (strongly connected components,
imports inside functions included) and lineage's own modules imported inside functions.

    python benchmarks/import_graph.py            # for the installed lineage package
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp


def cyclic_groups(graph) -> list[list[str]]:
    """Tarjan's algorithm over the direct imports."""
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def imports_inside_functions(root: Path) -> int:
    count = 0
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for stmt in ast.walk(node):
                if stmt is node:
                    continue
                if isinstance(stmt, ast.ImportFrom) and (stmt.level or (stmt.module or "").startswith("lineage")):
                    count += 1
                elif isinstance(stmt, ast.Import) and any(a.name.startswith("lineage") for a in stmt.names):
                    count += 1
    return count


def main() -> None:
    import lineage

    graph = grimp.build_graph("lineage", cache_dir=None)
    groups = cyclic_groups(graph)
    print(f"modules: {len(graph.modules)}")
    print(f"cyclic groups: {len(groups)} ({sum(map(len, groups))} modules)")
    for group in groups:
        print("  ", " ".join(group))
    print(f"own-module imports inside functions: {imports_inside_functions(Path(lineage.__file__).parent)}")


if __name__ == "__main__":
    main()
