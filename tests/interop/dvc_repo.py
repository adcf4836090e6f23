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


#: A pipeline whose stages run code kept in git: src/*.py are dependencies, data/raw.csv is
#: tracked by a .dvc file, evaluate writes DVC metrics (metrics.json) and a plot (roc.csv).
CODE_DVC_YAML = """\
stages:
  split:
    cmd: {py} src/split.py
    deps:
    - src/split.py
    - data/raw.csv
    outs:
    - data/train.csv
    - data/test.csv
  train:
    cmd: {py} src/train.py
    deps:
    - src/train.py
    - data/train.csv
    outs:
    - model.pkl
  evaluate:
    cmd: {py} src/evaluate.py
    deps:
    - src/evaluate.py
    - model.pkl
    - data/test.csv
    metrics:
    - metrics.json:
        cache: false
    plots:
    - roc.csv:
        cache: false
"""

CODE_FILES = {
    "src/split.py": (
        "rows = open('data/raw.csv').read().splitlines()\n"
        "open('data/train.csv', 'w').write('\\n'.join(rows[:5]) + '\\n')\n"
        "open('data/test.csv', 'w').write('\\n'.join(rows[:1] + rows[5:]) + '\\n')\n"),
    "src/train.py": (
        "import pickle\n"
        "rows = open('data/train.csv').read().splitlines()[1:]\n"
        "pickle.dump({'mean': sum(float(r.split(',')[1]) for r in rows) / len(rows)}, open('model.pkl', 'wb'))\n"),
    "src/evaluate.py": (
        "import json, pickle\n"
        "model = pickle.load(open('model.pkl', 'rb'))\n"
        "rows = open('data/test.csv').read().splitlines()[1:]\n"
        "json.dump({'accuracy': 0.5, 'test': {'auc': 0.75}, 'train_loss': 0.25, 'val_loss': 0.3,\n"
        "           'model': 'mean', 'n': len(rows)}, open('metrics.json', 'w'))\n"
        "open('roc.csv', 'w').write('fpr,tpr\\n0,0\\n1,1\\n')\n"),
}


def make_code_pipeline(path: Path) -> Path:
    """git init, dvc init, dvc add data/raw.csv, and split/train/evaluate stages that run
    src/*.py; everything committed (metrics.json and roc.csv too: DVC does not cache them)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")
    dvc(path, "init", "-q")
    for rel, text in CODE_FILES.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    (path / "data").mkdir(exist_ok=True)
    (path / "data" / "raw.csv").write_text(
        "id,x,label\n1,0.5,0\n2,0.7,1\n3,0.1,0\n4,0.9,1\n5,0.3,0\n6,0.8,1\n")
    (path / "dvc.yaml").write_text(CODE_DVC_YAML.format(py=sys.executable))
    dvc(path, "add", "-q", "data/raw.csv")
    dvc(path, "repro", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "code, data and pipeline")
    return path
