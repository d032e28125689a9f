package turnserver

import (
	"syscall"

	"golang.org/x/sys/unix"
)

const reusePortSupported = true

// setReusePort is a net.ListenConfig Control that sets SO_REUSEPORT before
// bind. Linux only lets sockets of the same user join the group.
func setReusePort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
