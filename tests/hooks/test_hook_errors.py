"""The one error-to-exit-code mapping, shared by ``lineage`` and ``lineage-hook``: a hook
never shows a traceback, whatever fails inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage import errors
from lineage.hooks import guard
from lineage.hooks import main as hook_main


@pytest.mark.parametrize("exc, code", [
    (errors.UsageError("bad"), 2),
    (errors.IntegrityError("bad"), 2),
    (KeyboardInterrupt(), 130),
    (BrokenPipeError(), 0),
    (RuntimeError("boom"), 2),
])
def test_exit_code_for(exc: BaseException, code: int) -> None:
    assert errors.exit_code_for(exc) == code


def test_guarded_prints_one_line(monkeypatch) -> None:
    monkeypatch.delenv("LINEAGE_DEBUG", raising=False)
    said: list[str] = []

    def boom() -> int:
        raise RuntimeError("first line\nsecond line")

    assert errors.guarded(boom, said.append) == 2
    assert len(said) == 1 and said[0].startswith("unexpected RuntimeError: first line")
    assert errors.guarded(lambda: 1, said.append) == 1 and len(said) == 1


def test_guarded_names_the_lineage_error(monkeypatch) -> None:
    said: list[str] = []

    def refuse() -> int:
        raise errors.ConfigError("core.link must be copy\nmore")

    assert errors.guarded(refuse, said.append) == 2
    assert said == ["core.link must be copy"]


def test_a_hook_that_crashes_prints_one_line(workdir: Path, monkeypatch, capsys) -> None:
    """An unexpected exception inside a check: one line on stderr, exit 2, no traceback."""
    monkeypatch.delenv("LINEAGE_DEBUG", raising=False)

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(guard, "check_guard", crash)
    monkeypatch.chdir(workdir)
    assert hook_main.main(["guard", "README.md"]) == 2
    err = capsys.readouterr().err
    assert err == "lineage-guard: error: unexpected RuntimeError: disk on fire (set LINEAGE_DEBUG=1 for details)\n"
    assert "Traceback" not in err
