"""What ``lineage --help`` imports: click's help formatter, never rich or typer's rich
help renderer (their import costs more than the rest of a start-up). Not timed: the
time is measured in benchmarks/startup.py."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("rich", "typer.rich_utils", "numpy", "pyarrow", "sqlite_utils", "lineage.snapshots", "lineage.tabular")

_PROBE = """
import sys
from lineage.cli.app import main
code = main({argv!r})
heavy = sorted(m for m, mod in list(sys.modules.items())  # stand-ins (lineage.cli.app) have no file
               if (m.split(".")[0] in {top!r} or m in {names!r}) and getattr(mod, "__file__", None))
print("IMPORTED", ",".join(heavy), code, file=sys.stderr)
"""


def _imported(argv: list[str], cwd) -> tuple[list[str], str, int]:
    tops = {h for h in HEAVY if "." not in h}
    names = {h for h in HEAVY if "." in h}
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv, top=tops, names=names)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    line = [x for x in proc.stderr.splitlines() if x.startswith("IMPORTED")][-1]
    _, mods, code = line.split(" ")
    return [m for m in mods.split(",") if m], proc.stdout, int(code)


def test_help_imports_no_heavy_module(tmp_path):
    mods, out, code = _imported(["--help"], tmp_path)
    assert code == 0 and "snapshot" in out and "checkout" in out
    assert mods == []


def test_a_command_help_reads_plainly_without_rich(tmp_path):
    mods, out, code = _imported(["snapshot", "--help"], tmp_path)
    assert code == 0
    assert "[required]" in out and "\\[" not in out  # not escaped for a rich renderer
    assert not [m for m in mods if m.startswith(("rich", "typer.rich_utils"))]


def test_a_command_that_prints_uses_rich_on_a_terminal_only(workdir):
    (workdir / "data").mkdir()
    (workdir / "data" / "a.txt").write_text("a\n")
    mods, out, code = _status_imports(workdir, ["snapshot", "data"], env={"TTY_COMPATIBLE": "1"})
    assert code == 0 and "data@1: 1 files" in out and "\x1b[" in out
    assert "rich.console" in mods  # results are rendered by lineage's own output, with rich
    (workdir / "data" / "b.txt").write_text("b\n")
    mods, out, code = _status_imports(workdir, ["snapshot", "data"])
    assert code == 0 and "data@2: 2 files" in out and "\x1b[" not in out
    assert "rich.console" not in mods  # piped, plain text is written as rich would write it


# -- lineage status: the modules of status only, and no rich when piped ---------------------

#: what ``lineage status`` never needs: the other verbs, rich (piped), the table stack
NOT_FOR_STATUS = ("rich", "numpy", "pyarrow", "lineage.snapshots.add", "lineage.snapshots.checkout",
                  "lineage.snapshots.diff", "lineage.snapshots.history")


def _snapshotted(workdir):
    (workdir / "data").mkdir()
    for i in range(3):
        (workdir / "data" / f"f{i}.txt").write_text(f"{i}\n")
    subprocess.run([sys.executable, "-m", "lineage", "snapshot", "data", "--name", "data"], cwd=workdir,
                   check=True, capture_output=True, timeout=120)
    return workdir


def _status_imports(cwd, argv=("status",), env=None):
    import os

    probe = """
import sys
from lineage.cli.app import main
code = main({argv!r})
print("IMPORTED", ",".join(sorted(m for m, mod in list(sys.modules.items())
                                  if getattr(mod, "__file__", None))), code, file=sys.stderr)
