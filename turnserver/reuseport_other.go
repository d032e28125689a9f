//go:build !linux

package turnserver

import "syscall"

// Elsewhere one socket serves each listen_udp address.
const reusePortSupported = false

func setReusePort(string, string, syscall.RawConn) error { return nil }
