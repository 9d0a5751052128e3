#!/usr/bin/env bash
# Regenerates everything under gen/ from proto/, offline.
#
# Every tool is a Go tool pinned in tools/go.mod (buf, protoc-gen-go, protoc-gen-go-grpc,
# protoc-gen-grpc-gateway, protoc-gen-openapiv2) and runs through `go tool`, so the only
# network this needs is the Go module proxy, once, to fill the module cache.
#
# The third-party .proto files we import (google/api/*.proto, buf/validate/validate.proto)
# are copied out of the Go module cache into .thirdparty/ (git-ignored) on each run; they
# are never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

# Versions of the modules whose .proto sources we import. The Go runtime packages for the
# same schemas come in through go.mod (genproto, protovalidate).
GOOGLEAPIS_MODULE=github.com/grpc-ecosystem/grpc-gateway@v1.16.0
PROTOVALIDATE_MODULE=github.com/bufbuild/protovalidate@v1.2.2

moddir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

# Both found before .thirdparty/ is emptied: a failure leaves the last run's copies in place.
googleapis=$(moddir "$GOOGLEAPIS_MODULE")
protovalidate=$(moddir "$PROTOVALIDATE_MODULE")
[ -n "$googleapis" ] && [ -n "$protovalidate" ] || { echo "generate.sh: go mod download did not find the proto modules" >&2; exit 1; }
rm -rf .thirdparty
mkdir -p .thirdparty/googleapis/google/api .thirdparty/protovalidate/buf/validate
src=$googleapis
cp "$src"/third_party/googleapis/google/api/{annotations,http}.proto .thirdparty/googleapis/google/api/
src=$protovalidate
cp "$src"/proto/protovalidate/buf/validate/validate.proto .thirdparty/protovalidate/buf/validate/
chmod -R u+w .thirdparty

buf() { go tool -modfile=tools/go.mod buf "$@"; }
buf lint
buf generate

# protoc-gen-openapiv2 describes the RPCs only: complete the document with what the protos
# cannot say (title, version placeholder, security, error envelope, 201 on create, the
# gateway's hand-registered routes). See scripts/openapi/finish.go.
go run ./scripts/openapi gen/openapi/livegate.swagger.json scripts/openapi/supplement.json
