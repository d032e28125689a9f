package turnserver

import (
	"net"
	"testing"

	"github.com/pion/stun/v3"
)

// TestUnauthenticatedRequestsRateLimited: a flood of Binding requests from
// one source gets no more answers than the bucket allows.
func TestUnauthenticatedRequestsRateLimited(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.UnauthenticatedRate = 1
		c.UnauthenticatedBurst = 5
	})
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const sent = 200
	for range sent {
		m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := pc.WriteTo(m.Raw, srv.UDPAddrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	answers := countAnswers(pc)
	// 5 from the burst plus at most a few refilled at 1/s while sending.
	if answers < 5 || answers > 10 {
		t.Fatalf("%d answers to %d unauthenticated requests, want 5..10", answers, sent)
	}
	if got := srv.Stats().UnauthenticatedDropped; got < sent-10 {
		t.Fatalf("dropped counter %d, want >= %d", got, sent-10)
	}
	// Another source is not affected.
	c, _ := dialClient(t, srv, "udp", "", "")
	if _, err := c.SendBindingRequest(); err != nil {
		t.Fatalf("binding from another source: %v", err)
	}
}

func TestPermissionCap(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.MaxPermissionsPerAllocation = 2
		c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	})
	u, p := validCreds(t, "perm")
	c, _ := dialClient(t, srv, "udp", u, p)
	if _, err := c.Allocate(); err != nil {
		t.Fatal(err)
	}
	peer := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 9} }
	for _, ip := range []string{"127.9.0.1", "127.9.0.2"} {
		if err := c.CreatePermission(peer(ip)); err != nil {
			t.Fatalf("permission %s under the cap: %v", ip, err)
		}
	}
	if err := c.CreatePermission(peer("127.9.0.3")); err == nil {
		t.Fatal("a third peer IP was admitted past max_permissions_per_allocation = 2")
	}
	if err := c.CreatePermission(peer("127.9.0.1")); err != nil {
		t.Fatalf("refreshing an existing permission at the cap: %v", err)
	}
	if srv.Stats().PermissionCapHits != 1 {
		t.Fatalf("cap hits = %d, want 1", srv.Stats().PermissionCapHits)
	}
}

func TestChannelCap(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.MaxChannelsPerAllocation = 1
		c.AllowedPeerRanges = mustPrefixes("127.0.0.0/8")
	})
	u, p := validCreds(t, "chan")
	c, _ := dialClient(t, srv, "udp", u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	// pion's client binds a channel for each peer it sends to; the second
	// binding is refused, and data still flows by Send indications.
	for i, ip := range []string{"127.8.0.1:0", "127.8.0.2:0"} {
		if err := roundTrip(t, relay, echoPeer(t, ip), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return srv.Stats().ChannelCapRejections >= 1 })
}

func TestSTUNRequestClassifier(t *testing.T) {
	t.Parallel()
	req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		stun.NewUsername("u"), stun.NewShortTermIntegrity("p"))
	isReq, method, mi := stunRequest(req.Raw)
	if !isReq || method != methodChannelBind || !mi {
		t.Fatalf("ChannelBind with integrity classified as %v %#x %v", isReq, method, mi)
	}
	alloc := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest))
	if isReq, method, mi := stunRequest(alloc.Raw); !isReq || method != methodAllocate || mi {
		t.Fatalf("bare Allocate classified as %v %#x %v", isReq, method, mi)
	}
	resp := stun.MustBuild(stun.TransactionID, stun.BindingSuccess)
	if isReq, _, _ := stunRequest(resp.Raw); isReq {
		t.Fatal("a success response classified as a request")
	}
	if isReq, _, _ := stunRequest([]byte{0x40, 0, 0, 4, 1, 2, 3, 4}); isReq {
		t.Fatal("ChannelData classified as a request")
	}
}

func TestChannelRefreshAtCapAdmitted(t *testing.T) {
	t.Parallel()
	caps := newAllocationCaps()
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	if !caps.admitChannel(src, 0x4000, 1) {
		t.Fatal("first channel refused")
	}
	caps.channelCreated(src, 0x4000)
	if !caps.admitChannel(src, 0x4000, 1) {
		t.Fatal("refreshing the bound channel at the cap was refused")
	}
	if caps.admitChannel(src, 0x4001, 1) {
		t.Fatal("a second channel past the cap was admitted")
	}
	caps.channelDeleted(src, 0x4000)
	if !caps.admitChannel(src, 0x4001, 1) {
		t.Fatal("a channel after the first expired was refused")
	}
	bind := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x07, 0, 0}})
	if got := channelNumber(bind.Raw); got != 0x4007 {
		t.Fatalf("channelNumber = %#x, want 0x4007", got)
	}
}
