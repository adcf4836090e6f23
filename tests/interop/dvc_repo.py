"""A real DVC repository for the import tests, made once per session with the dvc package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DVC = str(Path(sys.executable).with_name("dvc"))

DVC_YAML = """\
stages:
  split:
    cmd: mkdir -p data && head -n 4 raw/all.csv > data/train.csv && (head -n 1 raw/all.csv; tail -n 2 raw/all.csv) > data/test.csv
    deps:
    - raw
    outs:
    - data/train.csv
    - data/test.csv
  train:
    cmd: wc -l data/train.csv > model.txt
    deps:
    - data/train.csv
    params:
    - lr
    outs:
    - model.txt
  evaluate:
    cmd: cat model.txt data/test.csv > scores.txt
    deps:
    - model.txt
    - data/test.csv
    outs:
    - scores.txt
"""


def dvc(cwd: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([DVC, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make(path: Path) -> Path:
    """git init, dvc init, dvc add raw/, and a three-stage pipeline reproduced by dvc repro."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")
    dvc(path, "init", "-q")
    (path / "raw").mkdir()
    (path / "raw" / "all.csv").write_text("id,x,label\n1,0.5,0\n2,0.7,1\n3,0.1,0\n4,0.9,1\n5,0.3,0\n")
    (path / "raw" / "README.txt").write_text("raw export\n")
    (path / "params.yaml").write_text("lr: 0.1\n")
    (path / "dvc.yaml").write_text(DVC_YAML)
    dvc(path, "add", "-q", "raw")
    dvc(path, "repro", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "data and pipeline")
    return path


def copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest
