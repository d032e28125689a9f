#!/usr/bin/env bash
# scripts/coturn-build.sh — builds coturn 4.17.1 (turnserver, turnutils_uclient,
# turnutils_peer) for `make bench` from the tarball in ../shared/thirdparty
# (or $COTURN_TARBALL), once: the result is cached in .cache/coturn-4.17.1/
# (ignored by git) and reused while the tarball's checksum is the same.
# Installs the build dependencies with apt-get when missing (root, Debian).
# Prints the directory holding the three binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.17.1
SHA256=5db79a4814fd25e87c0da1bd01072d348e2e86c6299534b780750398a2b49867
TARBALL=${COTURN_TARBALL:-}
if [ -z "$TARBALL" ]; then
	for d in ../shared/thirdparty ../../shared/thirdparty /work/shared/thirdparty; do
		if [ -f "$d/coturn-$VERSION.tar.gz" ]; then
			TARBALL=$d/coturn-$VERSION.tar.gz
			break
		fi
	done
fi
CACHE=$PWD/.cache/coturn-$VERSION
BIN=$CACHE/build/bin
if [ -x "$BIN/turnserver" ] && [ -x "$BIN/turnutils_uclient" ] && [ -x "$BIN/turnutils_peer" ] &&
	[ "$(cat "$CACHE/.sha256" 2>/dev/null)" = "$SHA256" ]; then
	echo "$BIN"
	exit 0
fi
if [ -z "$TARBALL" ] || [ ! -f "$TARBALL" ]; then
	echo "coturn-build: coturn-$VERSION.tar.gz not found (set COTURN_TARBALL)" >&2
	exit 1
fi
if [ "$(sha256sum "$TARBALL" | cut -d' ' -f1)" != "$SHA256" ]; then
	echo "coturn-build: $TARBALL: sha256 differs from $SHA256" >&2
	exit 1
fi

# Debian 12's packages, as the tarball's README names them.
DEPS="libevent-dev libssl-dev libmicrohttpd-dev libsystemd-dev cmake pkg-config build-essential"
missing=
for p in $DEPS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "coturn-build: missing build dependencies:$missing (Debian: apt-get install -y$missing)" >&2
		exit 1
	fi
	echo "coturn-build: installing$missing" >&2
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $missing >&2
fi

echo "coturn-build: building coturn $VERSION in $CACHE (about 2 minutes on 2 cores)" >&2
rm -rf "$CACHE"
mkdir -p "$CACHE/src"
tar -xzf "$TARBALL" -C "$CACHE/src" --strip-components=1
mkdir -p "$CACHE/build"
(
	cd "$CACHE/build"
	cmake -DCMAKE_BUILD_TYPE=Release ../src >"$CACHE/cmake.log" 2>&1
	make -j"$(nproc)" turnserver turnutils_uclient turnutils_peer >"$CACHE/make.log" 2>&1
) || {
	echo "coturn-build: build failed; see $CACHE/cmake.log and $CACHE/make.log" >&2
	exit 1
}
for b in turnserver turnutils_uclient turnutils_peer; do
	if [ ! -x "$BIN/$b" ]; then
		found=$(find "$CACHE/build" -type f -name "$b" -perm -u+x | head -1)
		[ -n "$found" ] || { echo "coturn-build: no $b after the build" >&2; exit 1; }
		mkdir -p "$BIN"
		ln -sf "$found" "$BIN/$b"
	fi
done
echo "$SHA256" >"$CACHE/.sha256"
echo "$BIN"
