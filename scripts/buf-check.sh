#!/usr/bin/env bash
# The contract's checks beside `buf lint` (which scripts/generate.sh runs): proto/ is laid out
# as `buf format` writes it, and has no breaking change (buf.yaml's rules) against the
# previous commit, HEAD~1: on main, the contract as it was before the last commit landed.
# .ci/run runs this after scripts/generate.sh, which fetches the imported .proto files.
#
#   bash scripts/buf-check.sh                                  # against HEAD~1
#   BUF_BREAKING_AGAINST=origin/main bash scripts/buf-check.sh # a branch against main
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

buf() { go tool -modfile=tools/go.mod buf "$@"; }

echo "== buf format (proto/)"
if ! buf format -d --exit-code proto; then
  echo "proto/ is not formatted as buf format writes it; fix it with:" >&2
  echo "  go tool -modfile=tools/go.mod buf format -w proto" >&2
  exit 1
fi

against=${BUF_BREAKING_AGAINST:-HEAD~1}
echo "== buf breaking against $against"
if [ ! -d .thirdparty ]; then
  echo "the imported .proto files are missing (.thirdparty/): run scripts/generate.sh first" >&2
  exit 1
fi
if ! git rev-parse -q --verify "$against^{commit}" >/dev/null; then
  # A shallow clone (CI's `git clone --depth 1`) lacks the previous commit: fetch it.
  if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    git fetch -q --deepen=1 || true
  fi
fi
if ! git rev-parse -q --verify "$against^{commit}" >/dev/null; then
  if [ "$against" = HEAD~1 ] && [ "$(git rev-parse --is-shallow-repository)" = false ] &&
    ! git rev-parse -q --verify HEAD^ >/dev/null; then
    echo "HEAD is the first commit: there is no earlier contract to break"
    exit 0
  fi
  echo "cannot resolve $against (a shallow clone that could not be deepened?): fetch more history or set BUF_BREAKING_AGAINST" >&2
  exit 1
fi
if [ -z "$(git ls-tree -d "$against" proto)" ]; then
  echo "$against has no proto/: there is no earlier contract to break"
  exit 0
fi

# The previous contract is built from its own tree, with the imported .proto files of this
# one: they are git-ignored, so a git input (.git#ref=...) would lack them.
previous=$(mktemp -d)
trap 'rm -rf "$previous"' EXIT
git archive "$against" | tar -x -C "$previous"
cp -R .thirdparty "$previous/"
buf breaking --against "$previous"
