#!/usr/bin/env bash
# The clean pipeline with the command wrapper: each step is a plain command that reads
# and writes files, and `lineage run` records it (kind, inputs with roles, outputs).
# Prints "KIND<TAB>RUN_ID" per run, the evaluate run last, like the Python examples.
#
#   bash examples/clean_pipeline.sh WORKDIR [--setup]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python}"
[[ $# -ge 1 ]] || { echo "usage: $0 WORKDIR [--setup]" >&2; exit 2; }
work="$1"
if [[ "${2:-}" == "--setup" ]]; then
  "$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import _common; from pathlib import Path; _common.setup(Path(sys.argv[2]).resolve())' "$here" "$work"
fi
cd "$work"
# the label column of every table the pipeline writes (dataset names are their paths)
if [[ ! -f pyproject.toml ]]; then
  for t in cancer train test train_scaled test_scaled; do
    printf '[tool.lineage.datasets."data/%s.csv"]\nlabel = "label"\n\n' "$t"
  done > pyproject.toml
  git add pyproject.toml && git commit -q -m "declare the label column"
fi
steps=("$python" "$here/pipeline_steps.py")
record() {  # KIND lineage-run-options... -- command
  local kind="$1"; shift
  local id
  id="$(lineage run --kind "$kind" --json "$@" 2>/dev/null | "$python" -c 'import json, sys; print(json.load(sys.stdin)["run_id"])')"
  printf '%s\t%s\n' "$kind" "$id"
}
"${steps[@]}" prepare data/cancer.csv
lineage snapshot data/cancer.csv >/dev/null
record split --input other=data/cancer.csv --output data/train.csv --output data/test.csv \
  -- "${steps[@]}" split data/cancer.csv data/train.csv data/test.csv
record fit --input train=data/train.csv --output models/scaler.joblib \
  -- "${steps[@]}" fit data/train.csv models/scaler.joblib
record transform --input model=models/scaler.joblib --input train=data/train.csv \
  --output data/train_scaled.csv -- "${steps[@]}" transform models/scaler.joblib data/train.csv data/train_scaled.csv
record transform --input model=models/scaler.joblib --input test=data/test.csv \
  --output data/test_scaled.csv -- "${steps[@]}" transform models/scaler.joblib data/test.csv data/test_scaled.csv
record train --input train=data/train_scaled.csv --output models/model.joblib \
  -- "${steps[@]}" train data/train_scaled.csv models/model.joblib
record evaluate --input model=models/model.joblib --input test=data/test_scaled.csv \
  -- "${steps[@]}" evaluate models/model.joblib data/test_scaled.csv
