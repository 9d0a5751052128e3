#!/usr/bin/env bash
# The test command: installs what the tests run beside livegate if it is missing (nginx with
# the RTMP module, ffmpeg, the PostgreSQL server, PgBouncer, Prometheus's promtool, headless Chromium for
# the browser CORS test, node and npm with the TypeScript SDK and Redocly CLI (npm ci);
# Debian packages, installed with apt-get when run as root), lints the OpenAPI document with
# Redocly CLI, checks the Prometheus configuration and alerting rules in deploy/prometheus
# with promtool, then runs every test with the race detector.
# Arguments go to `go test` (default: ./...).
#
#   bash scripts/test.sh
#   bash scripts/test.sh -run TestRTMP ./internal/server/
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

packages=(nginx libnginx-mod-rtmp ffmpeg postgresql pgbouncer prometheus chromium faketime)
# internal/testenv runs Debian's PostgreSQL server binaries (initdb, pg_ctl) from
# /usr/lib/postgresql/<version>/bin; the package also creates the postgres user the server
# runs as when the tests run as root.
have_postgres() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
  done
  return 1
}
missing() {
  command -v nginx >/dev/null && command -v ffmpeg >/dev/null && command -v promtool >/dev/null &&
    command -v chromium >/dev/null && { command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; } &&
    [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] && have_postgres &&
    compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null && return 1
  return 0
}
if missing; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "== installing test prerequisites: ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "The tests need ${packages[*]} (Debian packages); install them, e.g.:" >&2
    echo "  sudo apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
fi

# node and npm: Debian's, unless some node is already installed (a NodeSource nodejs ships
# its own npm, and Debian's npm package would conflict with it).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "== installing test prerequisites: nodejs npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "The TypeScript SDK test needs node and npm; install them, e.g.: sudo apt-get install -y nodejs npm" >&2
    exit 1
  fi
fi

# The official TypeScript SDK (npm cloudflare, pinned by package-lock.json) that the SDK
# conformance test runs with node against a real server.
echo "== npm ci: internal/server/testdata/sdk-ts"
(cd internal/server/testdata/sdk-ts && npm ci --no-audit --no-fund --loglevel=error)

# The OpenAPI document (gen/openapi, as served: a version in place of the placeholder the
# server replaces with its own), linted by Redocly CLI (npm @redocly/cli, pinned by
# tools/openapi-lint/package-lock.json) with tools/openapi-lint/redocly.yaml: no error, no
# warning but those accepted there. npm ci only when the lock file changed since the last.
echo "== redocly lint: gen/openapi/livegate.swagger.json"
(cd tools/openapi-lint &&
  if ! cmp -s package-lock.json node_modules/.installed-package-lock.json; then
    npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.installed-package-lock.json
  fi &&
  doc=$(mktemp -d) && trap 'rm -rf "$doc"' EXIT &&
  sed 's/"@LIVEGATE_VERSION@"/"0.0.0-lint"/' ../../gen/openapi/livegate.swagger.json >"$doc/livegate.swagger.json" &&
  REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    node_modules/.bin/redocly lint --config redocly.yaml "$doc/livegate.swagger.json")

# The scrape configuration and alerting rules operators deploy (deploy/prometheus): valid,
# and each alert fires (and only fires) on the series its unit tests give it.
echo "== promtool: deploy/prometheus"
(cd deploy/prometheus &&
  promtool check config prometheus.yml &&
  promtool check rules livegate.rules.yml &&
  promtool test rules livegate.rules.test.yml)

if [ "$#" -eq 0 ]; then
  set -- ./...
fi
exec go test -race -count=1 "$@"
