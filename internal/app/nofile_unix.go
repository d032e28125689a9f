//go:build unix

package app

import "syscall"

// fileLimit is the process's soft RLIMIT_NOFILE, or 0 when unknown.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	return uint64(lim.Cur) //nolint:unconvert // int64 on some systems
}
