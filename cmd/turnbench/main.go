// Command turnbench is a load generator for any TURN server that takes
// TURN REST API credentials (coturn's use-auth-secret, StreamSync, eturnal,
// pion): it opens N UDP allocations, binds a channel on each to a loopback
// echo peer, sends datagrams of a given size through the relays and back at
// a set rate (or as fast as a window of datagrams in flight allows), and
// reports packets/s, Mbit/s, loss, round-trip percentiles, the allocation
// setup rate and, with -pid, the server's CPU time and RSS from /proc.
//
//	turnbench -server 127.0.0.1:3478 -secret S -realm R -allocs 100 -size 1200 -rate 20000 -pid 1234
//
// The echo peers listen on -peer-ip (default 127.0.0.2): the server must
// allow relaying to it (StreamSync: allowed_peer_ranges = ["127.0.0.0/8"] and
// allow_loopback_peers = true; coturn: allow-loopback-peers). Output: a table on stderr and one JSON line
// on stdout.
//
//	turnbench report RESULTS.jsonl [CANDIDATE BASELINE]
//
// prints a Markdown comparison of the JSON lines of several runs: the
// median over rounds of each figure and the ratio candidate/baseline
// (default streamsync and coturn).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	"github.com/streamsync/streamsync/internal/loadgen"
	"github.com/streamsync/streamsync/internal/procstat"
)

