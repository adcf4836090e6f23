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


def test_a_command_that_prints_still_uses_rich(workdir):
    (workdir / "data").mkdir()
    (workdir / "data" / "a.txt").write_text("a\n")
    mods, _, code = _imported(["snapshot", "data"], workdir)
    assert code == 0
    assert "rich.console" in mods  # results are rendered by lineage's own output, with rich
