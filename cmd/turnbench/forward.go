package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// forwarder is the floor the relay is measured against: a bare UDP
// forwarder with no TURN, no policy and no counters, that makes the same
// system calls per datagram as a relay without batching — one receive and
// one send per direction. Each client address gets a socket of its own
// towards the peer (as a TURN allocation gets a relay socket), read by a
// goroutine of its own that sends the peer's answers back through the
// listening socket. Flows are never forgotten: it serves a benchmark run,
// bounded by maxFlows.
type forwarder struct {
	ln   *net.UDPConn
	peer netip.AddrPort

	mu     sync.Mutex // guards flows and closed; serve reads flows without it, being its only writer
	flows  map[netip.AddrPort]*net.UDPConn
	closed bool
	wg     sync.WaitGroup
}

// maxFlows bounds the forwarder's upstream sockets.
const maxFlows = 4096

func newForwarder(listen, peer netip.AddrPort) (*forwarder, error) {
	ln, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(listen))
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", listen, err)
	}
	_ = ln.SetReadBuffer(4 << 20)
	_ = ln.SetWriteBuffer(4 << 20)
	return &forwarder{ln: ln, peer: peer, flows: make(map[netip.AddrPort]*net.UDPConn)}, nil
}

func (f *forwarder) addr() netip.AddrPort { return f.ln.LocalAddr().(*net.UDPAddr).AddrPort() }

// serve forwards until the listening socket is closed.
func (f *forwarder) serve() error {
	buf := make([]byte, 65536)
	for {
		n, client, err := f.ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		up := f.flows[client] // written only here; the lock is for close
		if up == nil {
			if up, err = f.open(client); err != nil {
				continue
			}
		}
		_, _ = up.WriteToUDPAddrPort(buf[:n], f.peer)
	}
}

func (f *forwarder) open(client netip.AddrPort) (*net.UDPConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || len(f.flows) >= maxFlows {
		return nil, errors.New("closed or too many flows")
	}
	up, err := net.ListenUDP("udp4", &net.UDPAddr{IP: f.addr().Addr().AsSlice()})
	if err != nil {
		return nil, err
	}
	_ = up.SetReadBuffer(1 << 20)
	f.flows[client] = up
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := up.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = f.ln.WriteToUDPAddrPort(buf[:n], client)
		}
	}()
	return up, nil
}

func (f *forwarder) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for _, up := range f.flows {
		_ = up.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// forwardMain is `turnbench forward -listen ADDR -peer ADDR`: it runs the
// forwarder until SIGINT or SIGTERM.
func forwardMain(args []string) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "UDP address clients send to")
	peer := fs.String("peer", "", "UDP address every datagram is forwarded to (the echo peer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	la, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	pa, err := netip.ParseAddrPort(*peer)
	if err != nil {
		return fmt.Errorf("-peer: %w", err)
	}
	f, err := newForwarder(la, pa)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; f.close() }()
	return f.serve()
}