// result is one run's figures; it is the JSON line.
type result struct {
	Label        string  `json:"label"`
	Load         string  `json:"load,omitempty"` // "" turnbench's own clients; "uclient" turnutils_uclient's
	Allocs       int     `json:"allocs"`
	Size         int     `json:"size"`
	Rate         float64 `json:"rate"` // offered datagrams/s; 0 = windowed saturation
	Window       int64   `json:"window,omitempty"`
	Seconds      float64 `json:"seconds"`
	SetupSeconds float64 `json:"setup_seconds"`
	AllocsPerSec float64 `json:"allocs_per_sec"`
	RoundTrips   uint64  `json:"round_trips"`
	RTPerSec     float64 `json:"rt_per_sec"`  // echoes received per second
	RelayedPPS   float64 `json:"relayed_pps"` // datagrams relayed per second, both directions (2 per round trip)
	Mbps         float64 `json:"mbps"`        // payload relayed, both directions
	LossPct      float64 `json:"loss_pct"`    // datagrams sent that never came back
	RTTP50us     float64 `json:"rtt_p50_us"`
	RTTP99us     float64 `json:"rtt_p99_us"`
	RTTP999us    float64 `json:"rtt_p999_us"`
	RTTAvgus     float64 `json:"rtt_avg_us,omitempty"`              // uclient load: its average (it prints no percentiles)
	RTTMaxus     float64 `json:"rtt_max_us,omitempty"`              // uclient load: its maximum, in whole ms
	UclientSent  uint64  `json:"uclient_sent,omitempty"`            // uclient load: datagrams its sessions sent, whole run
	UclientRecv  uint64  `json:"uclient_recv,omitempty"`            // and received back
	ServerCPU    float64 `json:"server_cpu_s,omitempty"`            // during the measured window
	ServerSys    float64 `json:"server_sys_s,omitempty"`            // of which in the kernel
	CPUusPerPkt  float64 `json:"server_cpu_us_per_pkt,omitempty"`   // per relayed datagram
	CPUsPerMpkt  float64 `json:"server_cpu_s_per_mpkt,omitempty"`   // per million relayed datagrams
	RSSMB        float64 `json:"server_rss_mb,omitempty"`           // after setup
	RSSPerAlloc  float64 `json:"server_rss_kb_per_alloc,omitempty"` // growth during setup / allocations
	ServerThread int     `json:"server_threads,omitempty"`
	BenchCPU     float64 `json:"bench_cpu_s"` // this process, measured window
}

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "report":
		err = reportMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "report-even":
		err = reportEvenMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "forward":
		err = forwardMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "uclient":
		err = uclientMain(os.Args[2:])
	default:
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnbench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		server   = flag.String("server", "127.0.0.1:3478", "TURN server UDP address (host:port)")
		secret   = flag.String("secret", "", "TURN REST shared secret")
		realm    = flag.String("realm", "streamsync", "realm")
		nAllocs  = flag.Int("allocs", 1, "allocations")
		size     = flag.Int("size", 100, "payload bytes per datagram (>= 16)")
		rate     = flag.Float64("rate", 0, "datagrams per second sent over all allocations; 0 = as fast as -window allows")
		window   = flag.Int64("window", 0, "datagrams in flight per allocation when -rate is 0 (default max(1, 256/allocs))")
		duration = flag.Duration("duration", 5*time.Second, "measured window")
		warmup   = flag.Duration("warmup", time.Second, "load before the measured window")
		pid      = flag.Int("pid", 0, "server process id, for CPU and RSS from /proc (0 = none)")
		label    = flag.String("label", "", "name of the server in the output")
		clientIP = flag.String("client-ip", "127.1.0.1", "first local IP of the client sockets (apart from the relay IP, whose port range it would eat into)")
		nClients = flag.Int("client-ips", 64, "client IPs, from -client-ip on, each in an IPv4 /24 of its own (127.1.0.1, 127.1.1.1, ...); allocation i uses the (i mod n)-th, so per-IP and per-/24 limits see a spread of clients")
		peerIP   = flag.String("peer-ip", "127.0.0.2", "local IP of the echo peers (must differ from the relay address)")
		peers    = flag.Int("peers", 2, "echo peer sockets")
		peerPort = flag.Int("peer-port", 0, "port of the first echo peer (0 = any; the others count up)")
		raw      = flag.Bool("raw", false, "the server is a bare forwarder (turnbench forward -peer <the first echo peer>): plain datagrams, no TURN")
		workers  = flag.Int("workers", 2, "sender goroutines")
		parallel = flag.Int("parallel", 16, "allocations set up at once")
		userBase = flag.String("user", "bench", "REST user; allocation i uses <user>-<i>")
		jsonOnly = flag.Bool("json", false, "print only the JSON line")
	)
	flag.Parse()
	if *secret == "" && !*raw {
		return errors.New("-secret is required")
	}
	if *size < payloadHeader || *size > 1400 {
		return fmt.Errorf("-size must be between %d and 1400", payloadHeader)
	}
	if *nAllocs < 1 {
		return errors.New("-allocs must be at least 1")
	}
	srv, err := netip.ParseAddrPort(*server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	cip, err := netip.ParseAddr(*clientIP)
	if err != nil {
		return fmt.Errorf("-client-ip: %w", err)
	}
	clientIPs := []netip.Addr{cip}
	for len(clientIPs) < *nClients {
		clientIPs = append(clientIPs, nextSubnet(clientIPs[len(clientIPs)-1]))
	}
	pip, err := netip.ParseAddr(*peerIP)
	if err != nil {
		return fmt.Errorf("-peer-ip: %w", err)
	}
	if *window <= 0 {
		*window = int64(max(1, 256 / *nAllocs))
	}
	loadgen.RaiseNoFile()

	res := result{Label: *label, Allocs: *nAllocs, Size: *size, Rate: *rate, Seconds: duration.Seconds()}
	if *rate == 0 {
		res.Window = *window
	}
	sample := func() procstat.Sample {
		if *pid == 0 {
			return procstat.Sample{}
		}
		s, err := procstat.Read(*pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "turnbench: read /proc:", err)
		}
		return s
	}

	var echoes []*echoPeer
	defer func() {
		for _, e := range echoes {
			e.close()
		}
	}()
	for i := range max(1, *peers) {
		port := uint16(0)
		if *peerPort != 0 {
			port = uint16(*peerPort + i)
		}
		e, err := startEcho(pip, port)
		if err != nil {
			return fmt.Errorf("echo peer on %s: %w", pip, err)
		}
		echoes = append(echoes, e)
	}

	// Setup: allocations, then channels.
	before := sample()
	epoch := time.Now()
	allocs := make([]*allocation, *nAllocs)
	defer func() {
		for _, a := range allocs {
			if a != nil {
				a.close()
			}
		}
	}()
	start := time.Now()
	if err := loadgen.ParallelDo(*nAllocs, *parallel, func(i int) error {
		var a *allocation
		var err error
		if *raw {
			a, err = openRaw(i, clientIPs[i%len(clientIPs)], srv, epoch)
		} else {
			a, err = openAllocation(i, clientIPs[i%len(clientIPs)], srv, *realm, *secret, fmt.Sprintf("%s-%d", *userBase, i), epoch)
		}
		allocs[i] = a
		return err
	}); err != nil {
		return err
	}
	res.SetupSeconds = time.Since(start).Seconds()
	res.AllocsPerSec = float64(*nAllocs) / res.SetupSeconds
	if err := loadgen.ParallelDo(*nAllocs, 4**parallel, func(i int) error {
		if *raw {
			return nil
		}
		return allocs[i].bindChannel(echoes[i%len(echoes)].addr(), 10*time.Second)
	}); err != nil {
		return err
	}
	bindSeconds := time.Since(start).Seconds() - res.SetupSeconds
	afterSetup := sample()
	res.RSSMB = float64(afterSetup.RSSBytes) / (1 << 20)
	res.RSSPerAlloc = float64(afterSetup.RSSBytes-before.RSSBytes) / 1024 / float64(*nAllocs)

	// Load: warm-up, measured window, drain.
	l := &load{allocs: allocs, size: *size, rate: *rate, window: *window, workers: max(1, *workers), stop: make(chan struct{})}
	done := make(chan struct{})
	go func() { l.run(); close(done) }()
	time.Sleep(*warmup)
	for _, a := range allocs {
		a.record.Store(true)
	}
	recv0, sent0 := totals(allocs)
	p0, b0 := sample(), selfCPU()
	t0 := time.Now()
	time.Sleep(*duration)
	p1, b1 := sample(), selfCPU()
	elapsed := time.Since(t0).Seconds()
	recv1, _ := totals(allocs)
	for _, a := range allocs {
		a.record.Store(false)
	}
	close(l.stop)
	<-done
	time.Sleep(500 * time.Millisecond) // let the last datagrams come back
	recv2, sent2 := totals(allocs)

	res.RoundTrips = recv1 - recv0
	res.RTPerSec = float64(res.RoundTrips) / elapsed
	res.RelayedPPS = 2 * res.RTPerSec
	res.Mbps = res.RelayedPPS * float64(*size) * 8 / 1e6
	if n := sent2 - sent0; n > 0 && sent2 >= recv2 {
		// Over everything sent from the measured window on, warm-up losses aside.
		res.LossPct = 100 * float64(int64(sent2-sent0)-int64(recv2-recv0)) / float64(n)
		res.LossPct = max(res.LossPct, 0)
	}
	var h histogram
	t2 := time.Now()
	for _, a := range allocs {
		a.close()
		h.merge(&a.rtt)
	}
	clear(allocs)
	if !*jsonOnly {
		fmt.Fprintf(os.Stderr, "phases: allocate %.2fs, bind channels %.2fs, deallocate %.2fs\n",
			res.SetupSeconds, bindSeconds, time.Since(t2).Seconds())
	}
	res.RTTP50us = loadgen.Micros(h.quantile(0.50))
	res.RTTP99us = loadgen.Micros(h.quantile(0.99))
	res.RTTP999us = loadgen.Micros(h.quantile(0.999))
	res.BenchCPU = b1 - b0
	if *pid != 0 {
		res.serverCPU(p0, p1, elapsed)
	}

	line, _ := json.Marshal(res)
	if !*jsonOnly {
		printTable(res)
	}
	fmt.Println(string(line))
	return nil
}

