package netsim

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

func supported() error { return nil }

// joinNetNS moves the calling OS thread into the network namespace fd.
func joinNetNS(fd int) error { return unix.Setns(fd, unix.CLONE_NEWNET) }

// processAlive reports whether process pid still runs.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func killProcess(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// KillWithStarter sets cmd's process attributes to just this: killed when
// the OS thread that starts it ends (PR_SET_PDEATHSIG), so that a test's
// browser does not outlive it.
func KillWithStarter(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
