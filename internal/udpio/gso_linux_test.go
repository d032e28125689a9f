//go:build linux

package udpio

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestQueueGSOTrains echoes a burst through Loop.Queue: the datagrams of
// one wake-up go to one destination, so they leave as UDP_SEGMENT trains,
// and a shorter datagram ends a train. Every datagram must arrive by
// itself, with its own size, in order.
func TestQueueGSOTrains(t *testing.T) {
	g := newTestGroup(t, 1)
	l := g.Loop(0)
	s, err := l.Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"), Options{ReadBuffer: 4 << 20},
		HandlerFunc(func(s *Socket, buf []byte, n int, src netip.AddrPort) {
			s.Loop().Queue(s, buf[Headroom:Headroom+n], src, nil)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(4 << 20)
	size := func(i int) int { // mostly 300 B; every seventh shorter, every 50th longer
		switch {
		case i%50 == 49:
			return 900
		case i%7 == 6:
			return 120
		}
		return 300
	}
	const total = 400
	for round := 0; round < 5 && l.gsoSends.Load() == 0; round++ {
		for i := range total {
			msg := bytes.Repeat([]byte{byte(i)}, size(i))
			binary.BigEndian.PutUint32(msg, uint32(i))
			if _, err := c.WriteToUDPAddrPort(msg, s.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 4096)
		for i := range total {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("round %d: datagram %d of %d: %v", round, i, total, err)
			}
			want := bytes.Repeat([]byte{byte(i)}, size(i))
			binary.BigEndian.PutUint32(want, uint32(i))
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("round %d: datagram %d: got %d bytes (seq %d), want %d", round, i, n, binary.BigEndian.Uint32(buf), len(want))
			}
		}
	}
	if l.gsoSends.Load() == 0 {
		t.Fatal("five bursts of same-size datagrams to one address and not one UDP_SEGMENT send")
	}
	if s.noGSO.Load() {
		t.Fatal("GSO turned off on a loopback socket")
	}
}
