// Package status sums up a running appliance from its metrics listener
// (/readyz and /metrics): uptime, rooms and peers, allocations, the relayed
// bit rate, the relay self-test, certificate expiry and the cluster, in a
// few lines a person reads at a glance. It is `streamsync status`.
package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Options adjust a Check.
type Options struct {
	// Client makes the requests; nil means one with a 5 s timeout.
	Client *http.Client
	// Sample is the time between the two scrapes the relayed bit rate is
	// measured over. Default 1s.
	Sample time.Duration
}

// Report is what a Check read.
type Report struct {
	// Addr is the metrics listener asked.
	Addr string
	// Ready is /readyz's verdict; Readiness its text (why, when not).
	Ready     bool
	Readiness string
	// At is when the second scrape was taken.
	At time.Time
	// Started is the process's start (zero if not exported).
	Started time.Time

	Rooms, Peers, Connections     int
	Allocations, AllocationsTotal int
	// ToPeerBps and FromPeerBps are the relayed bit rates over the sample.
	ToPeerBps, FromPeerBps float64

	// SelfTestOK is the last relay self-test's verdict; SelfTestLastPass
	// the last passing one (zero if none).
	SelfTestOK       bool
	SelfTestLastPass time.Time

	// Certificates are the TLS certificates in service, none without [tls].
	Certificates []Certificate
	// Cluster is nil on a single node.
	Cluster *Cluster
}

// Certificate is a certificate's name and expiry.
type Certificate struct {
	Name     string
	NotAfter time.Time
}

// Cluster is the node's view of its cluster.
type Cluster struct {
	Connected bool // to NATS
	Others    int  // other nodes heard from recently
	Unsynced  int  // rooms changed during a NATS outage, not written back
}

// Check asks the metrics listener at addr (host:port) whether the
// appliance is ready and scrapes /metrics twice, Sample apart. An error
// means the listener could not be read at all; a not-ready appliance is a
// Report with Ready false.
func Check(ctx context.Context, addr string, opts Options) (Report, error) {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.Sample <= 0 {
		opts.Sample = time.Second
	}
	base := "http://" + addr
	r := Report{Addr: addr}
	code, body, err := get(ctx, opts.Client, base+"/readyz")
	if err != nil {
		return r, err
	}
	r.Ready, r.Readiness = code == http.StatusOK, strings.TrimSpace(body)

	first, t0, err := scrape(ctx, opts.Client, base+"/metrics")
	if err != nil {
		return r, err
	}
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(opts.Sample):
	}
	last, t1, err := scrape(ctx, opts.Client, base+"/metrics")
	if err != nil {
		return r, err
	}
	r.At = t1
	r.fill(last)
	if dt := t1.Sub(t0).Seconds(); dt > 0 {
		r.ToPeerBps = 8 * (value(last, relayedBytes, "direction", "to_peer") - value(first, relayedBytes, "direction", "to_peer")) / dt
		r.FromPeerBps = 8 * (value(last, relayedBytes, "direction", "from_peer") - value(first, relayedBytes, "direction", "from_peer")) / dt
	}
	return r, nil
}

// The series a Report is read from.
const (
	relayedBytes = "streamsync_turn_relayed_bytes_total"
	certExpiry   = "streamsync_tls_certificate_expiry_timestamp_seconds"
)

func (r *Report) fill(m families) {
	if s := value(m, "process_start_time_seconds"); s > 0 {
		r.Started = unix(s)
	}
	r.Rooms = int(value(m, "streamsync_signaling_rooms"))
	r.Peers = int(value(m, "streamsync_signaling_peers"))
	r.Connections = int(value(m, "streamsync_signaling_connections"))
	r.Allocations = int(value(m, "streamsync_turn_allocations"))
	r.AllocationsTotal = int(value(m, "streamsync_turn_allocations_total"))
	r.SelfTestOK = value(m, "streamsync_selftest_ok") == 1
	if s := value(m, "streamsync_selftest_last_pass_timestamp_seconds"); s > 0 {
		r.SelfTestLastPass = unix(s)
	}
	if f := m[certExpiry]; f != nil {
		for _, s := range f.GetMetric() {
			r.Certificates = append(r.Certificates, Certificate{Name: label(s, "name"), NotAfter: unix(s.GetGauge().GetValue())})
		}
	}
	if m["streamsync_cluster_connected"] != nil {
		r.Cluster = &Cluster{
			Connected: value(m, "streamsync_cluster_connected") == 1,
			Others:    int(value(m, "streamsync_cluster_nodes_alive")),
			Unsynced:  int(value(m, "streamsync_cluster_unsynced_rooms")),
		}
	}
}

type families map[string]*dto.MetricFamily

// value is the sum of a family's samples whose labels match the given
// name, value pairs (all of them when none is given); 0 when absent.
func value(m families, name string, labels ...string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, s := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if label(s, labels[i]) != labels[i+1] {
				continue next
			}
		}
		switch {
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Untyped != nil:
			sum += s.GetUntyped().GetValue()
		}
	}
	return sum
}

func label(s *dto.Metric, name string) string {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func unix(s float64) time.Time {
	return time.Unix(0, int64(s*float64(time.Second)))
}

// scrape reads and parses a /metrics page, and says when it was read.
func scrape(ctx context.Context, c *http.Client, url string) (families, time.Time, error) {
	code, body, err := get(ctx, c, url)
	at := time.Now()
	if err != nil {
		return nil, at, err
	}
	if code != http.StatusOK {
		return nil, at, fmt.Errorf("GET %s: %d %s", url, code, strings.TrimSpace(body))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, at, fmt.Errorf("GET %s: %w", url, err)
	}
	return m, at, nil
}

// maxBody bounds what is read of an answer (a /metrics page is some tens
// of KiB).
const maxBody = 8 << 20

func get(ctx context.Context, c *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxBody {
		return 0, "", errors.New("GET " + url + ": answer larger than 8 MiB")
	}
	return resp.StatusCode, string(body), nil
}
