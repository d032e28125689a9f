package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/streamsync/streamsync/signaling"
)

// inProcess serves the signaling package on loopback inside sigbench, so
// that its goroutines can be told apart from the clients' by their stacks.
type inProcess struct {
	url string
	hs  *http.Server
	sig *signaling.Server
}

func startInProcess(conns int) (*inProcess, error) {
	cfg := signaling.DefaultConfig()
	cfg.MaxRooms = conns/4 + 16
	cfg.MaxConnsPerIP = conns
	cfg.MaxRoomsPerIP = cfg.MaxRooms
	cfg.MaxConnections = conns + 16
	cfg.JoinRate = 10000
	cfg.JoinBurst = conns
	sig, err := signaling.New(cfg, signaling.Options{})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	ip := &inProcess{url: "ws://" + ln.Addr().String() + "/ws", sig: sig, hs: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = ip.hs.Serve(ln) }()
	return ip, nil
}

// goroutines counts goroutines with a frame in the signaling package (the
// per-connection handler and writer goroutines, plus the server's own).
func (ip *inProcess) goroutines() int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	total, count := 0, 0
	inSig := false
	flush := func() {
		if inSig {
			total += count
		}
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if n, _, ok := strings.Cut(line, " @ "); ok && !strings.HasPrefix(line, "#") {
			flush()
			count, _ = strconv.Atoi(n)
			inSig = false
			continue
		}
		if strings.HasPrefix(line, "#") && strings.Contains(line, "streamsync/signaling.") {
			inSig = true
		}
	}
	flush()
	return total
}

// heap is the live heap after a collection.
func (ip *inProcess) heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func (ip *inProcess) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ip.sig.Shutdown(ctx)
	_ = ip.hs.Shutdown(ctx)
}
