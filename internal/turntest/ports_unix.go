//go:build unix

package turntest

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// lockFiles keeps every open lock file reachable: a collected *os.File is
// closed by its finalizer, which would drop its lock.
var (
	lockMu    sync.Mutex
	lockFiles = map[*os.File]bool{} // guarded by lockMu
)

// lockBlock takes an exclusive flock on path without waiting. The lock
// belongs to the open file: another open of it, in this process or
// another, is refused until release closes it or the process ends.
func lockBlock(path string) (release func(), ok bool) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	lockMu.Lock()
	lockFiles[f] = true
	lockMu.Unlock()
	return func() {
		lockMu.Lock()
		delete(lockFiles, f)
		lockMu.Unlock()
		_ = f.Close()
	}, true
}
