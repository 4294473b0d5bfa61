#!/usr/bin/env bash
# make bench: wrk against a private stack of this build, on free ports, with PostgreSQL as
# `make run` has it (fsync on, synchronous_commit off). One run measures, in this order:
#   /healthz                   answered by the gateway alone
#   /readyz/projects           the bare hop: HTTP -> gateway -> nng -> tm-projects -> back
#   GET  /api/v1/projects/{id} an authenticated read, over a few hundred seeded projects
#   POST /api/v1/projects      an authenticated create, the analyses running behind it
#   analysis                   briefs analyzed per second under the create load and while
#                              draining its backlog, idle; then briefs arriving at a steady
#                              rate, each timed from creation to stored analysis
# Every line shows its ratio to the bare hop at 64 connections (the reference of the run).
# Targets on the 2-core machine class, wrk sharing the cores:
#   read >= 0.50 of the hop with p99 <= 10 ms at 64 connections; create >= 4,000 req/s;
#   drain >= 500 briefs/s; at a steady 200 briefs/s each analyzed within 2 s (p99).
# The rate limits are raised for this run by environment (TM_RATE_*), nothing else.
#   TM_BENCH_DURATION (10s), TM_BENCH_WRK_THREADS (2), TM_BENCH_SEED_PROJECTS (300),
#   TM_BENCH_STEADY_RATE (200), TM_BENCH_KEEP=1 leaves the stack running (prints its dir)
set -euo pipefail

