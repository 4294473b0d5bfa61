#!/usr/bin/env bash
# make bench: wrk against a private stack of this build, on free ports.
#   /healthz            answered by the gateway alone
#   /readyz/projects    one RPC round trip: HTTP -> gateway -> nng -> tm-projects -> back
# at 16 and 64 connections; prints requests/s and p50/p99 latency per run.
# Targets on a 2-core machine with wrk on the same cores: /healthz >= 60k req/s;
# the one-RPC route >= 20k req/s with p99 <= 10 ms at 64 connections.
set -euo pipefail

B=${1:?usage: bench/run.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${TM_BENCH_DURATION:-10s}
THREADS=${TM_BENCH_WRK_THREADS:-2}
command -v wrk >/dev/null || { echo "bench: wrk is missing (make deps)" >&2; exit 1; }

export TM_RUN_DIR
TM_RUN_DIR=$(mktemp -d /tmp/tm-bench-XXXXXX)
chmod 755 "$TM_RUN_DIR" # the PostgreSQL user keeps its data inside
export TM_BIN_DIR=$ROOT/$B/bin TM_PG_FSYNC=off TM_LOG_LEVEL=warn
# a free block of ports: gateway, services +1..+5, PostgreSQL +10
for _ in $(seq 1 100); do
	base=$((10000 + RANDOM % 22000)) # below the ephemeral range (32768-60999)
	busy=0
	for i in $(seq 0 11); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; then busy=1; break; fi
	done
	[ $busy -eq 0 ] && break
done
export TM_PORT_BASE=$base
cleanup() { "$ROOT/deploy/devstack" stop >/dev/null 2>&1 || true; rm -rf "$TM_RUN_DIR"; }
trap cleanup EXIT
"$ROOT/deploy/devstack" start >/dev/null

url="http://127.0.0.1:$base"
echo "taskmesh bench ($B, wrk $THREADS threads, $DURATION per run, $(nproc) cores)"
printf '%-22s %6s %12s %10s %10s\n' route conns "req/s" p50 p99
for path in /healthz /readyz/projects; do
	wrk -t "$THREADS" -c 64 -d 2s "$url$path" >/dev/null 2>&1 || true # warm up
	for conns in 16 64; do
		out=$(wrk -t "$THREADS" -c "$conns" -d "$DURATION" --latency "$url$path")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
		printf '%-22s %6s %12s %10s %10s%s\n' "$path" "$conns" "$rps" "$p50" "$p99" \
			"${non2xx:+  ($non2xx non-2xx!)}"
	done
done
