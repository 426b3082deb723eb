#!/usr/bin/env bash
# docs/operations.md names every flag of every binary (ctest deployments_operations_doc): each
# --flag in a binary's --help (and in each subcommand's --help for npd-gpu-monitor) must appear in
# the guide as `--flag`. A flag added to a binary without its line in the guide fails here. And every
# alert of the chart (deployments/helm/device-api-server/files/alerts.yaml) has its runbook: a
# "### <AlertName>" section (the anchor its runbook_url points at) and a row in the alerts table.
#
# Usage: check_operations_doc.sh [--doc FILE] SOURCE_DIR SERVER PROVIDER PLUGIN MONITOR DEVICECTL
# Exit 0: all named; 1: a flag is missing (one FAIL line each); 2: bad usage.
set -euo pipefail

doc=""
if [ "${1:-}" = --doc ]; then
  doc=$2
  shift 2
fi
if [ $# -ne 6 ]; then
  echo "usage: check_operations_doc.sh [--doc FILE] SOURCE_DIR SERVER PROVIDER PLUGIN MONITOR DEVICECTL" >&2
  exit 2
fi
ROOT=$1
# shellcheck source=tests/deployments/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
doc=${doc:-$ROOT/docs/operations.md}
[ -r "$doc" ] || { echo "cannot read $doc" >&2; exit 2; }

# flags_of HELP_TEXT: the long flags of one --help, one per line, without --help and --version.
flags_of() {
  grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' <<<"$1" | sed -E 's/^ +(-[a-zA-Z],)?//' |
    grep -vxE -- '--(help|version)' || true
}

check_binary() {
  local label=$1 help=$2 flag n=0
  while read -r flag; do
    [ -n "$flag" ] || continue
    n=$((n + 1))
    if ! grep -qE -- "\`${flag}([^a-z0-9-]|$)" "$doc"; then
      fail "$label: $flag is not in $(basename "$doc")"
    fi
  done < <(flags_of "$help")
  # Guards the check itself: a --help that parses to nothing would pass vacuously.
  [ "$n" -gt 0 ] || fail "$label: no flags read from --help"
}

check_binary device-api-server "$("$2" --help)"
check_binary nvml-provider "$("$3" --help)"
check_binary gpu-device-plugin "$("$4" --help)"
for sub in serve check; do
  check_binary "npd-gpu-monitor $sub" "$("$5" "$sub" --help)"
done
check_binary devicectl "$("$6" --help)"

alerts=$(grep -oE '^ *- alert: *[A-Za-z0-9]+' "$ROOT/deployments/helm/device-api-server/files/alerts.yaml" |
  sed -E 's/.*alert: *//')
[ -n "$alerts" ] || fail "no alerts read from files/alerts.yaml"
tick='`'
for a in $alerts; do
  grep -qx "### $a" "$doc" || fail "alert $a has no runbook section (### $a) in $(basename "$doc")"
  grep -qF "| ${tick}$a${tick} |" "$doc" || fail "alert $a has no row in the alerts table of $(basename "$doc")"
done
finish
