#!/usr/bin/env bash
# Runs livegate's benchmarks (without the race detector) and prints their figures: webhook
# deliveries/s over real HTTP beside a bare JSON-decoding handler, creates and lists over
# gRPC and REST, RTMP callbacks/s, the event feed (latency to 1/100/1,000 subscribers,
# replay rate, memory per idle subscription), the store's Update/View, and the backends side
# by side (BenchmarkScale: deliveries/s with 64 senders on SQLite, PostgreSQL with one node
# and with three; feed latency from one node's 200 to a subscriber on another; PostgreSQL is
# the tests' own cluster, started by internal/testenv, with fsync off). Numbers are
# reported, never asserted; on a shared machine, compare runs side by side (farm-bench).
#
#   bash scripts/bench.sh                  # every benchmark
#   bash scripts/bench.sh Webhook          # those whose name matches (a go test -bench regexp)
#   BENCHTIME=10s bash scripts/bench.sh    # longer throughput runs (default 3s)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

pattern="${1:-.}"
benchtime="${BENCHTIME:-3s}"

# Throughput benchmarks run for a time; the feed benchmark's op is a whole scenario (500
# deliveries to N subscribers, a 20,000-event replay, 1,000 idle subscriptions), run once.
go test -run '^$' -bench "$pattern" -skip 'BenchmarkFeed' -benchtime "$benchtime" -benchmem \
  ./internal/server/ ./internal/store/sqlite/
if [[ "BenchmarkFeed" =~ $pattern ]] || [[ "$pattern" == "." ]]; then
  go test -run '^$' -bench 'BenchmarkFeed' -benchtime 1x ./internal/server/
fi
