#!/usr/bin/env bash
# Installs the Debian packages taskmesh needs, if any is missing.
#   deploy/deps.sh           report and install
#   deploy/deps.sh --quiet   say nothing when everything is present
set -euo pipefail

PKGS=(
	gcc make pkg-config git
	protobuf-c-compiler libprotobuf-c-dev
	libnng-dev librdkafka-dev libcjson-dev libcmocka-dev libmicrohttpd-dev
	libcurl4-openssl-dev libssl-dev libargon2-dev libpq-dev
	postgresql-15 postgresql-client-15
	wrk docker-compose clang-format curl
)

quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	[ $quiet -eq 1 ] || echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "deps: missing packages (${missing[*]}) and not root; run 'make deps' as root" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
