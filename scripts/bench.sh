#!/usr/bin/env bash
# Measures livegate the way a user would, and prints one table:
#
#   bash scripts/bench.sh                  # the end-to-end table (about a minute)
#   bash scripts/bench.sh go [PATTERN]     # livegate's Go benchmarks (go test -bench PATTERN)
#   bash scripts/bench.sh Webhook          # the same: any other argument is a go test -bench regexp
#   bash scripts/bench.sh WebhooksOut      # outbound webhook deliveries/s, 1 and 100 endpoints
#
# The end-to-end table: it builds livegate (into a temporary directory), creates an app on a temporary data dir,
# starts `livegate serve` on free loopback ports and `livegate bench bare-server` (a bare Go
# HTTP handler that only decodes the JSON: the ceiling of HTTP and JSON on this machine),
# then runs `livegate bench ingest` against livegate and the bare handler alternately
# (A B A B ...; the median of each), and `livegate bench feed` (with --admin: the server's
# heap and goroutine stacks per subscription, idle after the run). Both servers stop on exit.
# The load generator is a separate process on the same machine: it takes CPU from the
# server; the ratio durable/bare, measured alternately in one run, is the figure to compare
# across machines and runs, not the absolute rates (on a shared machine, noise is large).
#
# Environment (defaults in brackets):
#   DURATION [5s]            length of each bench ingest run
#   SENDERS [64]             concurrent senders of bench ingest
#   ROUNDS [2]               A B pairs; the table shows the median of each side
#   FEED_SUBSCRIBERS [1000]  gRPC subscribers of bench feed (0: skip the feed)
#   FEED_RATE [100]          deliveries/s bench feed posts
#   FEED_DURATION [5s]       how long bench feed posts
#   SERVE_FLAGS []           extra flags for livegate serve
#   SERVE_BIN []             a livegate binary to serve (and create the app) with instead of
#                            the one built from this tree: compare two builds, each measured by
#                            this tree's load generator (run both alternately; the ratio is the figure)
#   LOG_LEVEL [warn]         livegate serve's --log-level (info logs every call: slower)
#   BENCHTIME [3s]           (go benchmarks) -benchtime of the throughput benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

go_benchmarks() {
  # Throughput benchmarks run for a time; the feed benchmark's op is a whole scenario (500
  # deliveries to N subscribers, a 20,000-event replay, 1,000 idle subscriptions), run once.
  local pattern="${1:-.}" benchtime="${BENCHTIME:-3s}"
  go test -run '^$' -bench "$pattern" -skip 'BenchmarkFeed' -benchtime "$benchtime" -benchmem \
    ./internal/server/ ./internal/store/sqlite/ ./internal/inproc/ ./internal/eventlog/
  if [[ "BenchmarkFeed" =~ $pattern ]] || [[ "$pattern" == "." ]]; then
    go test -run '^$' -bench 'BenchmarkFeed' -benchtime 1x ./internal/server/
  fi
}

case "${1:-}" in
  go) go_benchmarks "${2:-.}"; exit ;;
  "" | e2e) ;;
  -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit ;;
  *) go_benchmarks "$1"; exit ;;
esac

duration="${DURATION:-5s}"
senders="${SENDERS:-64}"
rounds="${ROUNDS:-2}"
feed_subs="${FEED_SUBSCRIBERS:-1000}"
feed_rate="${FEED_RATE:-100}"
feed_duration="${FEED_DURATION:-5s}"

load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building livegate ..." >&2
lg="$tmp/livegate"
go build -o "$lg" ./cmd/livegate

# A JSON field of a one-line object (numbers and strings without quotes inside).
field() { sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"; }
# The median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.1f\n", m}'; }

# A free loopback port: a random one nobody answers on (serve fails if one is taken
# meanwhile, and the start is retried with others).
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# The app, then livegate (at --log-level ${LOG_LEVEL:-warn}: info logs every call) and the
# bare handler, each on free ports.
srv="${SERVE_BIN:-$lg}"
creds="$("$srv" apps create --create --data-dir "$tmp/data" --account bench --app bench)"
secret="$(field "$creds" webhook_secret)"
token="$(field "$creds" api_token)"
subs_limit=$(( feed_subs > 500 ? feed_subs : 500 ))
"$lg" bench bare-server --addr 127.0.0.1:0 >"$tmp/bare.out" &
pids+=($!)
http="" grpc="" admin="" bare="" up=""
for _ in 1 2 3; do
  http="127.0.0.1:$(free_port)" grpc="127.0.0.1:$(free_port)" admin="127.0.0.1:$(free_port)"
  # shellcheck disable=SC2086
  "$srv" serve --data-dir "$tmp/data" --http-addr "$http" --grpc-addr "$grpc" --admin-addr "$admin" \
    --log-level "${LOG_LEVEL:-warn}" --max-subscriptions-per-app "$subs_limit" --max-subscriptions "$(( subs_limit * 2 ))" \
    ${SERVE_FLAGS:-} 2>>"$tmp/serve.log" &
  serve_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/${http/://}") 2>/dev/null && (exec 3<>"/dev/tcp/${grpc/://}") 2>/dev/null &&
      (exec 3<>"/dev/tcp/${admin/://}") 2>/dev/null; then up=1; break; fi
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -n "$up" ]]; then pids+=("$serve_pid"); break; fi
  # Gone before the next try starts: it holds the data dir's lock until it exits.
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
done
for _ in $(seq 50); do bare="$(head -n1 "$tmp/bare.out")"; [[ -n "$bare" ]] && break; sleep 0.1; done
if [[ -z "$up" || -z "$bare" ]]; then
  echo "bench.sh: the servers did not start:" >&2
  cat "$tmp/serve.log" >&2
  exit 1
