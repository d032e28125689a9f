package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamsync/streamsync/internal/procstat"
)

// The uclient load: coturn's own client, turnutils_uclient, as the load
// generator, so that the datagrams arrive paced the way coturn's authors
// measure (each session sends one datagram every -z ms, the sessions
// started at random offsets, so the load is spread evenly in time). It
// runs in legacy mode (no sender or listener threads: 4.17's threads
// coalesce each tick's sends into bursts), on channels (its default), with
// no RTCP allocations (-c). The echo peer runs here and counts: the
// relayed datagrams of the measured window are the echoes it sent and the
// datagrams it received, so the figure is the same for every server
// whatever its own counters.

// countingEcho is a UDP echo that counts datagrams and the distinct
// sources it has heard.
type countingEcho struct {
	conn    *net.UDPConn
	echoed  atomic.Uint64
	sources atomic.Int64
	done    chan struct{}
}

func startCountingEcho(addr netip.AddrPort) (*countingEcho, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	e := &countingEcho{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		seen := make(map[netip.AddrPort]struct{})
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, ok := seen[from]; !ok && len(seen) < 1<<16 {
				seen[from] = struct{}{}
				e.sources.Store(int64(len(seen)))
			}
			if _, err := conn.WriteToUDPAddrPort(buf[:n], from); err == nil {
				e.echoed.Add(1)
			}
		}
	}()
	return e, nil
}

func (e *countingEcho) addr() netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (e *countingEcho) close() {
	_ = e.conn.Close()
	<-e.done
}

// uclientTotals is what turnutils_uclient prints at its end.
type uclientTotals struct {
	sent, recv uint64
	rttAvgMs   float64
	rttMaxMs   float64
	lines      int // summaries found
}

var (
	reTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
	reRTT    = regexp.MustCompile(`Average round trip delay ([0-9.]+) ms; min = \d+ ms, max = (\d+) ms`)
)

// parseUclient adds the summary in out (one process's output) to t.
func (t *uclientTotals) parse(out []byte) {
	var sent, recv uint64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := reTotals.FindSubmatch(sc.Bytes()); m != nil && bytes.Contains(sc.Bytes(), []byte("start_mclient: tot_send_msgs")) {
			sent, _ = strconv.ParseUint(string(m[1]), 10, 64)
			recv, _ = strconv.ParseUint(string(m[2]), 10, 64)
			found = true
		}
		if m := reRTT.FindSubmatch(sc.Bytes()); m != nil {
			avg, _ := strconv.ParseFloat(string(m[1]), 64)
			mx, _ := strconv.ParseFloat(string(m[2]), 64)
			// Averages of the processes, weighted by what each received.
			if t.recv+recv > 0 {
				t.rttAvgMs = (t.rttAvgMs*float64(t.recv) + avg*float64(recv)) / float64(t.recv+recv)
			}
			t.rttMaxMs = max(t.rttMaxMs, mx)
		}
	}
	if found {
		t.sent += sent
		t.recv += recv
		t.lines++
	}
}

// uclientConfig is one uclient load.
type uclientConfig struct {
	uclient  string
	server   netip.AddrPort
	secret   string
	clients  int
	perProc  int
	size     int
	interval time.Duration
	clientIP netip.Addr
	peer     netip.AddrPort
	duration time.Duration
	settle   time.Duration
	pid      int
	label    string
}

// ramp is the longest a uclient session waits to start sending after the
// allocations are set up: 1 s plus a random offset below 5 s.
const ramp = 6 * time.Second

func uclientMain(args []string) error {
	fs := flag.NewFlagSet("uclient", flag.ContinueOnError)
	var c uclientConfig
	var server, clientIP, peer string
	jsonOnly := fs.Bool("json", false, "print only the JSON line")
	fs.StringVar(&c.uclient, "uclient", "turnutils_uclient", "turnutils_uclient binary (coturn 4.17's works with every server)")
	fs.StringVar(&server, "server", "127.0.0.1:3478", "TURN server UDP address")
	fs.StringVar(&c.secret, "secret", "", "TURN REST shared secret")
	fs.IntVar(&c.clients, "clients", 100, "sessions over all uclient processes")
	fs.IntVar(&c.perProc, "per-proc", 10, "sessions per uclient process; each process has its own REST user and local IP, so StreamSync's default quotas (32 allocations per user; a burst of 40 unauthenticated requests per IP) stay on: 25 sessions of one user already met the user quota (486)")
	fs.IntVar(&c.size, "size", 1000, "payload bytes per datagram")
	fs.DurationVar(&c.interval, "interval", 5*time.Millisecond, "time between two datagrams of one session (whole milliseconds)")
	fs.StringVar(&clientIP, "client-ip", "127.1.0.1", "local IP of the first process; the others count up")
	fs.StringVar(&peer, "peer", "127.0.0.2:0", "address of the echo peer this command runs")
	fs.DurationVar(&c.duration, "duration", 8*time.Second, "measured window, once every session sends")
	fs.DurationVar(&c.settle, "settle", 300*time.Millisecond, "wait between the last session's first datagram and the window")
	fs.IntVar(&c.pid, "pid", 0, "server process id, for its CPU time from /proc")
	fs.StringVar(&c.label, "label", "", "name of the server in the output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.server, err = netip.ParseAddrPort(server); err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	if c.clientIP, err = netip.ParseAddr(clientIP); err != nil {
		return fmt.Errorf("-client-ip: %w", err)
	}
	if c.peer, err = netip.ParseAddrPort(peer); err != nil {
		return fmt.Errorf("-peer: %w", err)
	}
	if c.secret == "" || c.clients < 1 || c.perProc < 1 || c.interval < time.Millisecond {
		return errors.New("need -secret, -clients >= 1, -per-proc >= 1, -interval >= 1ms")
	}
	res, err := runUclient(context.Background(), c)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(res)
	if !*jsonOnly {
		fmt.Fprintf(os.Stderr, "%s: %d sessions × %d B every %s: %.0f relayed pkt/s, %.2f µs server CPU per pkt, loss %.3f %%, rtt avg %.0f µs, max %.0f µs\n",
			res.Label, res.Allocs, res.Size, c.interval, res.RelayedPPS, res.CPUusPerPkt, res.LossPct, res.RTTAvgus, res.RTTMaxus)
	}
	fmt.Println(string(line))
	return nil
}

