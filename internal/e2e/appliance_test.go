package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/apptest"
)

// applianceOpts chooses which TURN listeners the appliance offers.
type applianceOpts struct {
	udp, tcp  bool
	signaling string // extra [signaling] keys
}

// applianceConfig is the TOML for a test appliance on loopback. The join
// rate is raised: every browser of the suite joins from 127.0.0.1.
func applianceConfig(o applianceOpts) string {
	list := func(on bool) string {
		if on {
			return `["127.0.0.1:0"]`
		}
		return `[]`
	}
	return fmt.Sprintf(`
[log]
level = "debug"

[http]
listen = "127.0.0.1:0"

[turn]
listen_udp = %s
listen_tcp = %s
public_host = "127.0.0.1"
public_ip = "127.0.0.1"
relay_bind = "127.0.0.1"
relay_port_min = 40000
relay_port_max = 40999
secrets = ["e2e-test-secret-0123456789"]

[signaling]
join_rate = 100.0
join_burst = 100
max_conns_per_ip = 100
max_rooms_per_ip = 100
resume_grace = "30s"
%s

[metrics]
listen = ""
`, list(o.udp), list(o.tcp), o.signaling)
}

// startAppliance runs the real streamsync binary (internal/apptest) and
// prints its log when the test fails.
func startAppliance(t testing.TB, o applianceOpts) *apptest.Appliance {
	t.Helper()
	return startApplianceConfig(t, applianceConfig(o))
}

// startApplianceConfig is startAppliance with the whole TOML given.
func startApplianceConfig(t testing.TB, cfg string) *apptest.Appliance {
	t.Helper()
	a := apptest.Start(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			logs := a.Logs()
			if lines := strings.Split(logs, "\n"); len(lines) > 400 {
				logs = strings.Join(lines[len(lines)-400:], "\n")
			}
			t.Logf("--- appliance log (tail)\n%s", logs)
		}
	})
	return a
}
