#!/usr/bin/env bash
# Runs shellcheck over every shell script of the tree (ctest deployments_shellcheck): the tracked *.sh
# files and the extensionless scripts with a bash/sh shebang under .ci/ and scripts/.
# Usage: check_shellcheck.sh SOURCE_DIR. Exit 0 clean, 1 findings, 77 no shellcheck (skipped).
set -euo pipefail
ROOT=${1:?usage: check_shellcheck.sh SOURCE_DIR}
# shellcheck source=tests/deployments/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools shellcheck
cd "$ROOT"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.sh' '.ci/*' 'scripts/*' | sort -u)
else
  mapfile -t files < <(find . -path ./build\* -prune -o -type f \( -name '*.sh' -o -path './.ci/*' -o -path './scripts/*' \) -print | sort)
fi
scripts=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  case $f in
    *.sh) scripts+=("$f") ;;
    *) head -n1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && scripts+=("$f") ;;
  esac
done
[ ${#scripts[@]} -gt 0 ] || { echo "no shell scripts found under $ROOT" >&2; exit 1; }
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck -x "${scripts[@]}"
