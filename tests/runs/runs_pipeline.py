"""Small, real pipeline steps for run tests: each is a Python one-liner run as a command."""

from __future__ import annotations

import sys
from pathlib import Path

PY = sys.executable


def step(code: str) -> list[str]:
    """A command that runs ``code`` in a fresh Python process."""
    return [PY, "-c", code]


SPLIT = step(
    "import os, csv\n"
    "rows = list(csv.reader(open('data/raw/all.csv')))\n"
    "os.makedirs('data/split', exist_ok=True)\n"
    "open('data/split/train.csv', 'w').write('\\n'.join(','.join(r) for r in rows[:6]) + '\\n')\n"
    "open('data/split/test.csv', 'w').write('\\n'.join(','.join(r) for r in rows[6:]) + '\\n')\n"
)
FIT = step("import os; os.makedirs('state', exist_ok=True); open('state/scaler.json', 'w').write('{\"mean\": 3}')")
TRANSFORM = step("import os; os.makedirs('data/feat', exist_ok=True); "
                 "open('data/feat/train.csv', 'w').write(open('data/split/train.csv').read().upper())")
TRAIN = step("import os; os.makedirs('models', exist_ok=True); open('models/clf.txt', 'w').write('weights 1 2 3')")
EVALUATE = step("import os; os.makedirs('reports', exist_ok=True); open('reports/score.json', 'w').write('{\"acc\": 0.8}')")


def raw_data(root: Path) -> Path:
    folder = root / "data" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "all.csv").write_text("".join(f"{i},{i * i},{i % 2}\n" for i in range(10)))
    return folder
