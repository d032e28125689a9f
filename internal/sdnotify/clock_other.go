//go:build !linux

package sdnotify

// monotonicUsec has no systemd clock to read off Linux: Reloading sends
// RELOADING=1 alone.
func monotonicUsec() (int64, bool) { return 0, false }
