#!/usr/bin/env bash
# Static checks run by `make check`:
#   1. docker-compose.yml is valid (docker-compose config -q; no engine needed)
#   2. tracked *.c/*.h files match .clang-format (when the file exists)
#   3. tracked shell scripts parse (bash -n)
# Prints each check and its result; exits 1 if any failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

failed=()

pass() { echo "check: $1: ok"; }
fail() {
	echo "check: $1: FAILED${2:+ ($2)}" >&2
	failed+=("$1")
}

check_compose() {
	local name="docker-compose.yml"
	local compose=()
	if command -v docker-compose >/dev/null 2>&1; then
		compose=(docker-compose)
	elif docker compose version >/dev/null 2>&1; then
		compose=(docker compose)
	else
		fail "$name" "neither docker-compose nor docker compose found; run make deps"
		return
	fi
	echo "check: $name: ${compose[*]} config -q"
	# a dummy secret only so that ${TM_JWT_SECRET:?} interpolates; nothing is started
	if TM_JWT_SECRET=check-only-not-a-secret "${compose[@]}" -f docker-compose.yml config -q; then
		pass "$name"
	else
		fail "$name"
	fi
}

check_format() {
	local name="clang-format"
	if [ ! -f .clang-format ]; then
		echo "check: $name: skipped (no .clang-format)"
		return
	fi
	if ! command -v clang-format >/dev/null 2>&1; then
		fail "$name" "clang-format not installed; run make deps"
		return
	fi
	local files=()
	mapfile -t files < <(git ls-files '*.c' '*.h')
	echo "check: $name: ${#files[@]} tracked C files"
	if [ ${#files[@]} -eq 0 ] || clang-format --dry-run --Werror "${files[@]}"; then
		pass "$name"
	else
		fail "$name" "run make fmt"
	fi
}

# Tracked files ending in .sh, or whose first line is a sh/bash shebang.
shell_scripts() {
	local f first
	while IFS= read -r -d '' f; do
		[ -f "$f" ] || continue
		if [[ "$f" == *.sh ]]; then
			printf '%s\n' "$f"
			continue
		fi
		IFS= read -r first <"$f" || true
		if [[ "$first" =~ ^#!.*[/[:space:]](ba)?sh([[:space:]]|$) ]]; then
			printf '%s\n' "$f"
		fi
	done < <(git ls-files -z)
}

check_shell() {
	local name="bash -n" bad=0 f
	local files=()
	mapfile -t files < <(shell_scripts)
	echo "check: $name: ${#files[@]} shell scripts"
	for f in "${files[@]}"; do
		if ! bash -n "$f"; then
			echo "check: $name: $f does not parse" >&2
			bad=1
		fi
	done
	if [ $bad -eq 0 ]; then
		pass "$name"
	else
		fail "$name"
	fi
}

check_compose
check_format
check_shell

if [ ${#failed[@]} -gt 0 ]; then
	echo "check: ${#failed[@]} failed: ${failed[*]}" >&2
	exit 1
fi
echo "check: all passed"