B=${1:?usage: bench/run.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${TM_BENCH_DURATION:-10s}
THREADS=${TM_BENCH_WRK_THREADS:-2}
SEED=${TM_BENCH_SEED_PROJECTS:-300}
STEADY_RATE=${TM_BENCH_STEADY_RATE:-200}
STEADY_CONNS=20
DRAIN_MAX_S=120
for c in wrk curl psql; do
	command -v $c >/dev/null || { echo "bench: $c is missing (make deps)" >&2; exit 1; }
done

export TM_RUN_DIR
TM_RUN_DIR=$(mktemp -d /tmp/tm-bench-XXXXXX)
chmod 755 "$TM_RUN_DIR" # the PostgreSQL user keeps its data inside
export TM_BIN_DIR=$ROOT/$B/bin TM_LOG_LEVEL=warn
export TM_RATE_READ=1000000/1 TM_RATE_WRITE=1000000/1 TM_RATE_AUTH=1000000/1
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
cleanup() {
	if [ "${TM_BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: the stack keeps running in $TM_RUN_DIR (TM_RUN_DIR=$TM_RUN_DIR deploy/devstack stop)"
		return
	fi
	"$ROOT/deploy/devstack" stop >/dev/null 2>&1 || true
	rm -rf "$TM_RUN_DIR"
}
trap cleanup EXIT
"$ROOT/deploy/devstack" start >/dev/null
DB=$(grep '^TM_DATABASE_URL=' "$TM_RUN_DIR/stack.env" | cut -d= -f2-)
url="http://127.0.0.1:$base"
sql() { psql "$DB" -Atqc "$1"; }
now() { date +%s.%N; }

# ---- a client, its token, and briefs to post ----
reg=$(curl -fsS -X POST "$url/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d '{"email":"bench@example.com","password":"a long bench passphrase","role":"client","displayName":"Bench"}')
export TM_BENCH_TOKEN
TM_BENCH_TOKEN=$(sed -E 's/.*"accessToken":"([^"]+)".*/\1/' <<<"$reg")
export TM_BENCH_BRIEFS=$TM_RUN_DIR/briefs.lua TM_BENCH_IDS=$TM_RUN_DIR/ids.txt
{
	echo "return {"
	for f in "$ROOT"/tests/data/briefs/*.txt; do
		# JSON inside a Lua long string: backslashes, quotes and control characters escaped
		printf '[==[%s]==],\n' "$(tr '\n\t\r' '   ' <"$f" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
	done
	echo "}"
} >"$TM_BENCH_BRIEFS"

# wrk_line LABEL CONNS URL [wrk options...]: one run, one line of the table
HOP=""
wrk_line() {
	local label=$1 conns=$2 target=$3 out rps p50 p99 non2xx ratio
	shift 3
	out=$(wrk -t "$THREADS" -c "$conns" -d "$DURATION" --latency "$@" "$target")
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
	ratio=$([ -n "$HOP" ] && awk -v a="$rps" -v b="$HOP" 'BEGIN {printf "%.2f", a / b}' || echo -)
	printf '%-34s %5s %12s %10s %10s %8s%s\n' "$label" "$conns" "$rps" "$p50" "$p99" "$ratio" \
		"${non2xx:+  ($non2xx non-2xx!)}"
	LAST_RPS=$rps
	LAST_REQUESTS=$(awk '/requests in/ {print $1}' <<<"$out")
}
# rate_line LABEL VALUE UNIT: a figure that is not a wrk run
rate_line() {
	local ratio
	ratio=$(awk -v a="$2" -v b="$HOP" 'BEGIN {printf "%.3f", a / b}')
	printf '%-34s %5s %12s %21s %8s\n' "$1" - "$2" "$3" "$ratio"
}
# analyzed TAG: how many projects titled TAG* are analyzed; backlog: how many are analyzing
analyzed() { sql "SELECT count(*) FROM projects.projects WHERE title LIKE '$1 %' AND status = 'analyzed'"; }
analyzed_between() {
	sql "SELECT count(*) FROM projects.analyses WHERE analyzed_at >= to_timestamp($1) AND analyzed_at < to_timestamp($2)"
}
backlog() { sql "SELECT count(*) FROM projects.projects WHERE status = 'analyzing'"; }
wait_drained() { # waits until nothing is analyzing (bounded); echoes the time it got there
	local end=$((SECONDS + DRAIN_MAX_S))
	while [ "$(backlog)" -gt 0 ] && [ $SECONDS -lt $end ]; do sleep 0.2; done
	now
}

# ---- seed: projects to read, analyzed ----
seq 1 "$SEED" | xargs -P 4 -I{} curl -fsS -o /dev/null -X POST "$url/api/v1/projects" \
	-H "Authorization: Bearer $TM_BENCH_TOKEN" -H 'Content-Type: application/json' \
	-d '{"title":"seed {}","description":"A booking site for a yoga studio: classes, a calendar, card payments and e-mail reminders. Seed {}."}'
wait_drained >/dev/null
sql "SELECT id FROM projects.projects WHERE title LIKE 'seed %'" >"$TM_BENCH_IDS"

echo "taskmesh bench ($B, wrk $THREADS threads, $DURATION per run, $(nproc) cores, $(wc -l <"$TM_BENCH_IDS") seeded projects)"
printf '%-34s %5s %12s %10s %10s %8s\n' route conns "req/s" p50 p99 "x hop"
wrk -t "$THREADS" -c 64 -d 2s "$url/readyz/projects" >/dev/null 2>&1 || true # warm up
wrk_line "GET /healthz" 64 "$url/healthz"
wrk_line "GET /readyz/projects (bare hop)" 16 "$url/readyz/projects"
wrk_line "GET /readyz/projects (bare hop)" 64 "$url/readyz/projects"
HOP=$LAST_RPS
wrk -t "$THREADS" -c 64 -d 2s -s "$ROOT/bench/read.lua" "$url" >/dev/null 2>&1 || true
wrk_line "GET /api/v1/projects/{id}" 16 "$url" -s "$ROOT/bench/read.lua"
wrk_line "GET /api/v1/projects/{id}" 64 "$url" -s "$ROOT/bench/read.lua"

# ---- create, with the analyses behind it ----
export TM_BENCH_TAG=load TM_BENCH_RATE=0
t0=$(now)
wrk_line "POST /api/v1/projects" 64 "$url" -s "$ROOT/bench/create.lua"
created=$LAST_REQUESTS
t1=$(now)
under=$(analyzed_between "$t0" "$t1")
left=$(backlog)
t2=$(wait_drained)
drained=$(analyzed_between "$t1" "$t2")
lost=$(($(sql "SELECT count(*) FROM projects.projects WHERE title LIKE 'load %'") - $(analyzed load)))
rate_line "analysis under the create load" "$(awk -v n="$under" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')" "briefs/s"
if [ "$left" -gt 0 ]; then
	rate_line "analysis draining, idle" "$(awk -v n="$drained" -v a="$t1" -v b="$t2" 'BEGIN {printf "%.0f", n / (b - a)}')" \
		"briefs/s ($left queued)"
else
	echo "analysis draining, idle: no backlog (the analyses kept up with the creates)"
fi
printf '%-34s %s of %s accepted creates not analyzed\n' "nothing lost" "$lost" "$created"

# ---- briefs at a steady rate: time from creation to stored analysis ----
export TM_BENCH_TAG=steady TM_BENCH_RATE=$STEADY_RATE TM_BENCH_CONNS=$STEADY_CONNS
wrk_line "POST /api/v1/projects (paced)" $STEADY_CONNS "$url" -s "$ROOT/bench/create.lua"
wait_drained >/dev/null
lat=$(sql "SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY s))::int || ' ' || round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY s))::int || ' ' || count(*) FROM (SELECT extract(epoch FROM a.analyzed_at - p.created_at) s FROM projects.projects p JOIN projects.analyses a ON a.project_id = p.id WHERE p.title LIKE 'steady %') x")
read -r l50 l99 ln <<<"$lat"
printf '%-34s %5s %12s %10s %10s\n' "analysis at $LAST_RPS briefs/s" - "$ln briefs" "${l50}ms" "${l99}ms"
