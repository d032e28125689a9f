//go:build soak

// Package soak runs the real appliance under a steady churn of calls for
// minutes (make soak; not part of make test) and checks that goroutines,
// file descriptors and memory come back to where they started.
package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/sigtest"
	"github.com/streamsync/streamsync/internal/turntest"
)

const soakConfig = `
[http]
listen = "127.0.0.1:0"
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = ["127.0.0.1:0"]
public_host = "127.0.0.1"
relay_bind = "127.0.0.1"
%ssecrets = ["soak-secret-0123456789abcdef"]
unauthenticated_rate = 1000.0
unauthenticated_burst = 1000
[signaling]
max_conns_per_ip = 1000
max_rooms_per_ip = 1000
join_rate = 1000.0
join_burst = 1000
resume_grace = "1s"
empty_room_ttl = "5s"
[metrics]
listen = "127.0.0.1:0"
selftest_interval = "10s"
`

func duration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SOAK_DURATION")); err == nil && d > 0 {
		return d
	}
	return 2 * time.Minute
}

type figures struct{ goroutines, fds, rss, allocations, connections float64 }

func sample(t *testing.T, metricsURL string) figures {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f figures
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "go_goroutines":
			f.goroutines = v
		case "process_open_fds":
			f.fds = v
		case "process_resident_memory_bytes":
			f.rss = v
		case "streamsync_turn_allocations":
			f.allocations = v
		case "streamsync_signaling_connections":
			f.connections = v
		}
	}
	return f
}

func TestSoak(t *testing.T) {
	app := apptest.Start(t, fmt.Sprintf(soakConfig, turntest.RelayPorts(t, 2000).TOML()))
	murl := "http://" + app.MetricsAddr
	time.Sleep(2 * time.Second) // let the first self-test finish
	start := sample(t, murl)
	t.Logf("start: goroutines %.0f, fds %.0f, rss %.1f MiB", start.goroutines, start.fds, start.rss/(1<<20))

	deadline := time.Now().Add(duration())
	var calls, failures atomic.Int64
	var wg sync.WaitGroup
	for w := range workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if err := oneCall(app, w%2 == 0, i%3 == 0); err != nil {
					failures.Add(1)
					t.Logf("call: %v", err)
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()

	// Everything the calls held must go: connections close, allocations end.
	settle := time.Now().Add(30 * time.Second)
	var end figures
	for {
		end = sample(t, murl)
		if end.allocations == 0 && end.connections == 0 && end.goroutines <= start.goroutines+2 {
			break
		}
		if time.Now().After(settle) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%d calls, %d failed, over %s", calls.Load(), failures.Load(), duration())
	t.Logf("end:   goroutines %.0f, fds %.0f, rss %.1f MiB, allocations %.0f, connections %.0f",
		end.goroutines, end.fds, end.rss/(1<<20), end.allocations, end.connections)
	if failures.Load() > calls.Load()/100 {
		t.Errorf("%d of %d calls failed", failures.Load(), calls.Load())
	}
	if end.allocations != 0 || end.connections != 0 {
		t.Errorf("left behind: %.0f allocations, %.0f connections", end.allocations, end.connections)
	}
	if end.goroutines > start.goroutines+10 || end.fds > start.fds+10 {
		t.Errorf("goroutines %.0f -> %.0f, fds %.0f -> %.0f: not back to the start", start.goroutines, end.goroutines, start.fds, end.fds)
	}
	if end.rss > start.rss*2+32<<20 {
		t.Errorf("rss %.1f -> %.1f MiB", start.rss/(1<<20), end.rss/(1<<20))
	}
}

// oneCall: two clients meet in a room, exchange offer/answer/candidates,
// allocate on the relay with the credentials they were given and relay a
// few datagrams between their relay addresses, then leave (or, sometimes,
// just drop, to exercise resume expiry and allocation teardown).
func oneCall(app *apptest.Appliance, tcp, abrupt bool) error {
	dial := func() (*sigtest.Conn, error) {
		c, _, err := sigtest.Connect(context.Background(), sigtest.WSURL(app.HTTPURL), sigtest.Origin(app.HTTPURL))
		return c, err
	}
	a, err := dial()
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := dial()
	if err != nil {
		return err
	}
	defer b.Close()
	_ = a.Send(map[string]any{"type": "join", "name": "a"})
	ja, err := a.NextOf("joined")
	if err != nil {
		return err
	}
	_ = b.Send(map[string]any{"type": "join", "name": "b", "room": ja["room"]})
	jb, err := b.NextOf("joined")
	if err != nil {
		return err
	}
	_ = b.Send(map[string]any{"type": "offer", "to": ja["id"], "sdp": "v=0"})
	if _, err := a.NextOf("offer"); err != nil {
		return err
	}
	_ = a.Send(map[string]any{"type": "answer", "to": jb["id"], "sdp": "v=0"})
	if _, err := b.NextOf("answer"); err != nil {
		return err
	}
	ra, closeA, err := allocate(ja, tcp)
	if err != nil {
		return err
	}
	defer closeA()
	rb, closeB, err := allocate(jb, tcp)
	if err != nil {
		return err
	}
	defer closeB()
	if _, err := rb.WriteTo([]byte("open"), ra.LocalAddr()); err != nil {
		return err
	}
	// pion's client drops datagrams on a channel whose binding it is still
	// confirming, so a datagram that does not arrive is sent again.
	buf := make([]byte, 1500)
	delivered := 0
	for try := 0; delivered < 5 && try < 20; try++ {
		if _, err := ra.WriteTo([]byte(fmt.Sprint(try)), rb.LocalAddr()); err != nil {
			return err
		}
		_ = rb.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := rb.ReadFrom(buf); err == nil {
			delivered++
		}
	}
	if delivered < 5 {
		return fmt.Errorf("relay: %d of 5 datagrams arrived in 20 tries", delivered)
	}
	if !abrupt {
		_ = a.Send(map[string]any{"type": "leave"})
		_ = b.Send(map[string]any{"type": "leave"})
	}
	return nil
}

func allocate(joined map[string]any, tcp bool) (net.PacketConn, func(), error) {
	raw, _ := json.Marshal(joined["iceServers"])
	var servers []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	}
	_ = json.Unmarshal(raw, &servers)
	want := "?transport=udp"
	if tcp {
		want = "?transport=tcp"
	}
	for _, s := range servers {
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "turn:") || !strings.HasSuffix(u, want) {
				continue
			}
			addr := strings.TrimSuffix(strings.TrimPrefix(u, "turn:"), want)
			var conn net.PacketConn
			if tcp {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return nil, nil, err
				}
				conn = turn.NewSTUNConn(c)
			} else {
				pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					return nil, nil, err
				}
				conn = pc
			}
			client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr,
				Conn: conn, Username: s.Username, Password: s.Credential, Realm: "streamsync"})
			if err != nil {
				conn.Close()
				return nil, nil, err
			}
			if err := client.Listen(); err != nil {
				conn.Close()
				return nil, nil, err
			}
			relay, err := client.Allocate()
			if err != nil {
				client.Close()
				conn.Close()
				return nil, nil, err
			}
			return relay, func() { relay.Close(); client.Close(); conn.Close() }, nil
		}
	}
	return nil, nil, fmt.Errorf("no %s TURN URL", want)
}

func workers() int {
	if n, err := strconv.Atoi(os.Getenv("SOAK_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 8
}
