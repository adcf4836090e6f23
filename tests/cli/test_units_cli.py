"""Sizes in CLI output use one unit system (KiB, MiB, GiB); JSON keeps raw bytes; progress
bars show sizes in the same units and no rate before a second has passed."""

from __future__ import annotations

import io
import os
import re

import pytest

from conftest import CLI, make_git_repo, write_tree

MiB = 1 << 20
DATA = os.urandom(MiB + MiB // 2)  # 1.5 MiB that no compression shrinks
DECIMAL = re.compile(r"\b\d+(\.\d+)?\s?(kB|KB|MB|GB|TB)\b|\bT?B/s\b")


def _no_decimal_labels(*texts: str) -> None:
    for text in texts:
        assert not DECIMAL.search(text), text
        assert "MB" not in text and "GB" not in text, text


def test_snapshot_push_pull_gc_show_status_print_binary_units(tmp_path, capsys):
    a = CLI(make_git_repo(tmp_path / "a"), capsys)
    b = CLI(make_git_repo(tmp_path / "b"), capsys)
    store = str(tmp_path / "store")
    for c in (a, b):
        assert c("init", "--remote", store).code == 0
    write_tree(a.cwd / "data", {"weights.bin": DATA, "note.txt": "x" * 1023})
    size = len(DATA) + 1023

    snap = a("snapshot", "data", "--name", "w")
    assert snap.code == 0, snap.stderr
    assert "2 files, 1.5 MiB;" in snap.stdout
    again = a("snapshot", "data")
    assert "unchanged (2 files, 1.5 MiB)" in again.stdout

    push = a("push")
    assert push.code == 0, push.stderr
    assert re.search(r"Pushed \d+ object\(s\) \(1\.5 MiB, \d+ pack\(s\)\)", push.stdout), push.stdout

    pull = b("pull")
    assert pull.code == 0, pull.stderr
    assert re.search(r"Received \d+ object\(s\) \(1\.5 MiB\)", pull.stdout), pull.stdout

    texts = [snap.stdout, snap.stderr, again.stdout, push.stdout, push.stderr, pull.stdout, pull.stderr]
    for c in (a, b):
        for args in (["show", "w@1"], ["show", "w@1", "--schema"], ["status"], ["log"],
                     ["gc", "--dry-run"], ["gc"], ["verify"]):
            r = c(*args)
            assert r.code in (0, 1), (args, r.stderr)
            texts += [r.stdout, r.stderr]
    _no_decimal_labels(*texts)
    assert any("1.5 MiB" in t for t in texts[7:])  # show prints the size too

    # results for programs keep raw byte counts
    r = a("snapshot", "data", "--json")
    assert r.json["bytes"] == size
    r = a("push", "--json")
    assert isinstance(r.json["bytes_sent"], int)


def test_a_one_byte_file_is_shown_in_bytes(cli, workdir):
    write_tree(workdir, {"tiny/a.txt": "x"})
    r = cli("snapshot", "tiny")
    assert r.code == 0 and re.search(r"1 files?, 1 B;", r.stdout), r.stdout


@pytest.fixture
def terminal(monkeypatch):
    """stderr as a terminal, drawn into a buffer."""
    from rich.console import Console

    from lineage.cli import output as out

    buf = io.StringIO()
    monkeypatch.setattr(out, "_err_console", Console(file=buf, force_terminal=True, width=140))
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    return buf


def test_progress_bar_uses_binary_units_and_no_early_rate(terminal):
    from lineage.cli import output as out

    with out.progress("snapshot", delay=0) as bar:
        for done in range(0, 40 * 1024 * MiB, 4 * 1024 * MiB):  # 40 GiB of cached files at once
            bar(done, 40 * 1024 * MiB)
        bar(40 * 1024 * MiB, 40 * 1024 * MiB)
    drawn = terminal.getvalue()
    assert "GiB" in drawn and "…" in drawn
    assert "/s" not in drawn  # no rate from a burst of a few milliseconds
    _no_decimal_labels(drawn)


def test_transfer_bar_uses_binary_units(terminal):
    from lineage.cli import output as out

    with out.transfer_bar("push", delay=0) as bar:
        bar(0, 3 * MiB, 0, 3)
        bar(MiB + MiB // 2, 3 * MiB, 1, 3)
    drawn = terminal.getvalue()
    assert "0/3 MiB" in drawn and "1.5/3 MiB" in drawn and "1/3 objects" in drawn and "…" in drawn
    _no_decimal_labels(drawn)


def test_bar_columns_render_a_rate_once_a_second_has_passed():
    from rich.progress import Progress

    from lineage.cli.bars import RateColumn, RemainingColumn, SizeColumn
    from lineage.core.progress import RateWindow

    clock = [0.0]
    window = RateWindow(window=5.0, min_elapsed=1.0, clock=lambda: clock[0])
    p = Progress(SizeColumn(), RateColumn(), RemainingColumn(), auto_refresh=False)
    task_id = p.add_task("push", total=4 * MiB, rate=window)
    task = p.tasks[0]
    clock[0] = 0.01
    window.add(MiB)
    p.update(task_id, completed=MiB)
    assert RateColumn().render(task).plain == "…"
    assert RemainingColumn().render(task).plain == "-:--:--"
    clock[0] = 2.0
    window.add(2 * MiB)
    p.update(task_id, completed=2 * MiB)
    assert RateColumn().render(task).plain == "1 MiB/s"
    assert RemainingColumn().render(task).plain == "0:00:02"
    assert SizeColumn().render(task).plain == "2/4 MiB"