""".format(argv=list(argv))
    proc = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    line = [x for x in proc.stderr.splitlines() if x.startswith("IMPORTED")][-1]
    _, mods, code = line.split(" ")
    return set(mods.split(",")), proc.stdout, int(code)


def _heavy(mods):
    return sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in NOT_FOR_STATUS))


def test_status_piped_imports_neither_rich_nor_the_other_verbs(workdir):
    _snapshotted(workdir)
    (workdir / "data" / "f1.txt").write_text("changed\n")
    mods, out, code = _status_imports(workdir)
    assert code == 0
    assert "changed   data (data) @1" in out and "    modified f1.txt" in out
    assert "lineage.snapshots.status" in mods
    assert _heavy(mods) == []


def test_status_on_a_terminal_still_prints_with_rich(workdir):
    _snapshotted(workdir)
    mods, out, code = _status_imports(workdir, env={"TTY_COMPATIBLE": "1"})
    assert code == 0
    assert "rich.console" in mods and "\x1b[" in out  # coloured: a terminal
    assert not [m for m in _heavy(mods) if not m.startswith("rich")]


def test_status_output_piped_is_what_rich_printed(workdir, monkeypatch, capsys):
    """The same bytes as through rich, names with markup-like brackets included."""
    from lineage.cli import output
    from lineage.cli.app import main

    _snapshotted(workdir)
    (workdir / "data" / "[red]x[bold] y.txt").write_text("new\n")
    (workdir / "data" / "f1.txt").write_text("changed\n")
    monkeypatch.chdir(workdir)
    assert main(["status"]) == 0
    plain = capsys.readouterr().out
    from rich.console import Console

    output.set_console(Console(highlight=False, soft_wrap=True, force_terminal=False))
    try:
        assert main(["status"]) == 0
    finally:
        output.set_console(None)
    assert capsys.readouterr().out == plain
    assert "?? " in plain and "[red]x[bold] y.txt" in plain


# -- the plain path of output.print: exactly rich's text, or rich itself ------------------------

PLAIN_CASES = [
    "plain text", "", "[green]clean    [/] data (data) @1 16eee8bf517a", "[bold red]error:[/] x",
    "[yellow]lineage.lock:[/] a (b) is missing", r"\[red] literal", r"a \\[red]b[/] c", "[1] not a tag",
    "[red]open never closed", "[red]a[/red] and [blue]b[/]", "[red][bold]x[/bold][/red]", "ünïcödé ✓ 漢字",
    "two\nlines", "trailing spaces   ", "a [ b ] c", "[/red", "s3://bucket/prefix",
]
RICH_ONLY = [  # rich decides these: a link, a handler, a bad close, an emoji code, a tab, a control character
    "[link=https://x]x[/link]", "[@click]x[/]", "[/]nothing open", "[red]x[/blue]", "ok :thumbs_up: done",
    "a\tb", "a\rb", "10:30:00",
]


def _rich(*args, **kwargs):
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, highlight=False, soft_wrap=True).print(*args, **kwargs)
    return buf.getvalue()


def test_plain_text_is_what_rich_prints_to_a_pipe():
    from lineage.cli import output

    for case in PLAIN_CASES:
        for markup in (True, False):
            text = output._plain((case,), markup=markup)
            assert text is not None, case
            assert text + "\n" == _rich(case, markup=markup), case
    assert output._plain(("a", "[green]b[/]")) + "\n" == _rich("a", "[green]b[/]")


def test_what_plain_text_cannot_render_is_left_to_rich():
    from lineage.cli import output

    for case in RICH_ONLY:
        assert output._plain((case,)) is None, case
    assert output._plain((1,)) is None  # not text
    assert output._plain(("x",), style="red") is None  # an option of rich's


def test_escape_is_rich_markup_escape():
    from rich.markup import escape

    from lineage.cli import output

    for case in ["plain", "[red]", r"\[red]", "a[b]", "[/]", "[@x]", "end\\", "end\\\\", "[1]", "x [#fff] y"]:
        assert output.escape(case) == escape(case), case
        assert output._plain((output.escape(case),)) + "\n" == _rich(output.escape(case)), case


def test_is_terminal_answers_as_rich_without_making_a_console(monkeypatch):
    from rich.console import Console

    from lineage.cli import output

    for k in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(k, raising=False)
    output.set_console(None)
    for env in ({}, {"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
                {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""}, {"TTY_COMPATIBLE": "x"}):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            assert output.is_terminal() == Console().is_terminal, env
            assert output._made_console() is None  # asked without making one
    output.set_console(Console(force_terminal=True))  # a console set is asked instead
    try:
        assert output.is_terminal() is True
    finally:
        output.set_console(None)


# -- lineage.snapshots: names imported on first use ---------------------------------------------

def test_snapshots_names_are_imported_on_first_use():
    probe = """
import sys
from lineage import snapshots
before = {m for m in sys.modules if m.startswith("lineage.snapshots.")}
import lineage.snapshots.status, lineage.snapshots.scan  # the modules bind the names: still the functions
ok = callable(snapshots.status) and snapshots.status.__module__ == "lineage.snapshots.status"
ok &= snapshots.scan.__module__ == "lineage.snapshots.scan" and snapshots.diff.__name__ == "diff"
from lineage.snapshots import checkout, hooks, diff_sides, SKIP_DIRS
ok &= checkout.__name__ == "checkout" and hooks.__name__ == "lineage.snapshots.hooks"
ok &= diff_sides.__name__ == "sides" and all(hasattr(snapshots, n) for n in snapshots.__all__)
ok &= set(snapshots.__all__) <= set(dir(snapshots))
print(sorted(before), ok)
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] True"
