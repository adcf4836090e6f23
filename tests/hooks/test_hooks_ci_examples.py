"""The CI examples under examples/ci/: they parse, call only real commands and options,
and the generic shell step runs end to end against a local-folder remote."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from conftest import git, make_git_repo, write_tree
from hooks_support import ROOT, audit_available

CI = ROOT / "examples" / "ci"
BIN = Path(sys.executable).parent
SHELL_OPERATORS = {">", ">>", "|", "||", "&&", ";", ">&2", "2>&1", "<"}
needs_audit = pytest.mark.skipif(not audit_available(), reason="lineage audit is not in this tree yet")


def _github_commands() -> list[str]:
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    lines = []
    for job in wf["jobs"].values():
        for step in job["steps"]:
            lines += step.get("run", "").splitlines()
    return lines


def _gitlab_commands() -> list[str]:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["lineage-audit"]
    return list(job.get("before_script", [])) + list(job["script"])


def _shell_commands() -> list[str]:
    return (CI / "lineage-ci.sh").read_text().splitlines()


def lineage_calls(lines: list[str]) -> list[list[str]]:
    """Each ``lineage ...`` command in ``lines``, cut at the first shell operator."""
    calls = []
    for line in lines:
        tokens = shlex.split(line, comments=True)
        if not tokens or tokens[0] != "lineage":
            continue
        cut = next((i for i, t in enumerate(tokens) if t in SHELL_OPERATORS), len(tokens))
        calls.append(tokens[:cut])
    return calls


@lru_cache(maxsize=None)
def help_text(*words: str) -> str:
    r = subprocess.run([str(BIN / "lineage"), *words, "--help"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "250", "TERM": "dumb", "NO_COLOR": "1"})
    assert r.returncode == 0, f"lineage {' '.join(words)} --help failed: {r.stderr}"
    return r.stdout


CALLS = [(name, " ".join(call)) for name, lines in
         (("github", _github_commands()), ("gitlab", _gitlab_commands()), ("shell", _shell_commands()))
         for call in lineage_calls(lines)]


def test_examples_parse_and_run_the_documented_steps() -> None:
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    assert wf["permissions"]["security-events"] == "write"
    steps = wf["jobs"]["audit"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["if"] == "always()" and upload["with"]["sarif_file"] == "lineage.sarif"
    runs = [s.get("run", "") for s in steps]
    assert runs.index("lineage pull") < next(i for i, r in enumerate(runs) if r.startswith("lineage audit"))
    assert "lineage audit --all --format sarif --fail-on error > lineage.sarif" in runs

    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["lineage-audit"]
    assert job["script"][0] == "lineage pull"
    assert job["artifacts"]["reports"]["junit"] == "lineage-junit.xml"
    assert "lineage.sarif" in job["artifacts"]["paths"] and job["artifacts"]["when"] == "always"

    sh = subprocess.run(["sh", "-n", str(CI / "lineage-ci.sh")], capture_output=True, text=True)
    assert sh.returncode == 0, sh.stderr
    assert os.access(CI / "lineage-ci.sh", os.X_OK)
    for name in ("github", "gitlab", "shell"):
        called = {c.split()[1] for n, c in CALLS if n == name}
        assert {"pull", "audit"} <= called, name


@pytest.mark.parametrize("where,call", CALLS, ids=[f"{w}:{c}" for w, c in CALLS])
def test_commands_exist_with_their_options(where: str, call: str) -> None:
    tokens = shlex.split(call)
    sub = tokens[1]
    if sub == "audit" and not audit_available():
        pytest.skip("lineage audit is not in this tree yet")
    assert f" {sub} " in help_text(), f"{where}: 'lineage {sub}' is not a command"
    text = help_text(sub)
    for i, tok in enumerate(tokens[2:], start=2):
        if tok.startswith("-"):
            opt = tok.split("=", 1)[0]
            assert opt in text, f"{where}: 'lineage {sub}' has no option {opt}"
            value = tok.split("=", 1)[1] if "=" in tok else (tokens[i + 1] if i + 1 < len(tokens) else "")
            if opt in ("--format", "--fail-on") and not value.startswith("$"):
                assert value in text, f"{where}: {opt} {value} is not a documented choice"


# -- the shell step, end to end ------------------------------------------------------

def _team_repo(tmp_path: Path, *, leaky: bool) -> tuple[Path, Path]:
    """A project whose history and data were pushed to a local-folder remote, and a fresh clone."""
    remote = tmp_path / "remote"
    work = make_git_repo(tmp_path / "team")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def lineage(*args: str, cwd: Path = work) -> None:
        r = subprocess.run(["lineage", *args], cwd=cwd, capture_output=True, text=True, env=env)
        assert r.returncode == 0, f"lineage {' '.join(args)}: {r.stderr}"

    rows = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(40))
    held = "".join(f"{i},{i % 5},{i % 2}\n" for i in range(100, 120))
    write_tree(work, {"data/train.csv": "id,x,label\n" + rows, "data/test.csv": "id,x,label\n" + held,
                      ".gitignore": "/data/\n/model.txt\n"})
    lineage("init", "--remote", str(remote))
    lineage("snapshot", "data/train.csv", "--name", "train", "--label-column", "label")
    lineage("snapshot", "data/test.csv", "--name", "test", "--label-column", "label")
    inputs = ["--input", "train=train"] + (["--input", "test=test"] if leaky else [])
    lineage("run", "--kind", "train", *inputs, "--output", "model.txt", "--",
            sys.executable, "-c", "open('model.txt', 'w').write('m')")
    lineage("run", "--kind", "evaluate", "--input", "model=model.txt", "--input", "test=test", "--",
            sys.executable, "-c", "pass")
    lineage("push")
    git(work, "add", ".gitignore", ".lineage/config.toml", ".lineage/.gitignore")
    git(work, "commit", "-q", "-m", "lineage")
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(work), str(clone))
    return clone, remote


def _run_step(clone: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(CI / "lineage-ci.sh", clone / "ci.sh")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "LINEAGE_REPORTS": "reports"}
    return subprocess.run(["sh", "ci.sh"], cwd=clone, capture_output=True, text=True, env=env, timeout=300)


def _junit_cases(path: Path) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag in ("testsuites", "testsuite")
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    assert suites
    for s in suites:
        cases = s.findall("testcase")
        assert int(s.get("tests", len(cases))) == len(cases)
        assert int(s.get("failures", 0)) == sum(1 for c in cases if c.find("failure") is not None)
        for c in cases:
            assert c.get("name") and c.get("classname") is not None
    return [c for s in suites for c in s.findall("testcase")]


def test_pull_from_a_local_folder_remote_in_a_fresh_clone(tmp_path: Path) -> None:
    """The first line of every example: a clean clone gets the team's history and data."""
    clone, _ = _team_repo(tmp_path, leaky=False)
    assert not (clone / "data").exists()
    r = subprocess.run([str(BIN / "lineage"), "pull"], cwd=clone, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (clone / "data/train.csv").exists() and (clone / "data/test.csv").exists()


@needs_audit
def test_shell_step_passes_a_clean_history(tmp_path: Path) -> None:
    clone, _ = _team_repo(tmp_path, leaky=False)
    r = _run_step(clone)
    assert r.returncode == 0, r.stdout + r.stderr
    sarif = json.loads((clone / "reports/lineage.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"]
    assert not [x for x in sarif["runs"][0]["results"] if x.get("level") == "error"]
    cases = _junit_cases(clone / "reports/lineage-junit.xml")
    assert all(c.find("failure") is None for c in cases)


@needs_audit
def test_shell_step_fails_on_a_leak_and_reports_it(tmp_path: Path) -> None:
    clone, _ = _team_repo(tmp_path, leaky=True)
    r = _run_step(clone)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "findings at or above 'error'" in r.stderr
    sarif = json.loads((clone / "reports/lineage.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert any(x["ruleId"] == "train-read-heldout" for x in results)
    cases = _junit_cases(clone / "reports/lineage-junit.xml")
    failed = [c for c in cases if c.find("failure") is not None]
    assert failed and any("train-read-heldout" in ET.tostring(c, encoding="unicode") for c in failed)