fi

declare -A rate p50 p90 p99 pmax
failed=0
ingest() { # name args...: one bench ingest run, its figures appended to the arrays
  local name="$1" out
  shift
  if ! out="$("$lg" bench ingest --senders "$senders" --duration "$duration" --json --quiet "$@")"; then
    failed=1
  fi
  echo "  $name: $(field "$out" per_second)/s, p99 $(field "$out" p99) ms, $(field "$out" failed) failed" >&2
  rate[$name]+=" $(field "$out" per_second)" p50[$name]+=" $(field "$out" p50)" p90[$name]+=" $(field "$out" p90)"
  p99[$name]+=" $(field "$out" p99)" pmax[$name]+=" $(field "$out" max)"
}
for r in $(seq "$rounds"); do
  echo "round $r/$rounds ($senders senders, $duration each):" >&2
  ingest durable --url "http://$http" --account bench --app bench --secret "$secret"
  ingest bare --url "$bare"
done

feed=""
if (( feed_subs > 0 )); then
  echo "bench feed: $feed_subs subscribers, $feed_rate deliveries/s for $feed_duration ..." >&2
  if ! feed="$("$lg" bench feed --server "$grpc" --url "http://$http" --token "$token" --secret "$secret" \
    --account bench --app bench --subscribers "$feed_subs" --rate "$feed_rate" --duration "$feed_duration" \
    --admin "http://$admin" --json --quiet)"; then
    failed=1
  fi
fi

# shellcheck disable=SC2086
{
  echo
  echo "livegate bench: $senders senders, $duration per run, $rounds rounds A B (median of each), $(nproc) CPUs, load $load at the start, $(date -u +%FT%TZ)"
  printf '%-34s %14s %9s %9s %9s %9s\n' "" "per second" "p50 ms" "p90 ms" "p99 ms" "max ms"
  for name in durable bare; do
    label="livegate ingest (durable)"
    [[ $name == bare ]] && label="bare JSON decode (ceiling)"
    printf '%-34s %14s %9s %9s %9s %9s\n' "$label" "$(median ${rate[$name]})" "$(median ${p50[$name]})" \
      "$(median ${p90[$name]})" "$(median ${p99[$name]})" "$(median ${pmax[$name]})"
  done
  d="$(median ${rate[durable]})" b="$(median ${rate[bare]})"
  printf '%-34s %14s\n' "ratio durable/bare" "$(awk -v d="$d" -v b="$b" 'BEGIN {if (b > 0) printf "%.1f %%", 100*d/b; else print "-"}')"
  if [[ -n "$feed" ]]; then
    printf '%-34s %14s %9s %9s %9s %9s\n' "feed: $feed_subs subs, $feed_rate posts/s" "$(median "$(field "$feed" per_second)")" \
      "$(median "$(field "$feed" p50)")" "$(median "$(field "$feed" p90)")" "$(median "$(field "$feed" p99)")" "$(median "$(field "$feed" max)")"
    echo "  (feed: deliveries/s received by all subscribers together; latency from POST to receipt; $(field "$feed" missing) missing)"
    printf '%-34s %14s\n' "feed: server memory per idle sub" "$(awk -v k="$(field "$feed" total_kb)" 'BEGIN {printf "%.1f KB", k}')"
    echo "  (heap $(awk -v b="$(field "$feed" heap_bytes)" 'BEGIN {printf "%.1f", b/1e3}') KB + goroutine stacks $(awk -v b="$(field "$feed" stack_bytes)" 'BEGIN {printf "%.1f", b/1e3}') KB, growth from before the $feed_subs subscriptions to after the run, all open)"
  fi
}
if (( failed )); then
  echo "bench.sh: a run reported failures (see above); its figures are not comparable" >&2
  exit 1
fi
