package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/streamsync/streamsync/internal/apptest"
	"github.com/streamsync/streamsync/internal/netsim"
	"github.com/streamsync/streamsync/internal/testcert"
)

// The simulated internet. Every "public" address is in 10.250.0.0/16: the
// appliance on 10.250.0.2, site k's router outside on 10.250.k.2 and, for
// a site without NAT, its hosts on 10.250.(100+k).0/24. Hosts behind a NAT
// get 10.251.k.0/24, which the internet router has no route to. The
// appliance's own private network, behind it and reachable from nowhere
// else, is 10.252.0.0/24. Nothing routes to the machine's real network.
const (
	applianceIP    = "10.250.0.2"
	appliancePrivA = "10.252.0.1" // the appliance's address on its private network
	privateHostIP  = "10.252.0.2" // a host on the appliance's private network
	internetRange  = "10.250.0.0/16"
	netsimSecret   = "netsim-test-secret-0123456789"
	metricsAddr    = "127.0.0.1:9479" // on the appliance namespace's loopback
)

// testbed is the network every scenario shares: the internet router, the
// appliance's namespace with its private network, and the appliance.
type testbed struct {
	t       *testing.T
	net     *netsim.Net
	inet    *netsim.NS
	appNS   *netsim.NS
	private *netsim.NS // a host on the appliance's private network
	app     *apptest.Appliance
	caPEM   []byte           // the test CA the appliance's certificate chains to
	hosts   map[string]*host // by label, see sites
	sites   int
}

// sites are the participants' networks, each behind its own router on the
// internet. Hosts marked shared serve several scenarios, and their
// browsers stay up between them.
var sites = []struct {
	label  string
	nat    netsim.NAT
	fw     netsim.Firewall
	hosts  []string
	shared bool
}{
	{label: "sym-a", nat: netsim.SymmetricNAT, hosts: []string{"sym-alice"}},
	{label: "sym-b", nat: netsim.SymmetricNAT, hosts: []string{"sym-bob"}},
	{label: "noudp", nat: netsim.ConeNAT, fw: netsim.NoUDP, hosts: []string{"noudp-alice"}},
	{label: "only443", nat: netsim.ConeNAT, fw: netsim.OnlyTCP443, hosts: []string{"only443-alice"}},
	{label: "home", nat: netsim.ConeNAT, hosts: []string{"home-bob"}, shared: true},
	{label: "lan", nat: netsim.NoNAT, hosts: []string{"lan-alice", "lan-bob"}, shared: true},
	{label: "mallory", nat: netsim.ConeNAT, hosts: []string{"mallory"}},
}

// host is a participant's machine: a namespace on a site's LAN.
type host struct {
	ns   *netsim.NS
	ip   string
	dev  string // its interface
	gw   string // its default gateway
	site string // what its network is, for messages

	shared  bool         // used by several scenarios: its browser stays up
	browser *browserProc // the shared host's browser, once started
}

func newTestbed(t *testing.T) *testbed {
	t.Helper()
	n := netsim.New(t)
	tb := &testbed{t: t, net: n}
	tb.inet = n.Namespace("inet")
	tb.inet.Sysctl("net.ipv4.ip_forward", "1")
	tb.appNS = n.Namespace("app")
	n.Link(tb.inet, "app", "10.250.0.1/24", tb.appNS, "eth0", applianceIP+"/24")
	tb.appNS.IP("route", "add", "default", "via", "10.250.0.1")
	tb.private = n.Namespace("private")
	n.Link(tb.appNS, "priv", appliancePrivA+"/24", tb.private, "eth0", privateHostIP+"/24")
	tb.hosts = make(map[string]*host)
	for _, s := range sites {
		for _, h := range tb.site(s.label, s.nat, s.fw, s.hosts...) {
			h.shared = s.shared
			tb.hosts[h.ns.Label] = h
		}
	}

	dir := t.TempDir()
	tb.caPEM = writeCerts(t, dir)
	tb.app = apptest.StartWith(t, netsimApplianceConfig(dir), apptest.Options{Wrapper: tb.appNS.Wrapper()})
	t.Cleanup(func() {
		if t.Failed() {
			logs := tb.app.Logs()
			if lines := strings.Split(logs, "\n"); len(lines) > 300 {
				logs = strings.Join(lines[len(lines)-300:], "\n")
			}
			t.Logf("--- appliance log (tail)\n%s", logs)
		}
	})
	return tb
}

