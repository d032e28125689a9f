// Command sigbench loads StreamSync's signaling WebSocket (docs/protocol.md):
// K clients join rooms of 4, idle while the server's RSS and threads are
// sampled, then exchange candidate bursts at a set aggregate rate while the
// delivery delay (sender to receiver, through the server) is measured.
//
//	sigbench -url ws://127.0.0.1:8080/ws -pid 1234 -conns 10000 -rate 2000
//	sigbench -inprocess -conns 1000      # runs the signaling package in this
//	                                       process and counts its goroutines
//
// Clients dial from -client-ips loopback addresses counting up from
// -client-ip, so per-IP connection limits see a spread of sources; the
// server must still allow conns/client-ips connections and joins per IP.
// Output: a table on stderr and one JSON line on stdout;
// `sigbench report FILE` turns the JSON lines of several runs into a
// Markdown table.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/streamsync/streamsync/internal/loadgen"
	"github.com/streamsync/streamsync/internal/procstat"
)

type result struct {
	Mode            string  `json:"mode"` // "process" or "inprocess"
	Conns           int     `json:"conns"`
	Rooms           int     `json:"rooms"`
	JoinSeconds     float64 `json:"join_seconds"`
	JoinsPerSec     float64 `json:"joins_per_sec"`
	IdleRSSMB       float64 `json:"idle_rss_mb,omitempty"`
	RSSPerConnKB    float64 `json:"rss_kb_per_conn,omitempty"`
	Threads         int     `json:"threads,omitempty"`
	Goroutines      int     `json:"server_goroutines,omitempty"` // inprocess: goroutines with a signaling frame
	GoroutinesPer   float64 `json:"server_goroutines_per_conn,omitempty"`
	HeapPerConnKB   float64 `json:"heap_kb_per_conn,omitempty"` // inprocess
	Rate            float64 `json:"rate"`
	Seconds         float64 `json:"seconds"`
	Sent            uint64  `json:"sent"`
	Delivered       uint64  `json:"delivered"`
	MsgsPerSec      float64 `json:"msgs_per_sec"`
	DeliveryP50us   float64 `json:"delivery_p50_us"`
	DeliveryP99us   float64 `json:"delivery_p99_us"`
	DeliveryP999us  float64 `json:"delivery_p999_us"`
	ServerCPU       float64 `json:"server_cpu_s,omitempty"`
	CPUusPerMessage float64 `json:"server_cpu_us_per_msg,omitempty"`
	Errors          uint64  `json:"errors"`
}

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "report" {
		err = reportMain(os.Args[2:], os.Stdout)
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigbench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		url       = flag.String("url", "", "signaling WebSocket URL, e.g. ws://127.0.0.1:8080/ws")
		inprocess = flag.Bool("inprocess", false, "serve the signaling package in this process (goroutine counts) instead of -url")
		pid       = flag.Int("pid", 0, "server process id, for RSS, threads and CPU from /proc")
		conns     = flag.Int("conns", 1000, "WebSocket clients (rooms of 4)")
		rate      = flag.Float64("rate", 2000, "candidate messages per second over all clients; 0 = idle only")
		burst     = flag.Int("burst", 8, "candidates per burst (one sender to one peer)")
		duration  = flag.Duration("duration", 5*time.Second, "measured window of the message phase")
		settle    = flag.Duration("settle", 2*time.Second, "idle time before sampling memory")
		clientIP  = flag.String("client-ip", "127.2.0.1", "first local IP clients dial from")
		nIPs      = flag.Int("client-ips", 200, "local IPs to spread clients over")
		parallel  = flag.Int("parallel", 64, "rooms being joined at once")
		jsonOnly  = flag.Bool("json", false, "print only the JSON line")
		memprof   = flag.String("memprofile", "", "with -inprocess: write a heap profile here once the clients idle")
	)
	flag.Parse()
	if *conns < 4 || *conns%4 != 0 {
		return errors.New("-conns must be a positive multiple of 4")
	}
	if (*url == "") == !*inprocess {
		return errors.New("give exactly one of -url and -inprocess")
	}
	first, err := netip.ParseAddr(*clientIP)
	if err != nil {
		return fmt.Errorf("-client-ip: %w", err)
	}
	ips := []netip.Addr{first}
	for len(ips) < *nIPs {
		ips = append(ips, ips[len(ips)-1].Next())
	}
	loadgen.RaiseNoFile()

	res := result{Mode: "process", Conns: *conns, Rooms: *conns / 4, Rate: *rate, Seconds: duration.Seconds()}
	var ip *inProcess
	if *inprocess {
		res.Mode = "inprocess"
		ip, err = startInProcess(*conns)
		if err != nil {
			return err
		}
		defer ip.close()
		*url = ip.url
	}
	sample := func() procstat.Sample {
		if *pid == 0 {
			return procstat.Sample{}
		}
		s, err := procstat.Read(*pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sigbench: read /proc:", err)
		}
		return s
	}

	lat := &latencies{}
	var errCount atomic.Uint64
	before := sample()
	var g0 int
	var h0 uint64
	if ip != nil {
		g0, h0 = ip.goroutines(), ip.heap()
	}
	clients := make([]*client, *conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.close()
			}
		}
	}()
	start := time.Now()
	if err := loadgen.ParallelDo(*conns/4, *parallel, func(room int) error {
		var roomID string
		for k := range 4 {
			i := room*4 + k
			c, err := dial(*url, ips[i%len(ips)], lat, &errCount)
			if err != nil {
				return fmt.Errorf("client %d: %w", i, err)
			}
			clients[i] = c
			roomID, err = c.join(roomID)
			if err != nil {
				return fmt.Errorf("client %d: %w", i, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	res.JoinSeconds = time.Since(start).Seconds()
	res.JoinsPerSec = float64(*conns) / res.JoinSeconds
	for _, c := range clients {
		c.learnPeers(clients)
	}
	time.Sleep(*settle)
	idle := sample()
	res.IdleRSSMB = float64(idle.RSSBytes) / (1 << 20)
	res.RSSPerConnKB = float64(idle.RSSBytes-before.RSSBytes) / 1024 / float64(*conns)
	res.Threads = idle.Threads
	if ip != nil {
		g := ip.goroutines()
		res.Goroutines = g
		res.GoroutinesPer = float64(g-g0) / float64(*conns)
		res.HeapPerConnKB = (float64(ip.heap()) - float64(h0)) / 1024 / float64(*conns)
		if *memprof != "" {
			if err := writeHeapProfile(*memprof); err != nil {
				return err
			}
		}
	}

	if *rate > 0 {
		lat.record.Store(true)
		p0 := sample()
		var sent atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		workers := 4
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sendLoop(clients, w, workers, *rate/float64(workers), *burst, stop, &sent, &errCount)
			}()
		}
		d0 := lat.delivered.Load()
		t0 := time.Now()
		time.Sleep(*duration)
		close(stop)
		wg.Wait()
		elapsed := time.Since(t0).Seconds()
		time.Sleep(300 * time.Millisecond)
		lat.record.Store(false)
		p1 := sample()
		res.Sent = sent.Load()
		res.Delivered = lat.delivered.Load() - d0
		res.MsgsPerSec = float64(res.Delivered) / elapsed
		p50, p99, p999 := lat.quantiles()
		res.DeliveryP50us, res.DeliveryP99us, res.DeliveryP999us = loadgen.Micros(p50), loadgen.Micros(p99), loadgen.Micros(p999)
		if *pid != 0 && res.Delivered > 0 {
			res.ServerCPU = p1.CPUSeconds - p0.CPUSeconds
			res.CPUusPerMessage = res.ServerCPU / float64(res.Delivered) * 1e6
		}
	}
	res.Errors = errCount.Load()

	line, _ := json.Marshal(res)
	if !*jsonOnly {
		printTable(res)
	}
	fmt.Println(string(line))
	return nil
}

// latencies collects delivery delays while record is set.
type latencies struct {
	record    atomic.Bool
	delivered atomic.Uint64
	mu        sync.Mutex // guards d
	d         []time.Duration
}

func (l *latencies) add(d time.Duration) {
	if !l.record.Load() {
		return
	}
	l.delivered.Add(1)
	l.mu.Lock()
	if len(l.d) < 1<<22 {
		l.d = append(l.d, d)
	}
	l.mu.Unlock()
}

func (l *latencies) quantiles() (p50, p99, p999 time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l.d)
	q := func(f float64) time.Duration { return l.d[int(f*float64(len(l.d)-1))] }
	return q(0.5), q(0.99), q(0.999)
}

func printTable(r result) {
	tw := tabwriter.NewWriter(os.Stderr, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "server\t%s\n", r.Mode)
	fmt.Fprintf(tw, "clients\t%d in %d rooms of 4, joined in %.2fs (%.0f joins/s)\n", r.Conns, r.Rooms, r.JoinSeconds, r.JoinsPerSec)
	if r.IdleRSSMB > 0 {
		fmt.Fprintf(tw, "idle\tRSS %.1f MB (%.1f kB per connection), %d threads\n", r.IdleRSSMB, r.RSSPerConnKB, r.Threads)
	}
	if r.Goroutines > 0 {
		fmt.Fprintf(tw, "goroutines\t%d signaling goroutines, %.2f per connection; heap %.1f kB per connection\n", r.Goroutines, r.GoroutinesPer, r.HeapPerConnKB)
	}
	if r.Rate > 0 {
		fmt.Fprintf(tw, "messages\t%d sent, %d delivered, %.0f/s (offered %.0f/s)\n", r.Sent, r.Delivered, r.MsgsPerSec, r.Rate)
		fmt.Fprintf(tw, "delivery\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs\n", r.DeliveryP50us, r.DeliveryP99us, r.DeliveryP999us)
		if r.ServerCPU > 0 {
			fmt.Fprintf(tw, "server cpu\t%.2fs = %.1f µs per delivered message\n", r.ServerCPU, r.CPUusPerMessage)
		}
	}
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	_ = tw.Flush()
}
