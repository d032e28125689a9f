#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, only where missing:
# Debian's chromium and firefox-esr (browser end-to-end tests), iproute2/nftables and
# libnss3-tools (network-namespace tests), lintian (the .deb) and
# prometheus (for promtool), npm (the page's type check). Go modules come through
# `go mod download`; TypeScript, pinned by scripts/jscheck/package-lock.json,
# through `npm ci` into .cache/jscheck (git ignores it).
# Safe to run again; does nothing when everything is present.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr) # driven over its own WebDriver BiDi agent
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools) # the network tests' browsers trust a test CA
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v lintian >/dev/null 2>&1 || need+=(lintian)     # checks the .deb (packaging/deb)
command -v promtool >/dev/null 2>&1 || need+=(prometheus) # promtool checks contrib/prometheus
command -v npm >/dev/null 2>&1 || need+=(npm)               # installs tsc for make jscheck (brings nodejs)

if ((${#need[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "test-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
		exit 1
	fi
	echo "test-deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Only promtool is wanted from the prometheus package: keep its server
	# from being started by the install (policy-rc.d(8)) when nothing else
	# decides that already.
	if [[ " ${need[*]} " == *" prometheus "* && ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
"$(dirname "$0")/install-pebble.sh"

# TypeScript for make jscheck, installed again only when the lock file changed
# (the stamp is written after a complete install).
root="$(cd "$(dirname "$0")/.." && pwd)"
js="$root/.cache/jscheck"
if ! cmp -s "$root/scripts/jscheck/package-lock.json" "$js/installed.lock" || [ ! -x "$js/node_modules/.bin/tsc" ]; then
	rm -f "$js/installed.lock"
	mkdir -p "$js"
	cp "$root/scripts/jscheck/package.json" "$root/scripts/jscheck/package-lock.json" "$js/"
	(cd "$js" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	cp "$js/package-lock.json" "$js/installed.lock"
fi
