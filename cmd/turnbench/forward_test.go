package main

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestForwarderRelaysBothWays sends datagrams from two clients through the
// bare forwarder to an echo peer: each comes back from the forwarder's
// address, to its own client, and each client gets an upstream socket of
// its own (the peer sees two sources).
func TestForwarderRelaysBothWays(t *testing.T) {
	t.Parallel()
	peer, err := startCountingEcho(netip.MustParseAddrPort("127.0.0.2:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.close()
	f, err := newForwarder(netip.MustParseAddrPort("127.0.0.1:0"), peer.addr())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.serve() }()
	defer func() {
		f.close()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	for i := range 2 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := []byte{'c', byte(i), 0xff}
		buf := make([]byte, 64)
		for j := range 3 {
			if _, err := c.WriteToUDPAddrPort(append(msg, byte(j)), f.addr()); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("client %d, datagram %d: %v", i, j, err)
			}
			if from != f.addr() || !bytes.Equal(buf[:n], append(msg, byte(j))) {
				t.Fatalf("client %d got %q from %s, want %q from %s", i, buf[:n], from, append(msg, byte(j)), f.addr())
			}
		}
	}
	if got := peer.sources.Load(); got != 2 {
		t.Fatalf("peer heard %d sources, want one upstream socket per client (2)", got)
	}
	// The echo counts a datagram once its send returns, which may be after
	// the client has read it: the count is final once the echo has stopped
	// (close waits for its goroutine; the deferred second close is a no-op).
	peer.close()
	if got := peer.echoed.Load(); got != 6 {
		t.Fatalf("peer echoed %d datagrams, want 6", got)
	}
}

// TestUclientTotals reads turnutils_uclient's closing lines of two
// processes: sums of what was sent and received, the RTT average weighted
// by what each received, the larger maximum.
func TestUclientTotals(t *testing.T) {
	t.Parallel()
	a := `2026-12-01T20:44:27.099+0000 INFO start_mclient: msz=1, tot_send_msgs=20, tot_recv_msgs=0, tot_send_bytes ~ 2000, tot_recv_bytes ~ 0
2026-12-01T20:44:28.000+0000 INFO start_mclient: tot_send_msgs=1000, tot_recv_msgs=990
2026-12-01T20:44:28.000+0000 INFO Total lost packets 10 (1.000000%), total send dropped 0 (0.000000%)
2026-12-01T20:44:28.000+0000 INFO Average round trip delay 2.000000 ms; min = 0 ms, max = 7 ms
`
	b := `INFO start_mclient: tot_send_msgs=3000, tot_recv_msgs=3000
INFO Average round trip delay 1.000000 ms; min = 0 ms, max = 4 ms
`
	var tot uclientTotals
	tot.parse([]byte(a))
	tot.parse([]byte(b))
	tot.parse([]byte("no summary here\n"))
	if tot.lines != 2 || tot.sent != 4000 || tot.recv != 3990 {
		t.Fatalf("totals %+v, want 2 summaries, 4000 sent, 3990 received", tot)
	}
	if want := (2.0*990 + 1.0*3000) / 3990; tot.rttAvgMs < want-1e-9 || tot.rttAvgMs > want+1e-9 || tot.rttMaxMs != 7 {
		t.Fatalf("rtt avg %.4f max %.0f, want %.4f and 7", tot.rttAvgMs, tot.rttMaxMs, want)
	}
}

// TestReportEven checks the even-load table: the median of the rounds,
// their spread, and the candidate's ratio to the best mode of a reference.
func TestReportEven(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"label":"streamsync","allocs":100,"size":1000,"rate":20000,"server_cpu_us_per_pkt":8,"rtt_p99_us":500}`,
		`{"label":"streamsync","allocs":100,"size":1000,"rate":20000,"server_cpu_us_per_pkt":6,"rtt_p99_us":700}`,
		`{"label":"streamsync","allocs":100,"size":1000,"rate":20000,"server_cpu_us_per_pkt":7,"rtt_p99_us":600}`,
		`{"label":"coturn-4.17.1","allocs":100,"size":1000,"rate":20000,"server_cpu_us_per_pkt":10,"rtt_p99_us":600}`,
		`{"label":"coturn-4.17.1-recvmmsg","allocs":100,"size":1000,"rate":20000,"server_cpu_us_per_pkt":8.75,"rtt_p99_us":600}`,
		`{"label":"streamsync","load":"uclient","allocs":100,"size":1000,"rate":20000,"server_cpu_us_per_pkt":9,"rtt_avg_us":300}`,
		`not json`,
	}
	path := filepath.Join(t.TempDir(), "even.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := reportEven(path, "streamsync", []string{"coturn-4.17"}, &sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"| streamsync | 3 | 7.00 (6.00–8.00) | – |",
		"| coturn-4.17.1 | 1 | 10.00 | **0.70×** | 0 | 0.00 | 0 | 600 (**1.00×**) | 0 |",
		"| streamsync | 3 | 7.00 (6.00–8.00) | – | 0 | 0.00 (0.00–0.00) | 0 | 600 (500–700) (–) | 0 |",
		"streamsync ÷ best of coturn-4.17* (coturn-4.17.1-recvmmsg): CPU per relayed pkt **0.80×**",
		"**turnutils_uclient, 100 sessions × 1000 B every 5 ms**",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
