//go:build !unix

package loadgen

// RaiseNoFile does nothing where there is no RLIMIT_NOFILE.
func RaiseNoFile() {}
