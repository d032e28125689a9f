package main

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// echoPeer is a UDP peer on loopback that sends every datagram back to
// where it came from (the allocation's relay address).
type echoPeer struct {
	conn *net.UDPConn
	done chan struct{}
}

func startEcho(ip netip.Addr, port uint16) (*echoPeer, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port)))
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	e := &echoPeer{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return e, nil
}

func (e *echoPeer) addr() *net.UDPAddr { return e.conn.LocalAddr().(*net.UDPAddr) }

func (e *echoPeer) close() {
	_ = e.conn.Close()
	<-e.done
}

// load drives datagrams through the allocations until stop is closed.
type load struct {
	allocs  []*allocation
	size    int           // payload bytes per datagram
	rate    float64       // datagrams per second over all allocations; 0 = as fast as the window allows
	window  int64         // datagrams in flight per allocation when rate is 0
	workers int           // sender goroutines
	stop    chan struct{} // closed to stop sending
}

// run starts the senders and returns when they have all stopped.
func (l *load) run() {
	var wg sync.WaitGroup
	for w := range l.workers {
		var mine []*allocation
		for i := w; i < len(l.allocs); i += l.workers {
			mine = append(mine, l.allocs[i])
		}
		if len(mine) == 0 {
			continue
		}
		wg.Add(1)
		if l.rate > 0 {
			share := l.rate * float64(len(mine)) / float64(len(l.allocs))
			go func() { defer wg.Done(); l.paced(mine, share) }()
		} else {
			wake := make(chan struct{}, 1)
			for _, a := range mine {
				a.wake = wake
			}
			go func() { defer wg.Done(); l.windowed(mine, wake) }()
		}
	}
	wg.Wait()
}

// paced sends rate datagrams per second round-robin over allocs, catching
// up every millisecond on what is due (open loop: lost datagrams do not
// slow the sender).
func (l *load) paced(allocs []*allocation, rate float64) {
	start := time.Now()
	var sent int64
	next := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*rate) - sent
		// After a stall (GC, descheduling), do not burst more than 50 ms worth.
		if maxBurst := int64(rate/20) + 1; due > maxBurst {
			sent += due - maxBurst
			due = maxBurst
		}
		for ; due > 0; due-- {
			_ = allocs[next].send(l.size)
			next = (next + 1) % len(allocs)
			sent++
		}
	}
}

// reclaimAfter is how long an allocation with a full window may hear
// nothing back before its datagrams in flight are taken as lost. It is
// well above any queueing delay, so that a slow relay is not flooded with
// extra datagrams (which only lengthens its queues).
const reclaimAfter = 300 * time.Millisecond

// windowed keeps up to l.window datagrams in flight on each allocation
// (closed loop). An allocation whose window stays full for reclaimAfter
// with nothing coming back gets it reopened: its datagrams were lost.
func (l *load) windowed(allocs []*allocation, wake chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		progress := false
		for _, a := range allocs {
			for a.inflight.Load() < l.window {
				_ = a.send(l.size)
				progress = true
			}
		}
		select {
		case <-l.stop:
			return
		default:
		}
		if progress {
			continue
		}
		timer.Reset(20 * time.Millisecond)
		select {
		case <-l.stop:
			return
		case <-wake:
		case <-timer.C:
			for _, a := range allocs {
				quiet := time.Since(a.epoch) - time.Duration(a.lastRecv.Load())
				if a.inflight.Load() >= l.window && quiet > reclaimAfter && time.Since(a.lastSend()) > reclaimAfter {
					a.inflight.Store(0)
				}
			}
		}
	}
}