// runUclient runs the uclient processes against c.server and measures the
// server over c.duration once every session has started sending.
func runUclient(ctx context.Context, c uclientConfig) (result, error) {
	res := result{Label: c.label, Load: "uclient", Allocs: c.clients, Size: c.size,
		Rate: float64(c.clients) / c.interval.Seconds(), Seconds: c.duration.Seconds()}
	echo, err := startCountingEcho(c.peer)
	if err != nil {
		return res, err
	}
	defer echo.close()
	peer := echo.addr()

	// Every session sends for the ramp, the window and a margin.
	msgs := int((ramp + c.settle + c.duration + 2*time.Second) / c.interval)
	ctx, cancel := context.WithTimeout(ctx, ramp+c.settle+c.duration+2*time.Second+2*time.Minute)
	defer cancel()
	type proc struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var procs []*proc
	ip := c.clientIP
	for left, i := c.clients, 0; left > 0; i++ {
		m := min(left, c.perProc)
		left -= m
		p := &proc{}
		p.cmd = exec.CommandContext(ctx, c.uclient,
			"-c", "--no-even-port", "--sender-threads", "0", "-K", "0",
			"-W", c.secret, "-u", fmt.Sprintf("uclient%d", i),
			"-p", strconv.Itoa(int(c.server.Port())),
			"-e", peer.Addr().String(), "-r", strconv.Itoa(int(peer.Port())),
			"-L", ip.String(), "-m", strconv.Itoa(m), "-n", strconv.Itoa(msgs),
			"-l", strconv.Itoa(c.size), "-z", strconv.Itoa(int(c.interval/time.Millisecond)),
			c.server.Addr().String())
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = &p.out
		if err := p.cmd.Start(); err != nil {
			return res, fmt.Errorf("start %s: %w", c.uclient, err)
		}
		procs = append(procs, p)
		ip = ip.Next()
	}
	var wg sync.WaitGroup
	exited := make(chan struct{})
	var running atomic.Int64
	running.Store(int64(len(procs)))
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.cmd.Wait()
			if running.Add(-1) == 0 {
				close(exited)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	output := func() string {
		var b bytes.Buffer
		for _, p := range procs {
			b.Write(tail(p.out.Bytes(), 2000))
		}
		return b.String()
	}

	// Wait for every session's first datagram.
	deadline := time.Now().Add(time.Minute + ramp)
	for echo.sources.Load() < int64(c.clients) {
		select {
		case <-exited:
			return res, fmt.Errorf("turnutils_uclient ended before all %d sessions sent (%d did):\n%s", c.clients, echo.sources.Load(), output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d sessions sent within %s:\n%s", echo.sources.Load(), c.clients, time.Minute+ramp, output())
		}
	}
	time.Sleep(c.settle)
	sample := func() procstat.Sample {
		if c.pid == 0 {
			return procstat.Sample{}
		}
		s, _ := procstat.Read(c.pid)
		return s
	}
	e0, s0, t0 := echo.echoed.Load(), sample(), time.Now()
	time.Sleep(c.duration)
	e1, s1, elapsed := echo.echoed.Load(), sample(), time.Since(t0).Seconds()
	select {
	case <-exited:
		return res, errors.New("turnutils_uclient ended inside the measured window: raise -n")
	default:
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return res, fmt.Errorf("turnutils_uclient did not finish: %w", ctx.Err())
	}

	var tot uclientTotals
	for _, p := range procs {
		tot.parse(p.out.Bytes())
	}
	if tot.lines != len(procs) {
		return res, fmt.Errorf("%d of %d turnutils_uclient processes printed their totals:\n%s", tot.lines, len(procs), output())
	}
	res.RoundTrips = e1 - e0
	res.RTPerSec = float64(res.RoundTrips) / elapsed
	res.RelayedPPS = 2 * res.RTPerSec
	res.Mbps = res.RelayedPPS * float64(c.size) * 8 / 1e6
	if tot.sent > 0 {
		res.LossPct = max(0, 100*(float64(tot.sent)-float64(tot.recv))/float64(tot.sent))
	}
	res.UclientSent, res.UclientRecv = tot.sent, tot.recv
	res.RTTAvgus = tot.rttAvgMs * 1000
	res.RTTMaxus = tot.rttMaxMs * 1000
	res.BenchCPU = childrenCPU()
	if c.pid != 0 {
		res.serverCPU(s0, s1, elapsed)
	}
	return res, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
