package status

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeListener serves /readyz and a /metrics page whose relayed byte
// counters grow by step at each scrape.
func fakeListener(t *testing.T, ready bool, readyBody string, step float64, extra string) *httptest.Server {
	t.Helper()
	var scrapes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			http.Error(w, readyBody, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, readyBody)
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		n := float64(scrapes.Add(1))
		fmt.Fprintf(w, `# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7e9
# TYPE streamsync_signaling_rooms gauge
streamsync_signaling_rooms 3
# TYPE streamsync_signaling_peers gauge
streamsync_signaling_peers 7
# TYPE streamsync_signaling_connections gauge
streamsync_signaling_connections 8
# TYPE streamsync_turn_allocations gauge
streamsync_turn_allocations 12
# TYPE streamsync_turn_allocations_total counter
streamsync_turn_allocations_total 345
# TYPE streamsync_turn_relayed_bytes_total counter
streamsync_turn_relayed_bytes_total{direction="to_peer"} %g
streamsync_turn_relayed_bytes_total{direction="from_peer"} %g
# TYPE streamsync_selftest_ok gauge
streamsync_selftest_ok 1
# TYPE streamsync_selftest_last_pass_timestamp_seconds gauge
streamsync_selftest_last_pass_timestamp_seconds 1.7e9
%s`, n*step, 2*n*step, extra)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckReadsEverySeries(t *testing.T) {
	const step = 125000 // bytes per scrape: 1 Mbit
	srv := fakeListener(t, true, "ok", step, `# TYPE streamsync_tls_certificate_expiry_timestamp_seconds gauge
streamsync_tls_certificate_expiry_timestamp_seconds{name="call.example.com"} 1.8e9
streamsync_tls_certificate_expiry_timestamp_seconds{name="turn.example.com"} 1.9e9
# TYPE streamsync_cluster_connected gauge
streamsync_cluster_connected 1
# TYPE streamsync_cluster_nodes_alive gauge
streamsync_cluster_nodes_alive 2
# TYPE streamsync_cluster_unsynced_rooms gauge
streamsync_cluster_unsynced_rooms 0
`)
	addr := strings.TrimPrefix(srv.URL, "http://")
	const sample = 200 * time.Millisecond
	start := time.Now()
	r, err := Check(t.Context(), addr, Options{Sample: sample})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Ready || r.Readiness != "ok" || r.Addr != addr {
		t.Errorf("ready %t %q at %s", r.Ready, r.Readiness, r.Addr)
	}
	if r.Rooms != 3 || r.Peers != 7 || r.Connections != 8 || r.Allocations != 12 || r.AllocationsTotal != 345 {
		t.Errorf("counts %+v", r)
	}
	if !r.Started.Equal(time.Unix(1.7e9, 0)) || !r.SelfTestOK || !r.SelfTestLastPass.Equal(time.Unix(1.7e9, 0)) {
		t.Errorf("started %v, self-test %t %v", r.Started, r.SelfTestOK, r.SelfTestLastPass)
	}
	// One step between the scrapes, taken at least sample and at most the
	// whole Check apart.
	for name, got := range map[string]float64{"to peers": r.ToPeerBps, "from peers": r.FromPeerBps / 2} {
		if hi, lo := 8*step/sample.Seconds(), 8*step/elapsed.Seconds(); got > hi || got < lo {
			t.Errorf("%s: %.0f bit/s, want between %.0f and %.0f", name, got, lo, hi)
		}
	}
	if len(r.Certificates) != 2 || r.Certificates[0].Name != "call.example.com" || !r.Certificates[1].NotAfter.Equal(time.Unix(1.9e9, 0)) {
		t.Errorf("certificates %+v", r.Certificates)
	}
	if r.Cluster == nil || !r.Cluster.Connected || r.Cluster.Others != 2 {
		t.Errorf("cluster %+v", r.Cluster)
	}
}

func TestCheckNotReady(t *testing.T) {
	srv := fakeListener(t, false, "relay self-test failed: [udp 127.0.0.1:3478: timeout]", 0, "")
	r, err := Check(t.Context(), strings.TrimPrefix(srv.URL, "http://"), Options{Sample: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready || !strings.Contains(r.Readiness, "udp 127.0.0.1:3478: timeout") {
		t.Errorf("ready %t, %q", r.Ready, r.Readiness)
	}
	if r.Cluster != nil || len(r.Certificates) != 0 {
		t.Errorf("no cluster or certificate series, yet %+v %+v", r.Cluster, r.Certificates)
	}
}

func TestCheckErrors(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprintln(w, "this is { not the exposition format")
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer broken.Close()
	if _, err := Check(t.Context(), strings.TrimPrefix(broken.URL, "http://"), Options{Sample: time.Millisecond}); err == nil {
		t.Error("a page that does not parse: no error")
	}
	if _, err := Check(t.Context(), "127.0.0.1:1", Options{Sample: time.Millisecond}); err == nil {
		t.Error("nothing listening: no error")
	}
}

func TestWrite(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r := Report{
		Addr: "127.0.0.1:9479", Ready: true, Readiness: "ok", At: at,
		Started: at.Add(-(3*24*time.Hour + 4*time.Hour + 12*time.Minute)),
		Rooms:   4, Peers: 9, Connections: 1, Allocations: 1, AllocationsTotal: 2304,
		ToPeerBps: 6.2e6, FromPeerBps: 6.25e6,
		SelfTestOK: true, SelfTestLastPass: at.Add(-23 * time.Second),
		Certificates: []Certificate{
			{Name: "call.example.com", NotAfter: at.Add(61*24*time.Hour + time.Hour)},
			{Name: "old.example.com", NotAfter: at.Add(-2 * 24 * time.Hour)},
			{Name: "soon.example.com", NotAfter: at.Add(5*24*time.Hour + 3*time.Hour)},
		},
		Cluster: &Cluster{Connected: true, Others: 2},
	}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	started := r.Started.Local().Format("2006-01-02 15:04")
	want := `streamsync at 127.0.0.1:9479: ready
  uptime       3d 4h (since ` + started + `)
  signaling    4 rooms, 9 peers, 1 WebSocket
  relay        1 allocation (2304 since start), 12.4 Mbit/s now (6.2 to peers, 6.2 from peers)
  self-test    ok, passed 23s ago
  certificate  call.example.com expires in 61 days (2027-01-31)
  certificate  old.example.com EXPIRED 2d 0h ago (2026-11-29)
  certificate  soon.example.com EXPIRES in 5d 3h (2026-12-06)
  cluster      connected, 3 nodes (this one and 2 others)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	r = Report{Addr: "[::1]:9479", Readiness: "relay self-test failed: tcp: refused\nnats: down", At: at,
		SelfTestLastPass: at.Add(-5 * time.Minute), Cluster: &Cluster{Unsynced: 3}}
	b.Reset()
	_ = r.Write(&b)
	for _, w := range []string{
		"streamsync at [::1]:9479: NOT READY: relay self-test failed: tcp: refused; nats: down\n",
		"  uptime       unknown\n",
		"  self-test    FAILING, last passed 5m 0s ago\n",
		"  certificate  none (TLS off)\n",
		"  cluster      NATS UNREACHABLE: serving local rooms only, 3 rooms to write back\n",
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("not ready report lacks %q:\n%s", w, b.String())
		}
	}
	r = Report{Ready: true, At: at}
	if b.Reset(); r.Write(&b) == nil && !strings.Contains(b.String(), "self-test    off") {
		t.Errorf("self-test off (ready, never ran) not said:\n%s", b.String())
	}
}
