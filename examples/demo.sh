#!/usr/bin/env bash
# The main job end to end, on a small generated dataset, in a throw-away git repo:
# snapshot twice (lineage.lock committed with each), status, log, diff, checkout, verify,
# a rollback (git checkout v1, lineage checkout, verify); then the audit of a clean
# scikit-learn pipeline (passes) and of two leaky ones (caught).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/lineage-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

cd "$work"
git init -q -b main .
git config user.name "Demo User"; git config user.email "demo@example.com"
python "$here/make_data.py" data --rows 2000 --seed 1
git add -A . ':!data' 2>/dev/null || true
git commit -q --allow-empty -m "demo project"

step lineage init
step lineage snapshot data --name iris-like --label-column label -m "first cut"
# data stays out of git; lineage.lock (the snapshot each dataset is pinned to) is committed
printf '/data/\n/restored/\n' > .gitignore
step git add .gitignore lineage.lock .lineage/config.toml .lineage/.gitignore
step git commit -q -m "data v1"
git tag v1
python "$here/make_data.py" data --rows 2500 --seed 2 --only train.csv
step lineage status
step lineage snapshot data -m "more training rows"
step git commit -q -am "data v2"
step lineage log iris-like
step lineage diff iris-like@1 iris-like@2
step lineage checkout iris-like@1 restored
step lineage show iris-like@1
step lineage verify

# -- a rollback: the data follows git ------------------------------------------------
printf '\n\033[1m# roll back: git checkout of the older commit, then lineage checkout\033[0m\n'
step git checkout -q v1
step lineage status
step lineage checkout
step lineage verify
if ! lineage status --json | python -c 'import json, sys; sys.exit(bool(json.load(sys.stdin)["lock"]["datasets"]))'; then
  echo "demo FAILED: the data is not what v1's lineage.lock names after the rollback" >&2; exit 1
fi
step git checkout -q main
step lineage checkout

# -- the audit: a correct pipeline passes, a leaky one is caught ----------------------
# Each example records split -> fit -> transform -> train -> evaluate as runs in its own
# repository and prints "KIND<TAB>RUN_ID" lines, the evaluate run last.
evaluate_run() { awk -F'\t' '$1 == "evaluate" {id = $2} END {print id}'; }
audit_expect() {  # WORKDIR RUN EXPECTED_EXIT RULE
  local code=0 report
  printf '\n\033[1m$ lineage audit %s\033[0m\n' "$2"
  report="$(cd "$1" && lineage audit "$2")" || code=$?
  printf '%s\n' "$report"
  if [[ "$code" != "$3" ]]; then
    echo "demo FAILED: audit exited $code, expected $3" >&2; exit 1
  fi
  if [[ "$4" != "-" ]] && ! grep -q -- "$4" <<<"$report"; then
    echo "demo FAILED: the audit did not report $4" >&2; exit 1
  fi
}
printf '\n\033[1m# a clean pipeline: split, fit the scaler on train, transform, train, evaluate\033[0m\n'
clean="$(python "$here/clean_pipeline.py" "$work/clean" --setup)"
printf '%s\n' "$clean"
audit_expect "$work/clean" "$(evaluate_run <<<"$clean")" 0 -
printf '\n\033[1m# a leak: the scaler is fitted on all rows before the split\033[0m\n'
leak="$(python "$here/leak_scale_before_split.py" "$work/scaled-before-split" --setup)"
printf '%s\n' "$leak"
audit_expect "$work/scaled-before-split" "$(evaluate_run <<<"$leak")" 1 fit-on-heldout
printf '\n\033[1m# a leak: scans of one patient on both sides of a row-level split\033[0m\n'
leak="$(python "$here/leak_patient_overlap.py" "$work/patients" --setup)"
printf '%s\n' "$leak"
audit_expect "$work/patients" "$(evaluate_run <<<"$leak")" 1 group-overlap
echo "the audit caught both planted leaks (exit 1 each, as expected)"
echo
echo "demo finished in $work (removed on exit)"
