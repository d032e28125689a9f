package status

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Write prints the report in a few lines:
//
//	streamsync at 127.0.0.1:9479: ready
//	  uptime       3d 4h 12m
//	  signaling    4 rooms, 9 peers, 11 WebSockets
//	  relay        18 allocations (2304 since start), 12.4 Mbit/s now (6.2 to peers, 6.2 from peers)
//	  self-test    ok, passed 23s ago
//	  certificate  call.example.com expires in 61 days (2027-02-01)
//	  cluster      off
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	if r.Ready {
		fmt.Fprintf(&b, "streamsync at %s: ready\n", r.Addr)
	} else {
		fmt.Fprintf(&b, "streamsync at %s: NOT READY: %s\n", r.Addr, oneLine(r.Readiness))
	}
	line := func(what, format string, args ...any) {
		fmt.Fprintf(&b, "  %-12s %s\n", what, fmt.Sprintf(format, args...))
	}
	if r.Started.IsZero() {
		line("uptime", "unknown")
	} else {
		line("uptime", "%s (since %s)", duration(r.At.Sub(r.Started)), r.Started.Local().Format("2006-01-02 15:04"))
	}
	line("signaling", "%s, %s, %s", plural(r.Rooms, "room"), plural(r.Peers, "peer"), plural(r.Connections, "WebSocket"))
	line("relay", "%s (%d since start), %s now (%s to peers, %s from peers)",
		plural(r.Allocations, "allocation"), r.AllocationsTotal,
		mbps(r.ToPeerBps+r.FromPeerBps), mbpsBare(r.ToPeerBps), mbpsBare(r.FromPeerBps))
	line("self-test", "%s", r.selfTest())
	if len(r.Certificates) == 0 {
		line("certificate", "none (TLS off)")
	}
	for _, c := range r.Certificates {
		line("certificate", "%s", expiry(c, r.At))
	}
	switch {
	case r.Cluster == nil:
		line("cluster", "off")
	case !r.Cluster.Connected:
		line("cluster", "NATS UNREACHABLE: serving local rooms only, %d rooms to write back", r.Cluster.Unsynced)
	default:
		line("cluster", "connected, %d nodes (this one and %d others)", r.Cluster.Others+1, r.Cluster.Others)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r Report) selfTest() string {
	since := ""
	if !r.SelfTestLastPass.IsZero() {
		since = "passed " + duration(r.At.Sub(r.SelfTestLastPass)) + " ago"
	}
	switch {
	case r.SelfTestOK:
		return "ok, " + since
	case since != "":
		return "FAILING, last " + since
	case r.Ready:
		return "off (metrics.selftest_interval = \"0s\")"
	default:
		return "not passed yet"
	}
}

func expiry(c Certificate, now time.Time) string {
	left := c.NotAfter.Sub(now)
	date := c.NotAfter.UTC().Format("2006-01-02")
	switch {
	case left <= 0:
		return fmt.Sprintf("%s EXPIRED %s ago (%s)", c.Name, duration(-left), date)
	case left < 14*24*time.Hour:
		return fmt.Sprintf("%s EXPIRES in %s (%s)", c.Name, duration(left), date)
	default:
		return fmt.Sprintf("%s expires in %d days (%s)", c.Name, int(left.Hours()/24), date)
	}
}

// duration prints d to the largest two units: 3d 4h, 4h 12m, 12m 5s, 23s.
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = 0
	}
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, s := d/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func mbps(bps float64) string { return mbpsBare(bps) + " Mbit/s" }

func mbpsBare(bps float64) string { return fmt.Sprintf("%.1f", bps/1e6) }

// oneLine joins /readyz's lines, which may say more than one thing.
func oneLine(s string) string {
	if s == "" {
		return "no reason given"
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
