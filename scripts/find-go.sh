# shellcheck shell=bash
# Sourced by the scripts that `go install` test tools: sets GO to the Go command (the GO environment
# variable if set, else `go` on PATH, else /usr/local/go/bin/go), or to "" when there is none.
GO="${GO:-}"
if [ -z "${GO}" ]; then
  if command -v go >/dev/null 2>&1; then
    GO="$(command -v go)"
  elif [ -x /usr/local/go/bin/go ]; then
    GO=/usr/local/go/bin/go
  fi
fi
