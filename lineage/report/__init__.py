"""The hand-over report of a run, a model or a test set (HTML or Markdown), and the
check that nothing it states has changed since (``lineage verify --against``).

    >>> html = lineage.report.render(repo, "01JC7Q...")                  # doctest: +SKIP
    >>> md = lineage.report.render(repo, ("test-set", "data/test.csv"), fmt="md")  # doctest: +SKIP

Modules: ``build`` (what a report states), ``html`` and ``markdown`` (the renderings),
``plots`` (drift charts as SVG), ``against`` (verify a report against the repository).
"""

from __future__ import annotations

from lineage.errors import UsageError
from lineage.repo import Repo
from lineage.report.against import AgainstResult, read_integrity, verify_against
from lineage.report.build import Report, Target, build

__all__ = ["AgainstResult", "FORMATS", "Report", "Target", "build", "read_integrity", "render", "verify_against"]

FORMATS = ("html", "md")


def render(repo: Repo, target: Target, fmt: str = "html") -> str:
    """The report of ``target`` as one self-contained HTML page (``fmt="html"``) or
    Markdown (``fmt="md"``).

    ``target`` is one of:

    - a ``str`` naming a run: a full run ID or a unique prefix (as every command takes);
    - a ``str`` path to a file or folder on disk (a model, an output): the report of the
      runs that wrote or read that content under any name, as ``lineage audit PATH``
      selects them; the run shown is the last run that wrote it;
    - the tuple ``("test-set", path)``: every run that scored on that content (its files
      or 90 % of its rows), as ``lineage audit --test-set PATH``; the run shown is the
      last of them.

    A string is taken as a run first, then as a path. Raises ``UsageError`` for an
    unknown format or target (and the resolution errors of ``lineage audit``).
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; use html or md")
    report = build(repo, target)
    if fmt == "md":
        from lineage.report import markdown

        return markdown.render(report)
    from lineage.report import html

    return html.render(report)
