"""``lineage rules``: per rule what it checks, why it matters and how to fix it; JSON without hard breaks."""

from __future__ import annotations

import pytest

from conftest import CLI, validate


@pytest.fixture
def rcli(repo, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    return CLI(repo.root, capsys)


def _block(text: str, slug: str) -> list[str]:
    lines = text.splitlines() + [""]
    start = lines.index(next(line for line in lines if line.startswith(slug + "  (")))
    return lines[start:lines.index("", start)]


def test_rules_text_gives_what_why_and_fix_for_every_rule(rcli) -> None:
    r = rcli("rules")
    assert r.code == 0
    slugs = [x["rule"] for x in rcli("rules", "--json").json["rules"]]
    assert len(slugs) >= 14
    for slug in slugs:
        block = _block(r.stdout, slug)
        text = "\n".join(block)
        assert "    checks:  " in text and "    why:     " in text, text
    overlap = "\n".join(_block(r.stdout, "exact-overlap"))
    assert overlap.startswith("exact-overlap  (error)\n  held-out rows")
    assert "    fix:     deduplicate before splitting" in overlap
    assert "    options: tolerance = 0.0" in overlap
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_rules_text_keeps_list_items_on_their_own_lines(rcli) -> None:
    block = _block(rcli("rules").stdout, "fit-on-heldout")
    assert sum(line.startswith("             - ") for line in block) == 2, "\n".join(block)


def test_rules_json_collapses_the_docstring_indentation(rcli) -> None:
    r = rcli("rules", "--json")
    assert r.code == 0
    validate(r.json, "rules.schema.json")
    for rule in r.json["rules"]:
        assert rule["paragraphs"] and all("\n" not in p and "  " not in p for p in rule["paragraphs"])
        assert rule["description"] == "\n\n".join(rule["paragraphs"])
        assert "\n    " not in rule["description"]
        assert rule["checks"] == rule["paragraphs"][0]
    overlap = next(x for x in r.json["rules"] if x["rule"] == "exact-overlap")
    assert overlap["fix"].startswith("deduplicate before splitting")
    assert "Fix:" not in overlap["why"] and overlap["why"].startswith("A duplicated row")
    heldout = next(x for x in r.json["rules"] if x["rule"] == "fit-on-heldout")
    assert sum(p.startswith("- ") for p in heldout["paragraphs"]) == 2
