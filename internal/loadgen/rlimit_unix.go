//go:build unix

package loadgen

import "syscall"

// RaiseNoFile lifts RLIMIT_NOFILE to its hard limit: a load generator
// holds one socket per client.
func RaiseNoFile() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
