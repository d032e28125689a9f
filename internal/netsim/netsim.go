// Package netsim builds simulated networks for tests out of Linux network
// namespaces joined by veth pairs, with NAT and firewall rules in nftables:
// hosts, NAT routers and an "internet" router, each a namespace with its own
// interfaces, addresses, routes and rules. Processes run inside a namespace
// through `ip netns exec` (see NS.Wrapper), and the test process opens
// sockets inside one through NS.Do, NS.DialContext and NS.ListenPacket.
//
// Everything a Net makes lives inside its own namespaces, which the test's
// cleanup deletes, killing what still runs in them; nothing is added to the
// host's own namespace, and no namespace has a route to the host's network.
// It needs root, iproute2 and nftables: Available says why it cannot run.
// Failures of its commands fail the test that made the Net; a subtest
// uses NS.For to have them reported to itself.
package netsim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// namePrefix starts the name of every namespace netsim makes; the number
// after it is the making process's id, so leftovers of a crashed run can be
// told from a live one's (see removeStale).
const namePrefix = "ssnet"

var staleName = regexp.MustCompile(`^` + namePrefix + `([0-9]+)-`)

// Available reports why this machine cannot build simulated networks (not
// root, no ip or nft, namespaces refused), or nil if it can. It tries a
// namespace with an nftables table in it, and removes it.
func Available() error {
	if err := supported(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (run the tests as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (install iproute2 and nftables, e.g. scripts/test-deps.sh)", tool)
		}
	}
	name := fmt.Sprintf("%s%d-probe", namePrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, bytes.TrimSpace(out))
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	cmd := exec.Command("ip", "netns", "exec", name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader("table inet probe {\n  chain c {\n    type filter hook forward priority 0;\n  }\n}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nftables in a namespace: %v: %s", err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command("ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1").CombinedOutput(); err != nil {
		return fmt.Errorf("veth pair: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Net is one test's simulated network: the namespaces it made, deleted
// when the test ends (passed, failed or panicked).
type Net struct {
	t      testing.TB
	prefix string // "ssnet<pid>-<seq>-"

	mu  sync.Mutex
	nss []*NS // guarded by mu: made so far, deleted in reverse order
}

var seq struct {
	sync.Mutex
	n int
}

// New starts an empty network for t and removes leftovers of earlier runs
// that crashed before their cleanup. Call Available first: New fails the
// test where it returns an error. Register New before starting processes
// in its namespaces, so that their cleanups (which run first) stop them
// before the namespaces go.
func New(t testing.TB) *Net {
	t.Helper()
	removeStale(t)
	seq.Lock()
	seq.n++
	n := &Net{t: t, prefix: fmt.Sprintf("%s%d-%d-", namePrefix, os.Getpid(), seq.n)}
	seq.Unlock()
	t.Cleanup(n.Close)
	return n
}

// Close kills the processes left in the network's namespaces and deletes
// them, with their interfaces and rules. The test's cleanup calls it.
func (n *Net) Close() {
	n.mu.Lock()
	nss := n.nss
	n.nss = nil
	n.mu.Unlock()
	for i := len(nss) - 1; i >= 0; i-- {
		if err := deleteNamespace(nss[i].Name); err != nil {
			n.t.Errorf("netsim: %v", err)
		}
	}
}

// removeStale deletes namespaces named by a netsim run whose process is
// gone (a test binary killed before its cleanup ran).
func removeStale(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("netsim: ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := staleName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || processAlive(pid) {
			continue // ours, or a run still going
		}
		t.Logf("netsim: removing %s, left by process %d", name, pid)
		if err := deleteNamespace(name); err != nil {
			t.Errorf("netsim: %v", err)
		}
	}
}

// deleteNamespace kills every process in the namespace, then deletes it.
func deleteNamespace(name string) error {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				killProcess(pid)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// NS is one network namespace of a Net: a host or a router.
type NS struct {
	// Name is the namespace's name for `ip netns` (unique per run).
	Name string
	// Label is the short name the test gave it.
	Label string
	t     testing.TB // where failures go: the Net's test unless For
}

// For returns the namespace with its failures reported to t, for use from
// a subtest (a test may only fail from its own goroutine).
func (ns *NS) For(t testing.TB) *NS {
	c := *ns
	c.t = t
	return &c
}

// Namespace makes a namespace with its loopback up. label names it in
// messages and must be unique within the Net.
func (n *Net) Namespace(label string) *NS {
	n.t.Helper()
	ns := &NS{Name: n.prefix + label, Label: label, t: n.t}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		n.t.Fatalf("netsim: ip netns add %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	n.mu.Lock()
	n.nss = append(n.nss, ns)
	n.mu.Unlock()
	ns.IP("link", "set", "lo", "up")
	return ns
}

// Link joins a and b with a veth pair: interface aDev in a with address
// aCIDR ("10.250.1.1/24"; "" for none), bDev in b with bCIDR, both up.
func (n *Net) Link(a *NS, aDev, aCIDR string, b *NS, bDev, bCIDR string) {
	n.t.Helper()
	a.IP("link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", b.Name)
	for _, e := range []struct {
		ns        *NS
		dev, cidr string
	}{{a, aDev, aCIDR}, {b, bDev, bCIDR}} {
		if e.cidr != "" {
			e.ns.IP("addr", "add", e.cidr, "dev", e.dev)
		}
		e.ns.IP("link", "set", e.dev, "up")
	}
}

// Wrapper is the command prefix that runs a program in the namespace:
// `ip netns exec NAME`, which execs the program (signals reach it).
func (ns *NS) Wrapper() []string { return []string{"ip", "netns", "exec", ns.Name} }

// Run runs a command in the namespace and returns its output; a failure
// fails the test with the output.
func (ns *NS) Run(args ...string) string {
	ns.t.Helper()
	return ns.run(nil, append(ns.Wrapper(), args...)...)
}

// IP runs `ip -n NAME args...`.
func (ns *NS) IP(args ...string) string {
	ns.t.Helper()
	return ns.run(nil, append([]string{"ip", "-n", ns.Name}, args...)...)
}

// Nft loads an nftables ruleset (nft -f syntax) into the namespace.
func (ns *NS) Nft(ruleset string) {
	ns.t.Helper()
	ns.run(strings.NewReader(ruleset), append(ns.Wrapper(), "nft", "-f", "-")...)
}

// Sysctl sets a sysctl of the namespace (net.* keys are per namespace).
func (ns *NS) Sysctl(key, value string) {
	ns.t.Helper()
	ns.Run("sysctl", "-q", "-w", key+"="+value)
}

func (ns *NS) run(stdin *strings.Reader, args ...string) string {
	ns.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		ns.t.Fatalf("netsim: %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}
