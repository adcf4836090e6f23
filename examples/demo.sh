#!/usr/bin/env bash
# The main job end to end, on a small generated dataset, in a throw-away git repo:
# snapshot twice, status, log, diff, checkout, verify.
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
python "$here/make_data.py" data --rows 2500 --seed 2 --only train.csv
step lineage status
step lineage snapshot data -m "more training rows"
step lineage log iris-like
step lineage diff iris-like@1 iris-like@2
step lineage checkout iris-like@1 restored
step lineage show iris-like@1
step lineage verify
echo
echo "demo finished in $work (removed on exit)"
