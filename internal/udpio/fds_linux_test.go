package udpio

import (
	"net/netip"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Buffer sizes reach the socket (Linux reports twice the size set, for
// its bookkeeping, and at least a minimum).
func TestBufferOptions(t *testing.T) {
	g := newTestGroup(t, 1)
	s, err := g.Loop(0).Listen("udp4", netip.MustParseAddrPort("127.0.0.1:0"),
		Options{ReadBuffer: 65536, WriteBuffer: 32768}, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rcv, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		t.Fatal(err)
	}
	if rcv != 2*65536 || snd != 2*32768 {
		t.Fatalf("SO_RCVBUF %d, SO_SNDBUF %d; want %d and %d", rcv, snd, 2*65536, 2*32768)
	}
}

// Each live loop adds one to GOMAXPROCS (see holdProcs); closing the last
// gives the runtime's setting back.
func TestLoopsRaiseGOMAXPROCS(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	g := newTestGroup(t, 3)
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Fatalf("GOMAXPROCS %d with 3 loops, want %d", got, before+3)
	}
	if err := g.Loop(1).Close(); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Fatalf("GOMAXPROCS %d after closing a loop, want %d", got, before+2)
	}
	_ = g.Close()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS %d after closing every loop, want %d", got, before)
	}
}
