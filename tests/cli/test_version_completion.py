"""``lineage --version`` and shell completion (bash, zsh, fish; dataset names, NAME@N, runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_subprocess, write_tree
from lineage._version import __version__

BIN = Path(sys.executable).parent


def test_version_long_and_short(tmp_path):
    for flag in ("--version", "-V"):
        r = run_subprocess([flag], cwd=tmp_path)
        assert r.returncode == 0 and r.stdout == f"lineage {__version__}\n" and r.stderr == ""


def test_version_imports_no_command_module(tmp_path):
    code = ("import sys; from lineage.cli.app import main; rc = main(['--version']); "
            "print(sorted(m for m in sys.modules if m.startswith('lineage.cli.') and m != 'lineage.cli.app'"
            " and m != 'lineage.cli.output')); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "[]", r.stdout + r.stderr


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o default -F _lineage_completion lineage"),
                                           ("zsh", "compdef _lineage_completion lineage"),
                                           ("fish", "complete --command lineage")])
def test_scripts(cli, shell, marker):
    r = cli("completion", shell)
    assert r.code == 0 and marker in r.stdout and "_LINEAGE_COMPLETE" in r.stdout


def test_unknown_shell(cli):
    r = cli("completion", "tcsh")
    assert r.code == 2 and "unknown shell 'tcsh'" in r.stderr and "Traceback" not in r.stderr


def test_every_completed_parameter_exists():
    import importlib

    from lineage.cli import completion

    app_module = importlib.import_module("lineage.cli.app")
    app_module._register([])  # every command module
    attached = completion.attach(app_module.app)
    wanted = {path + (p,) for path, params in completion.COMPLETED.items() for p in params}
    assert wanted == attached


def _complete(cwd: Path, words: str, cword: int) -> list[str]:
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_LINEAGE_COMPLETE": "complete_bash"}
    r = subprocess.run([str(BIN / "lineage")], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stdout.split()


@pytest.fixture
def tracked(cli, workdir):
    write_tree(workdir, {"data/wine-train/a.csv": "x,y\n1,0\n", "data/test/b.csv": "x,y\n2,1\n"})
    assert cli("snapshot", "data/wine-train", "--name", "wine-train").code == 0
    write_tree(workdir, {"data/wine-train/a.csv": "x,y\n1,0\n3,1\n"})
    assert cli("snapshot", "data/wine-train", "--name", "wine-train").code == 0
    assert cli("snapshot", "data/test", "--name", "wine-test").code == 0
    return workdir


def test_dynamic_candidates(cli, tracked):
    assert _complete(tracked, "lineage show wine-tr", 2) == ["wine-train"]
    assert _complete(tracked, "lineage log wine", 2) == ["wine-test", "wine-train"]
    assert _complete(tracked, "lineage checkout wine-train@", 2) == ["wine-train@2", "wine-train@1",
                                                                     "wine-train@latest"]
    r = cli("run", "--kind", "train", "--input", "train=wine-train", "--json", "--", sys.executable, "-c", "")
    short = r.json["short_id"]
    assert _complete(tracked, "lineage audit ", 2) == [short]
    assert short in _complete(tracked, "lineage show ", 2)
    # a parameter that takes no dataset is not offered any
    assert _complete(tracked, "lineage remote remove wine", 3) == []


def test_outside_a_repository_offers_nothing(tmp_path):
    assert _complete(tmp_path, "lineage show wi", 2) == []
    assert _complete(tmp_path, "lineage audit ", 2) == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completes_a_dataset_name(cli, tracked):
    script = cli("completion", "bash").stdout
    (tracked / "complete.bash").write_text(script)
    prog = f"""
source ./complete.bash
complete -p lineage
COMP_WORDS=(lineage show wine-tr)
COMP_CWORD=2
_lineage_completion lineage
printf 'reply:%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], cwd=tracked, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "complete -o default -F _lineage_completion lineage" in r.stdout
    assert "reply:wine-train" in r.stdout.splitlines()
