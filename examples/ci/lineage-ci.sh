#!/bin/sh
# lineage in CI, for any runner that has a shell: pull the team's lineage history
# and data, verify it, audit every recorded run, and leave SARIF and JUnit reports.
#
#   LINEAGE_FAIL_ON   critical | error | warning | never   (default: error)
#   LINEAGE_REPORTS   folder for lineage.sarif and lineage-junit.xml (default: lineage-reports)
#
# Exit status: 0 clean, 1 findings at or above LINEAGE_FAIL_ON, 2 lineage could not run.
# Remote credentials come from the environment (AWS_* variables or a profile), never
# from this script or the repository.
set -u

fail_on="${LINEAGE_FAIL_ON:-error}"
reports="${LINEAGE_REPORTS:-lineage-reports}"
mkdir -p "$reports" || exit 2

# The remote named in .lineage/config.toml holds the events (runs, snapshots) and objects.
lineage pull || exit 2
# Objects and the hash-chained event log must check out before their findings count.
lineage verify || exit 2

# JUnit failures and the exit status follow the same --fail-on level.
status=0
lineage audit --all --format sarif --fail-on "$fail_on" --output "$reports/lineage.sarif" || status=$?
lineage audit --all --format junit --fail-on "$fail_on" --output "$reports/lineage-junit.xml"
[ $? -le 1 ] || exit 2
lineage audit --all --format text --fail-on never >&2 || exit 2

case "$status" in
    0) echo "lineage: no findings at or above '$fail_on'" >&2 ;;
    1) echo "lineage: findings at or above '$fail_on'; reports in $reports/" >&2 ;;
    *) echo "lineage: the audit could not run (exit $status)" >&2 ;;
esac
exit "$status"
