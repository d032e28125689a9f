#!/usr/bin/env bash
# Installs Let's Encrypt's ACME test server, Pebble, for the ACME end-to-end
# test of internal/certs (TestACMEWithPebble), into $(go env GOPATH)/bin
# through the Go module proxy. Does nothing when that version is there.
# Without it the test builds Pebble itself into the user cache directory.
set -euo pipefail

version=v2.10.1 # keep in step with pebbleVersion in internal/certs/pebble_test.go
bin="$(go env GOPATH)/bin/pebble"

if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "github.com/letsencrypt/pebble/v2[[:space:]]*$version"; then
	exit 0
fi
echo "install-pebble: installing github.com/letsencrypt/pebble/v2/cmd/pebble@$version" >&2
# Outside any module, so our go.mod is not touched; static, so it uses Go's
# own resolver like the tests.
cd "$(mktemp -d)"
CGO_ENABLED=0 GOFLAGS= go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$version"
