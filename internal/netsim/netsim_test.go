package netsim

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// need skips t where simulated networks cannot be built, and fails it in
// CI, which runs as root.
func need(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("simulated networks must run in CI: %v", err)
		}
		t.Skipf("no simulated networks here: %v", err)
	}
}

// TestNATBehaviour checks the NAT kinds against a reflector on the
// "internet": a cone NAT keeps a host's outside port for two destinations,
// a symmetric one does not, and neither lets in a datagram from a peer the
// host never sent to. NoUDP and OnlyTCP443 drop what they should.
func TestNATBehaviour(t *testing.T) {
	need(t)
	n := New(t)
	inet := n.Namespace("inet")
	inet.Sysctl("net.ipv4.ip_forward", "1")
	refl := n.Namespace("refl")
	n.Link(inet, "refl", "10.250.0.1/24", refl, "eth0", "10.250.0.2/24")
	refl.IP("addr", "add", "10.250.0.3/24", "dev", "eth0")
	refl.IP("route", "add", "default", "via", "10.250.0.1")

	type site struct {
		nat  NAT
		fw   Firewall
		host *NS
	}
	sites := map[string]*site{"cone": {nat: ConeNAT}, "sym": {nat: SymmetricNAT}, "noudp": {nat: ConeNAT, fw: NoUDP}, "only443": {nat: ConeNAT, fw: OnlyTCP443}}
	k := 0
	for _, name := range []string{"cone", "sym", "noudp", "only443"} {
		s := sites[name]
		k++
		r := n.Namespace("r-" + name)
		r.Sysctl("net.ipv4.ip_forward", "1")
		h := n.Namespace("h-" + name)
		o := string(rune('0' + k))
		n.Link(inet, "s"+o, "10.250."+o+".1/24", r, "wan", "10.250."+o+".2/24")
		n.Link(r, "lan", "10.251."+o+".1/24", h, "eth0", "10.251."+o+".2/24")
		r.IP("route", "add", "default", "via", "10.250."+o+".1")
		h.IP("route", "add", "default", "via", "10.251."+o+".1")
		r.Nft(RouterRules("lan", "wan", s.nat, s.fw))
		s.host = h
	}

	// Reflectors on two addresses and two ports: each answers with the
	// source address it saw.
	var reflectors []net.PacketConn
	for _, addr := range []string{"10.250.0.2:4000", "10.250.0.2:4001", "10.250.0.3:4000"} {
		c, err := refl.ListenPacket("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		reflectors = append(reflectors, c)
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				if string(buf[:n]) == "who" {
					_, _ = c.WriteTo([]byte(from.String()), from)
				}
			}
		}()
	}
	// mapped returns the outside address each reflector saw from one socket.
	mapped := func(h *NS, n int) []string {
		c, err := h.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out []string
		for _, r := range reflectors[:n] {
			to := r.LocalAddr()
			got := ""
			for try := 0; try < 3 && got == ""; try++ {
				_, _ = c.WriteTo([]byte("who"), to)
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				buf := make([]byte, 100)
				if n, _, err := c.ReadFrom(buf); err == nil {
					got = string(buf[:n])
				}
			}
			out = append(out, got)
		}
		return out
	}

	cone := mapped(sites["cone"].host, 3)
	if cone[0] == "" || cone[0] != cone[1] || cone[0] != cone[2] || !strings.HasPrefix(cone[0], "10.250.1.2:") {
		t.Errorf("cone NAT: mappings %v, want one outside address for every destination", cone)
	}
	sym := mapped(sites["sym"].host, 3)
	if sym[0] == "" || sym[1] == "" || sym[2] == "" || sym[0] == sym[1] || sym[0] == sym[2] || sym[1] == sym[2] {
		t.Errorf("symmetric NAT: mappings %v, want a different one per destination", sym)
	}
	for _, name := range []string{"noudp", "only443"} {
		if got := mapped(sites[name].host, 1); got[0] != "" {
			t.Errorf("%s: UDP went out (%v)", name, got)
		}
	}

	// TCP: only443 reaches port 443 and nothing else; noudp reaches both.
	for _, port := range []string{"443", "3478"} {
		ln, err := refl.Listen("tcp4", "10.250.0.2:"+port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	dial := func(h *NS, port string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		c, err := h.DialContext(ctx, "tcp4", "10.250.0.2:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !dial(sites["only443"].host, "443") || dial(sites["only443"].host, "3478") {
		t.Errorf("only443: want TCP 443 open and 3478 closed")
	}
	if !dial(sites["noudp"].host, "443") || !dial(sites["noudp"].host, "3478") {
		t.Errorf("noudp: want TCP open")
	}

	// Nothing unsolicited comes in: the reflector sends to the cone NAT's
	// mapping from an address the host never sent to.
	c, err := sites["cone"].host.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteTo([]byte("who"), reflectors[0].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 100)
	n1, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("cone NAT: no reply from the reflector: %v", err)
	}
	outside, _ := net.ResolveUDPAddr("udp4", string(buf[:n1]))
	if _, err := reflectors[2].WriteTo([]byte("hi"), outside); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, from, err := c.ReadFrom(buf); err == nil {
		t.Errorf("cone NAT let in a datagram from %v, which the host never sent to", from)
	}
}

// TestCleanup checks that Close removes the namespaces and kills what runs
// in them, and that leftovers of a dead process are removed by New.
func TestCleanup(t *testing.T) {
	need(t)
	var name string
	t.Run("build", func(t *testing.T) {
		n := New(t)
		ns := n.Namespace("x")
		name = ns.Name
	})
	if nsExists(t, name) {
		t.Errorf("namespace %s still there after its test", name)
	}

	// A namespace left by a process that is gone (the largest pid Linux
	// can give is 4194304) is removed by the next New.
	stale := namePrefix + "4194304-1-x"
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if nsExists(t, stale) {
			_ = exec.Command("ip", "netns", "del", stale).Run()
		}
	})
	New(t)
	if nsExists(t, stale) {
		t.Errorf("stale namespace %s not removed by New", stale)
	}
}

func nsExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}
