#!/usr/bin/env bash
# ctest demo_unattended_missing_step: the demo must fail, naming the step, when a step is not seen.
# XID 13 is an ignored XID (docs/nvml-provider.md, "XID policy"), so after it no consumer changes:
# scripts/demo.sh must exit 1 naming the first check of step 3, devicectl's.
set -uo pipefail
out=$(DEMO_UNATTENDED=1 DEMO_XID=13 DEMO_STEP_TIMEOUT=${DEMO_STEP_TIMEOUT:-5} "$1" 2>&1)
rc=$?
printf '%s\n' "$out"
echo "demo exit code: $rc"
# A failed demo keeps its temp dir for its logs; this failure is the expected one.
dir=$(sed -n 's/.*(logs in \(\/tmp\/devapi-demo\.[A-Za-z0-9]*\)).*/\1/p' <<<"$out" | tail -n 1)
[[ -n $dir && -d $dir ]] && rm -rf "$dir"
if [[ $rc -ne 1 ]]; then
  echo "FAIL: expected exit code 1"
  exit 1
fi
if ! grep -q 'demo FAILED: step not seen: step 3: devicectl: gpu-[0-9a-f-]* unhealthy' <<<"$out"; then
  echo "FAIL: the failure does not name step 3's devicectl check"
  exit 1
fi
echo "PASS: a missing step fails the demo with exit code 1 and names the step"
