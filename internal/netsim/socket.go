package netsim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Do runs f on an OS thread that has joined the namespace, and returns
// its error. A socket keeps the namespace it was made in, so sockets that
// f opens live in the namespace even when used from other goroutines
// afterwards. The thread is thrown away when f returns (its goroutine
// ends locked), so no other goroutine ever runs in the namespace.
func (ns *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := os.Open(filepath.Join("/run/netns", ns.Name))
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns.Label, err)
			return
		}
		defer fd.Close()
		if err := joinNetNS(int(fd.Fd())); err != nil {
			errc <- fmt.Errorf("join namespace %s: %w", ns.Label, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// DialContext dials from inside the namespace.
func (ns *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// ListenPacket opens a packet socket inside the namespace.
func (ns *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// Listen opens a listening socket inside the namespace.
func (ns *NS) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// HTTPClient is an HTTP client whose connections start inside the
// namespace, e.g. to read an appliance's metrics on the namespace's
// loopback.
func (ns *NS) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       ns.DialContext,
			DisableKeepAlives: true,
		},
	}
}
