//go:build !linux

package turnserver

// Elsewhere one socket serves each listen_udp address.
const reusePortSupported = false
