//go:build unix

package main

import (
	"syscall"
	"time"
)

// selfCPU returns this process's user+system CPU seconds.
func selfCPU() float64 { return cpu(syscall.RUSAGE_SELF) }

// childrenCPU returns the user+system CPU seconds of this process's
// children that have ended (turnutils_uclient).
func childrenCPU() float64 { return cpu(syscall.RUSAGE_CHILDREN) }

func cpu(who int) float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
