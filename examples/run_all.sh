#!/usr/bin/env bash
# Run the clean pipeline and each leaky one in a fresh git repository, and show
# `lineage audit` passing the clean one (exit 0) and catching every planted leak
# (exit 1). Exits non-zero if any expectation is not met.
#
#   bash examples/run_all.sh            # needs scikit-learn: pip install -e '.[examples]'
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python}"
base="$(mktemp -d "${TMPDIR:-/tmp}/lineage-examples.XXXXXX")"
trap 'rm -rf "$base"' EXIT

# example  expected audit exit code  rule the audit must name
cases=(
  "clean_pipeline 0 -"
  "clean_pipeline.sh 0 -"
  "leak_scale_before_split 1 fit-on-heldout"
  "leak_oversample_before_split 1 exact-overlap"
  "leak_tune_on_test 1 tune-read-test"
  "leak_test_reuse 1 test-reuse"
  "leak_patient_overlap 1 group-overlap"
  "leak_random_time_split 1 temporal-order"
)
failed=0
summary=()
for case in "${cases[@]}"; do
  read -r name want rule <<<"$case"
  work="$base/$name"
  printf '\n\033[1m== %s\033[0m\n' "$name"
  if [[ "$name" == *.sh ]]; then
    runs="$(PYTHON="$python" bash "$here/$name" "$work" --setup)"
  else
    runs="$("$python" "$here/$name.py" "$work" --setup)"
  fi
  evaluations=$(awk -F'\t' '$1 == "evaluate" {print $2}' <<<"$runs")
  # shellcheck disable=SC2086  # one argument per evaluate run
  report="$(cd "$work" && COLUMNS=160 lineage audit $evaluations)" && code=0 || code=$?
  printf '%s\n' "$report"
  verdict=ok
  if [[ "$code" != "$want" ]]; then
    verdict="FAIL (audit exit $code, expected $want)"
  elif [[ "$rule" != "-" ]] && ! grep -q -- "$rule" <<<"$report"; then
    verdict="FAIL ($rule not reported)"
  fi
  [[ "$verdict" == ok ]] || failed=1
  summary+=("$(printf '%-30s exit %s  %-15s %s' "$name" "$code" "$rule" "$verdict")")
done
printf '\n\033[1m== summary\033[0m\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
