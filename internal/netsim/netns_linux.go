package netsim

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func supported() error { return nil }

// joinNetNS moves the calling OS thread into the network namespace fd.
func joinNetNS(fd int) error { return unix.Setns(fd, unix.CLONE_NEWNET) }

// processAlive reports whether process pid still runs.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func killProcess(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
