"""The log names no feature: lineage.features installs the loaders it calls, and
without them the log refuses to count migrations rather than miss some."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import lineage  # noqa: F401 - installs the loaders
from lineage import features
from lineage.log import migrations, registry

LOG = Path(__file__).resolve().parents[2] / "lineage" / "log"


def test_log_names_no_feature():
    pattern = re.compile(r"lineage\.(snapshots|tabular|runs|audit|sync|hooks|interop|cli)\b")
    named = [p.name for p in LOG.glob("*.py") if pattern.search(p.read_text())]
    assert not named


def test_loaders_installed_by_features():
    assert migrations._loader is features.load_migrations
    assert registry._loader is features.load
    assert migrations.current_version() == max(n for n, _, _ in migrations.MIGRATIONS) > 7


def test_without_loader_the_log_refuses(monkeypatch):
    monkeypatch.setattr(migrations, "_loader", None)
    monkeypatch.setattr(registry, "_loader", None)
    with pytest.raises(RuntimeError):
        migrations.current_version()
    with pytest.raises(RuntimeError):
        registry.load()
