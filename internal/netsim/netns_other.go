//go:build !linux

package netsim

import (
	"errors"
	"os/exec"
)

// errNotLinux is why simulated networks cannot be built here: they are
// Linux network namespaces, veth pairs and nftables.
var errNotLinux = errors.New("network namespaces need Linux")

func supported() error { return errNotLinux }

func joinNetNS(int) error { return errNotLinux }

func processAlive(int) bool { return false }

func killProcess(int) {}

// KillWithStarter does nothing off Linux: no parent-death signal.
func KillWithStarter(*exec.Cmd) {}