// serverCPU fills in the server's CPU figures between samples p0 and p1,
// elapsed seconds apart, per datagram relayed at r.RelayedPPS.
func (r *result) serverCPU(p0, p1 procstat.Sample, elapsed float64) {
	r.ServerCPU = p1.CPUSeconds - p0.CPUSeconds
	r.ServerSys = p1.SysSeconds - p0.SysSeconds
	r.ServerThread = p1.Threads
	if pkts := r.RelayedPPS * elapsed; pkts > 0 {
		r.CPUusPerPkt = r.ServerCPU / pkts * 1e6
		r.CPUsPerMpkt = r.CPUusPerPkt
	}
}

func totals(allocs []*allocation) (recv, sent uint64) {
	for _, a := range allocs {
		recv += a.recv.Load()
		sent += a.sent.Load()
	}
	return recv, sent
}

func printTable(r result) {
	tw := tabwriter.NewWriter(os.Stderr, 0, 0, 2, ' ', 0)
	mode := fmt.Sprintf("%.0f/s offered", r.Rate)
	if r.Rate == 0 {
		mode = fmt.Sprintf("saturation, window %d", r.Window)
	}
	fmt.Fprintf(tw, "server\t%s\n", r.Label)
	fmt.Fprintf(tw, "load\t%d allocations, %d B, %s, %.0fs\n", r.Allocs, r.Size, mode, r.Seconds)
	fmt.Fprintf(tw, "setup\t%.0f allocations/s (%.2fs)\n", r.AllocsPerSec, r.SetupSeconds)
	fmt.Fprintf(tw, "delivered\t%.0f round trips/s = %.0f relayed pkt/s, %.1f Mbit/s\n", r.RTPerSec, r.RelayedPPS, r.Mbps)
	fmt.Fprintf(tw, "loss\t%.3f %%\n", r.LossPct)
	fmt.Fprintf(tw, "rtt\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs\n", r.RTTP50us, r.RTTP99us, r.RTTP999us)
	if r.ServerCPU > 0 || r.RSSMB > 0 {
		fmt.Fprintf(tw, "server cpu\t%.2fs (%.2fs kernel) = %.2f µs per relayed pkt (%.2f s per million)\n", r.ServerCPU, r.ServerSys, r.CPUusPerPkt, r.CPUsPerMpkt)
		fmt.Fprintf(tw, "server rss\t%.1f MB, %.1f kB per allocation, %d threads\n", r.RSSMB, r.RSSPerAlloc, r.ServerThread)
	}
	fmt.Fprintf(tw, "bench cpu\t%.2fs\n", r.BenchCPU)
	_ = tw.Flush()
}

// nextSubnet is a's address in the next IPv4 /24 (a.b.c.d → a.b.c+1.d,
// carrying into b), or the next IPv6 address: StreamSync caps allocations
// per /24 (max_allocations_per_24), and 1000 allocations from one /24, as
// no real clients come, met it.
func nextSubnet(a netip.Addr) netip.Addr {
	if !a.Is4() {
		return a.Next()
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += 1 << 8
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
