//go:build !unix

package turntest

import "sync"

// heldBlocks are the blocks this process holds; without flock, ranges are
// kept apart within one process only.
var (
	heldMu     sync.Mutex
	heldBlocks = map[string]bool{} // guarded by heldMu
)

func lockBlock(path string) (release func(), ok bool) {
	heldMu.Lock()
	defer heldMu.Unlock()
	if heldBlocks[path] {
		return nil, false
	}
	heldBlocks[path] = true
	return func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		delete(heldBlocks, path)
	}, true
}
