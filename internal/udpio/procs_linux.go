//go:build linux

package udpio

import (
	"os"
	"runtime"
	"sync"
)

// A loop's goroutine spends its idle time blocked in epoll_wait, a system
// call, and keeps its P (the scheduler's right to run Go code) while
// there. If the loops held Ps the rest of the program counts on, every
// other goroutine would wait for the sysmon thread to take the P back,
// and sysmon, seeing Ps stuck in system calls with none idle, would poll
// every 20 µs for as long as traffic flows: measured, that polling cost a
// third of the relay's CPU at 20 000 datagrams/s. So GOMAXPROCS is raised
// by one per live loop: Go code keeps the Ps it had, sysmon finds idle Ps
// and backs off, and a loop woken by a datagram finds its P at hand.
var procs struct {
	sync.Mutex
	loops int
	base  int  // GOMAXPROCS before the first loop
	env   bool // GOMAXPROCS was set in the environment: restore it, not the default
}

// Procs is GOMAXPROCS as the program has it, not counting the Ps the
// live loops add: what to size the number of loops by.
func Procs() int {
	procs.Lock()
	defer procs.Unlock()
	if procs.loops > 0 {
		return procs.base
	}
	return runtime.GOMAXPROCS(0)
}

// holdProcs adds delta loops to the count and sets GOMAXPROCS to match.
// With no loop left, the runtime's own setting (and its automatic update
// on CPU quota changes) is restored.
func holdProcs(delta int) {
	procs.Lock()
	defer procs.Unlock()
	if procs.loops == 0 {
		procs.base = runtime.GOMAXPROCS(0)
		_, procs.env = os.LookupEnv("GOMAXPROCS")
	}
	procs.loops += delta
	switch {
	case procs.loops > 0:
		runtime.GOMAXPROCS(procs.base + procs.loops)
	case procs.env:
		runtime.GOMAXPROCS(procs.base)
	default:
		runtime.SetDefaultGOMAXPROCS()
	}
}
