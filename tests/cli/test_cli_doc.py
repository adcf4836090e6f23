"""docs/cli.md names every command of the app, and its links point at real pages and headings."""

from __future__ import annotations

import re

from conftest import ROOT

from test_short_flags import all_commands

DOC = ROOT / "docs" / "cli.md"


def test_every_command_is_in_the_doc():
    text = DOC.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `lineage ")]
    missing = []
    for path, cmd in all_commands():
        if path == "lineage":
            continue
        prefix, name = path.rsplit(" ", 1)
        # `lineage GROUP NAME ...`, or NAME after a slash in a row of its siblings:
        # `lineage remote add` / `list` / `remove`
        if not any(re.search(rf"`{re.escape(path)}[ `]", row)
                   or (f"`{prefix} " in row and f"/ `{name}`" in row) for row in rows):
            missing.append(path)
    assert not missing, f"docs/cli.md does not list: {missing}"


def test_a_command_that_is_not_in_the_app_is_noticed():
    """The check is not vacuous: a command added to the app without a row fails it."""
    from lineage.cli.app import app

    names = {p for p, _ in all_commands()}
    assert "lineage runs compare" in names and "lineage log" in names
    text = DOC.read_text()
    assert "`lineage frobnicate" not in text

    @app.command("frobnicate")
    def frobnicate() -> None:  # pragma: no cover - never run
        """A command the documentation does not know."""

    try:
        try:
            test_every_command_is_in_the_doc()
        except AssertionError as exc:
            assert "lineage frobnicate" in str(exc)
        else:  # pragma: no cover
            raise AssertionError("an undocumented command passed")
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "frobnicate"]
    assert "lineage frobnicate" not in {p for p, _ in all_commands()}


def test_links_point_at_pages_and_headings():
    text = DOC.read_text()
    for page, anchor in re.findall(r"\]\(([a-z-]+\.md)(?:#([a-z0-9-]+))?\)", text):
        target = ROOT / "docs" / page
        assert target.exists(), page
        if anchor:
            slugs = {re.sub(r"[^a-z0-9 -]", "", h.strip("# ").lower()).replace(" ", "-")
                     for h in target.read_text().splitlines() if h.startswith("#")}
            assert anchor in slugs, f"{page}#{anchor}"


def test_exit_codes_and_formats_are_documented():
    text = DOC.read_text()
    for needle in ("## Exit codes", "| 0 |", "| 1 |", "| 2 |", "## Output formats", "`tsv`", "`csv`",
                   "`json`", "`table`", "## Short flags"):
        assert needle in text, needle
