package contrib_test

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/testcert"
	"github.com/streamsync/streamsync/internal/turntest"
)

// startNATS runs a JetStream NATS server on loopback for the test.
func startNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName: "contrib", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return fmt.Sprintf("nats://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// certificateFiles writes a certificate for 127.0.0.1 and its key.
func certificateFiles(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.NewCA(t).IssueSpec(t, testcert.Spec{Names: []string{"127.0.0.1"}, Serial: 20}).WriteFiles(t, certPath, keyPath)
	return certPath, keyPath
}

// TestMetricsExistOnAppliance: every metric the dashboard and the alerts
// name is on the /metrics of the real binary running with everything
// that adds series on: TLS (certificate expiry) and a cluster (NATS).
func TestMetricsExistOnAppliance(t *testing.T) {
	names := namedMetrics(t)
	if len(names) < 25 {
		t.Fatalf("the dashboard and rules name %d metrics: %v", len(names), names)
	}
	certPath, keyPath := certificateFiles(t)
	app := apptest.Start(t, fmt.Sprintf(`
[http]
listen = "127.0.0.1:0"
listen_https = "127.0.0.1:0"
listen_redirect = ""
[turn]
listen_udp = ["127.0.0.1:0"]
listen_tcp = ["127.0.0.1:0"]
listen_tls = ["127.0.0.1:0"]
public_host = "127.0.0.1"
relay_bind = "127.0.0.1"
%ssecrets = ["contrib-test-secret-0123456789"]
[metrics]
listen = "127.0.0.1:0"
selftest_interval = "5s"
[cluster]
enabled = true
nats_urls = [%q]
node_id = "contrib"
[tls]
cert_file = %q
key_file = %q
`, turntest.RelayPorts(t, 1000).TOML(), startNATS(t), certPath, keyPath))
	have := scrapeNames(t, "http://"+app.MetricsAddr+"/metrics")
	for _, name := range names {
		if !have[name] {
			t.Errorf("%s is named by the dashboard or the alerts but not on /metrics", name)
		}
	}
	t.Logf("%d metrics named, all on /metrics", len(names))
}