// netsimApplianceConfig is the appliance on the simulated internet: page
// over HTTPS on 443 (shared with TURN over TLS), TURN on 3478 UDP and TCP
// and 5349 TLS. The simulated internet is a private range, which the peer
// policy denies by default: it is allowed here because it stands for the
// public internet, and nothing else is (the appliance's private network
// and loopback stay denied).
func netsimApplianceConfig(dir string) string {
	return fmt.Sprintf(`
[log]
level = "info"

[http]
listen = "%[1]s:8080"
listen_https = "%[1]s:443"
listen_redirect = ""

[turn]
listen_udp = ["%[1]s:3478"]
listen_tcp = ["%[1]s:3478"]
listen_tls = ["%[1]s:5349"]
public_host = "%[1]s"
public_ip = "%[1]s"
relay_bind = "%[1]s"
relay_port_min = 49152
relay_port_max = 49999
secrets = [%[2]q]
allowed_peer_ranges = [%[3]q]
udp_sockets = 1

[signaling]
join_rate = 100.0
join_burst = 100
resume_grace = "30s"

[tls]
cert_file = %[4]q
key_file = %[5]q
hsts = false

[metrics]
listen = %[6]q
selftest_interval = "0s"
`, applianceIP, netsimSecret, internetRange, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), metricsAddr)
}

// pageURL is where participants open the page: HTTPS on port 443.
func (tb *testbed) pageURL() string { return "https://" + applianceIP }

// site adds a network behind a router on the internet: a LAN bridge with
// the given hosts, the router's NAT and firewall between LAN and internet.
func (tb *testbed) site(label string, nat netsim.NAT, fw netsim.Firewall, hosts ...string) []*host {
	tb.t.Helper()
	tb.sites++
	k := tb.sites
	r := tb.net.Namespace("r-" + label)
	r.Sysctl("net.ipv4.ip_forward", "1")
	tb.net.Link(tb.inet, fmt.Sprintf("s%d", k), fmt.Sprintf("10.250.%d.1/24", k), r, "wan", fmt.Sprintf("10.250.%d.2/24", k))
	r.IP("route", "add", "default", "via", fmt.Sprintf("10.250.%d.1", k))
	lan := fmt.Sprintf("10.251.%d", k)
	if nat == netsim.NoNAT {
		lan = fmt.Sprintf("10.250.%d", 100+k)
		tb.inet.IP("route", "add", lan+".0/24", "via", fmt.Sprintf("10.250.%d.2", k))
	}
	r.IP("link", "add", "lan", "type", "bridge")
	r.IP("addr", "add", lan+".1/24", "dev", "lan")
	r.IP("link", "set", "lan", "up")
	r.Nft(netsim.RouterRules("lan", "wan", nat, fw))
	var out []*host
	for i, name := range hosts {
		ns := tb.net.Namespace(name)
		ip := fmt.Sprintf("%s.%d", lan, i+2)
		port := fmt.Sprintf("p%d", i)
		tb.net.Link(r, port, "", ns, "eth0", ip+"/24")
		r.IP("link", "set", port, "master", "lan")
		ns.IP("route", "add", "default", "via", lan+".1")
		desc := nat.String()
		if fw != netsim.Open {
			desc += ", " + fw.String()
		}
		out = append(out, &host{ns: ns, ip: ip, dev: "eth0", gw: lan + ".1", site: desc})
	}
	return out
}

// host returns the host of that label (see sites).
func (tb *testbed) host(label string) *host {
	h := tb.hosts[label]
	if h == nil {
		panic("no host " + label)
	}
	return h
}

// readdress moves the host to a new address on its LAN, as a laptop that
// gets a new lease: the old address and its routes go, the new one comes.
func (h *host) readdress(t testing.TB, ip string) {
	ns := h.ns.For(t)
	ns.IP("addr", "flush", "dev", h.dev)
	ns.IP("addr", "add", ip+"/24", "dev", h.dev)
	ns.IP("route", "add", "default", "via", h.gw)
	h.ip = ip
}

