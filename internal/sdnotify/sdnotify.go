// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): it
// tells the service manager when the appliance is ready, reloading or
// stopping, and sends watchdog keep-alives.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends state lines to $NOTIFY_SOCKET. The zero value, or one
// made where NOTIFY_SOCKET is unset, sends nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET ("@name" is an abstract
// socket). Without the variable it returns a Notifier that does nothing.
func FromEnv() *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return &Notifier{}
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Enabled reports whether there is a socket to notify.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends state, e.g. "READY=1" or "STATUS=serving". It does nothing
// when not Enabled.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready says the service is up.
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Reloading says a reload began (Type=notify-reload semantics); the
// service must send Ready when it is done.
func (n *Notifier) Reloading() error {
	usec, ok := monotonicUsec()
	if !ok {
		return n.Notify("RELOADING=1")
	}
	return n.Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Stopping says shutdown began.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Watchdog sends one watchdog keep-alive.
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// WatchdogInterval returns how often the service manager expects a
// keep-alive ($WATCHDOG_USEC, for this process per $WATCHDOG_PID), or 0
// when the watchdog is off.
func WatchdogInterval() (time.Duration, error) {
	s := os.Getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	usec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || usec <= 0 {
		return 0, errors.New("sd_notify: bad WATCHDOG_USEC " + strconv.Quote(s))
	}
	return time.Duration(usec) * time.Microsecond, nil
}
