package turntest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Relay port ranges are handed out in blocks of portBlock ports between
// firstPort and lastPort: above the well-known ports and below Linux's
// ephemeral range (32768-60999), so that no test listener on port 0 and no
// client socket lands in a relay range.
const (
	firstPort = 20000
	lastPort  = 32699
	portBlock = 100
	blocks    = (lastPort - firstPort + 1) / portBlock
)

// reserveWait bounds how long RelayPorts waits for free blocks while
// other tests hold them.
const reserveWait = 2 * time.Minute

// Ports is a reserved relay port range, Min through Max.
type Ports struct {
	Min, Max int
	release  func()
}

// TOML is the range as the [turn] keys relay_port_min and relay_port_max.
func (p Ports) TOML() string {
	return fmt.Sprintf("relay_port_min = %d\nrelay_port_max = %d\n", p.Min, p.Max)
}

// RelayPorts reserves n consecutive relay ports that no other test holds,
// in this process or another (test binaries of several packages run at
// once, and several checkouts on one machine), until t ends. n is rounded
// up to whole blocks for the reservation; the range returned has n ports.
func RelayPorts(t testing.TB, n int) Ports {
	t.Helper()
	p, err := ReserveRelayPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.release)
	return p
}

// ReserveRelayPorts is RelayPorts held until the process exits, for a
// package's shared test configuration that no single test owns.
func ReserveRelayPorts(n int) (Ports, error) {
	need := (n + portBlock - 1) / portBlock
	if n < 1 || need > blocks {
		return Ports{}, fmt.Errorf("turntest: %d relay ports asked, 1 to %d can be reserved", n, blocks*portBlock)
	}
	dir := lockDir()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return Ports{}, fmt.Errorf("turntest: relay port locks: %w", err)
	}
	deadline := time.Now().Add(reserveWait)
	for {
		// Start at a random block, so that concurrent reservations rarely
		// try the same blocks first.
		start := rand.IntN(blocks)
		for i := range blocks {
			b := (start + i) % blocks
			if b+need > blocks {
				continue
			}
			if release, ok := lockBlocks(dir, b, need); ok {
				lo := firstPort + b*portBlock
				return Ports{Min: lo, Max: lo + n - 1, release: release}, nil
			}
		}
		if time.Now().After(deadline) {
			return Ports{}, fmt.Errorf("turntest: no %d free relay ports in %d-%d after %s (locks in %s)", n, firstPort, lastPort, reserveWait, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockDir holds a lock file per block, shared by every test process.
func lockDir() string { return filepath.Join(os.TempDir(), "streamsync-relay-ports") }

// lockBlocks takes blocks b to b+need-1, all or none.
func lockBlocks(dir string, b, need int) (release func(), ok bool) {
	var held []func()
	releaseAll := func() {
		for _, r := range held {
			r()
		}
	}
	for i := b; i < b+need; i++ {
		r, ok := lockBlock(filepath.Join(dir, fmt.Sprintf("%d.lock", firstPort+i*portBlock)))
		if !ok {
			releaseAll()
			return nil, false
		}
		held = append(held, r)
	}
	var once sync.Once
	return func() { once.Do(releaseAll) }, true
}
