#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, only where missing:
# Debian's chromium (browser end-to-end tests), iproute2/nftables and
# libnss3-tools (network-namespace tests). Go modules come through `go mod download`.
# Safe to run again; does nothing when everything is present.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools) # the network tests' browsers trust a test CA
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)

if ((${#need[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "test-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
		exit 1
	fi
	echo "test-deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
"$(dirname "$0")/install-pebble.sh"
