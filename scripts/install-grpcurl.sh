#!/usr/bin/env bash
# Installs the grpcurl CLI (used by tests/integration/grpcurl_test) into tools/bin/ under the repo.
# Idempotent: does nothing when tools/bin/grpcurl already runs. Needs Go (GO env var, else `go` on
# PATH, else /usr/local/go/bin/go) and access to the Go module proxy.
set -euo pipefail

GRPCURL_VERSION="${GRPCURL_VERSION:-v1.8.9}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${ROOT}/tools/bin"

if [ -x "${BIN_DIR}/grpcurl" ] && "${BIN_DIR}/grpcurl" -version >/dev/null 2>&1; then
  exit 0
fi

# shellcheck source=scripts/find-go.sh
. "${ROOT}/scripts/find-go.sh"
if [ -z "${GO}" ]; then
  echo "install-grpcurl: Go not found (set GO=/path/to/go)" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
echo "install-grpcurl: installing grpcurl ${GRPCURL_VERSION} into ${BIN_DIR}" >&2
GOBIN="${BIN_DIR}" "${GO}" install \
  "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}"
"${BIN_DIR}/grpcurl" -version