// relayedBytes reads the appliance's streamsync_turn_relayed_bytes_total,
// both directions added.
func (tb *testbed) relayedBytes() int64 {
	tb.t.Helper()
	return tb.metric("streamsync_turn_relayed_bytes_total", "")
}

// metric reads a counter from the appliance's Prometheus endpoint (on its
// namespace's loopback): the sum of the series whose labels contain
// label (e.g. `reason="denied_range"`; "" for all). A missing series fails.
func (tb *testbed) metric(name, label string) int64 {
	tb.t.Helper()
	resp, err := tb.appNS.HTTPClient().Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		tb.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum int64
	found := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			tb.t.Fatalf("metrics: %q: %v", line, err)
		}
		sum += int64(v)
		found = true
	}
	if !found {
		tb.t.Fatalf("metrics: no %s{%s}", name, label)
	}
	return sum
}

// browsers returns a browser in each host's namespace, starting those not
// yet running at once. A shared host's browser (see homeHost, lanHosts)
// lives until the last scenario; the others end with t.
func (tb *testbed) browsers(t *testing.T, hs ...*host) []*browserProc {
	t.Helper()
	exe := chromiumPath(t)
	out := make([]*browserProc, len(hs))
	errs := make([]error, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		if h.browser != nil {
			out[i] = h.browser
			continue
		}
		owner := testing.TB(t)
		if h.shared {
			owner = tb.t
		}
		home := trustingHome(t, owner.TempDir(), tb.caPEM)
		dataDir := owner.TempDir()
		wg.Go(func() { out[i], errs[i] = startBrowserIn(h, exe, home, dataDir) })
	}
	wg.Wait()
	for i, h := range hs {
		if errs[i] != nil {
			t.Fatalf("start chromium in %s: %v", h.ns.Label, errs[i])
		}
		if h.browser == nil && out[i] != nil {
			b := out[i]
			if h.shared {
				h.browser = b
				tb.t.Cleanup(b.cancel)
			} else {
				t.Cleanup(b.cancel)
			}
		}
	}
	return out
}

// startBrowserIn starts chromium in the host's namespace with HOME set to
// home (whose NSS database trusts the test CA). The DevTools connection is
// a pipe (chromedp's default), which `ip netns exec` passes through: the
// test needs no network path to the browser, so the browser has no
// interface but the host's own, and ICE sees only that.
func startBrowserIn(h *host, exe, home, dataDir string) (*browserProc, error) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, err
	}
	opts := append(launchFlags(true),
		// The suite's flag for its loopback appliance; here only the
		// host's own interface may carry a call.
		chromedp.Flag("allow-loopback-in-peer-connection", false),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(dataDir),
		chromedp.Env("HOME="+home),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Args = append(h.ns.Wrapper(), cmd.Args...)
			cmd.Path = ip
			// Killed when the thread that started it ends, as chromedp does.
			netsim.KillWithStarter(cmd)
		}),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		return nil, err
	}
	return &browserProc{ctx: bctx, cancel: func() { bcancel(); acancel() }}, nil
}

// trustingHome makes a HOME whose NSS database (~/.pki/nssdb, which
// chromium on Linux reads for locally trusted roots) trusts the CA.
// Chromium checks TURN-over-TLS certificates with the same verifier as
// pages, so this covers turns: too; --ignore-certificate-errors does not.
func trustingHome(t testing.TB, home string, caPEM []byte) string {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		const why = "certutil not found (libnss3-tools; scripts/test-deps.sh installs it): the browser cannot trust the test CA"
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + db, "--empty-password"},
		{"-A", "-d", "sql:" + db, "-n", "streamsync-netsim-ca", "-t", "C,,", "-i", ca},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return home
}

// writeCerts makes a CA and a certificate for the appliance's address
// signed by it (internal/testcert), writes cert.pem (leaf then CA) and
// key.pem into dir, and returns the CA in PEM.
func writeCerts(t testing.TB, dir string) []byte {
	t.Helper()
	ca := testcert.NewCA(t)
	leaf := ca.Issue(t, applianceIP)
	caPEM := ca.CertPEM()
	testcert.WriteAtomic(t, filepath.Join(dir, "cert.pem"), append(leaf.CertPEM(), caPEM...))
	testcert.WriteAtomic(t, filepath.Join(dir, "key.pem"), leaf.KeyPEM(t))
	return caPEM
}
