package signaling

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestEmptyRoomsDoNotFillMaxRooms is the squatting attack of issue 15:
// many addresses create rooms and leave them at once. Before, each empty
// room counted toward max_rooms for empty_room_ttl, and every honest
// create got too-many-rooms. Now an empty room costs an id and a time and
// does not count; its link still works.
func TestEmptyRoomsDoNotFillMaxRooms(t *testing.T) {
	cfg := attackConfig()
	cfg.MaxRooms = 30
	cfg.JoinRate, cfg.JoinBurst = 1, 10 // the defaults: 10 creates per address at once
	ts := newTestServer(t, cfg)
	honest := newHonestPair(t, ts)

	var rooms []string
	for ip := range 4 {
		for range cfg.JoinBurst {
			c := ts.mustDialFrom(t, fmt.Sprintf("203.0.113.%d", 100+ip))
			c.join("", "squatter")
			rooms = append(rooms, c.room)
			c.send(msg{"type": "leave"})
			c.expectClose(closeNormal)
		}
		honest.exchange(t)
	}
	waitUntil(t, "the squatters' rooms to empty", func() bool { return ts.srv.Stats().Rooms == 1 }) // the honest pair's
	c := ts.mustDialFrom(t, "198.51.100.20")
	c.join("", "honest creator") // would be too-many-rooms before
	// An empty room's link still works.
	d := ts.mustDialFrom(t, "198.51.100.21")
	if j := d.join(rooms[0], "late"); len(peerIDs(j)) != 0 {
		t.Fatalf("joined an empty room with peers %v", peerIDs(j))
	}
	honest.exchange(t)
}

// TestEmptyRoomsForgottenOldestFirst: at most EmptyRoomsPerRoom ×
// max_rooms empty rooms are remembered; the oldest go first, rooms in use
// never.
func TestEmptyRoomsForgottenOldestFirst(t *testing.T) {
	reg := NewMemoryRegistry(2, 4, time.Hour)
	defer reg.Close()
	if err := reg.Create("busy", Peer{ID: "p"}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	n := EmptyRoomsPerRoom*2 + 5
	for i := range n {
		id := fmt.Sprintf("r%02d", i)
		if err := reg.Create(id, Peer{ID: "a"}, &recorder{}); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		reg.Leave(id, "a", nil)
	}
	if got := reg.emptyRooms(); got != EmptyRoomsPerRoom*2 {
		t.Fatalf("%d empty rooms remembered, want %d", got, EmptyRoomsPerRoom*2)
	}
	for i := range n {
		_, err := reg.Roster(fmt.Sprintf("r%02d", i))
		if forgotten := errors.Is(err, ErrRoomNotFound); forgotten != (i < 5) {
			t.Errorf("room %d: forgotten %v", i, forgotten)
		}
	}
	if _, err := reg.Roster("busy"); err != nil {
		t.Fatalf("room in use forgotten: %v", err)
	}
	// Joining an empty room puts it in use: it needs a free place.
	if _, err := reg.Join("r10", Peer{ID: "b"}, &recorder{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Join("r11", Peer{ID: "c"}, &recorder{}, nil); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("third room in use with max_rooms 2: %v", err)
	}
	if rooms, peers := reg.Counts(); rooms != 2 || peers != 2 {
		t.Fatalf("counts %d rooms, %d peers", rooms, peers)
	}
}

// TestRoomsPerIP: one address takes part in at most max_rooms_per_ip rooms
// (created or joined); an IPv6 /64 is one address.
func TestRoomsPerIP(t *testing.T) {
	cfg := attackConfig()
	cfg.MaxRoomsPerIP = 3
	ts := newTestServer(t, cfg)
	honest := newHonestPair(t, ts)

	for _, tc := range []struct{ name, a, b, other string }{
		{"IPv4", "203.0.113.7", "203.0.113.7", "203.0.113.8"},
		{"IPv6 /64", "2001:db8:1:2::a", "2001:db8:1:2:ffff::1", "2001:db8:1:3::a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []*client
			for i := range cfg.MaxRoomsPerIP {
				ip := tc.a
				if i%2 == 1 {
					ip = tc.b // the same /64
				}
				c := ts.mustDialFrom(t, ip)
				c.join("", "squatter")
				in = append(in, c)
			}
			c := ts.mustDialFrom(t, tc.b)
			c.send(msg{"type": "join"})
			c.expectError(codeTooManyRooms)
			// Nor may it join a fourth room...
			o := ts.mustDialFrom(t, tc.other)
			o.join("", "other")
			c.send(msg{"type": "join", "room": o.room})
			c.expectError(codeTooManyRooms)
			// ...but may join one it is in already.
			c.join(in[0].room, "second device")
			in[0].expect("peer-joined")
			// Leaving a room frees its place.
			in[1].send(msg{"type": "leave"})
			in[1].expectClose(closeNormal)
			d := ts.mustDialFrom(t, tc.a)
			waitUntil(t, "the room to be freed", func() bool { return ts.srv.roomsIP.count(ipKey(mustAddr(tc.a))) < 3 })
			d.join("", "again")
			honest.exchange(t)
		})
	}
	if n := ts.srv.Stats().RoomsPerIPLimited; n != 4 {
		t.Fatalf("refusals counted %d, want 4", n)
	}
}

// TestIPv6CountsPerSlash64: connections and joins from one IPv6 /64 count
// as one address, whatever addresses in it they use.
func TestIPv6CountsPerSlash64(t *testing.T) {
	cfg := attackConfig()
	cfg.MaxConnsPerIP = 2
	cfg.JoinRate, cfg.JoinBurst = 0.001, 3
	ts := newTestServer(t, cfg)
	honest := newHonestPair(t, ts)
	a := ts.mustDialFrom(t, "2001:db8:5:6::1")
	ts.mustDialFrom(t, "2001:db8:5:6:1:2:3:4")
	if _, resp, err := ts.dialFrom(t, "2001:db8:5:6::99"); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection from one /64: %v %v, want 429", err, resp)
	}
	ts.mustDialFrom(t, "2001:db8:5:7::1") // another /64
	for range cfg.JoinBurst {
		a.send(msg{"type": "join", "room": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		a.expectError(codeRoomNotFound)
	}
	a.send(msg{"type": "join", "room": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
	a.expectError(codeRateLimited)
	honest.exchange(t)
}

// TestCreatePasswordGuessesLimitedServerWide: wrong create passwords from
// any number of addresses share one budget; once it is spent a create is
// refused without the password being compared, except from an address
// that created a room with it before.
func TestCreatePasswordGuessesLimitedServerWide(t *testing.T) {
	cfg := attackConfig()
	cfg.CreatePassword = "correct-horse-battery"
	cfg.BadPasswordRate, cfg.BadPasswordBurst = 0.001, 5
	ts := newTestServer(t, cfg)
	h := http.Header{"X-Forwarded-For": []string{"198.51.100.7"}}
	a, _, err := ts.dialHeader(t, h)
	if err != nil {
		t.Fatal(err)
	}
	a.send(msg{"type": "join", "name": "honest-a", "password": cfg.CreatePassword})
	j := a.expect("joined")
	a.id, a.room = j.str("id"), j.str("room")
	b, _, _ := ts.dialHeader(t, h)
	b.join(a.room, "honest-b")
	a.expect("peer-joined")
	honest := &honestPair{a, b}

	for i := range 20 {
		c := ts.mustDialFrom(t, fmt.Sprintf("203.0.113.%d", 150+i))
		c.send(msg{"type": "join", "password": fmt.Sprintf("guess-%d", i)})
		want := codeBadPassword
		if i >= cfg.BadPasswordBurst {
			want = codeRateLimited
		}
		c.expectError(want)
	}
	// The right password from a new address is not even compared...
	c := ts.mustDialFrom(t, "203.0.113.200")
	c.send(msg{"type": "join", "password": cfg.CreatePassword})
	c.expectError(codeRateLimited)
	// ...but the address that created a room with it goes on creating.
	d, _, _ := ts.dialHeader(t, h)
	d.send(msg{"type": "join", "password": cfg.CreatePassword})
	d.expect("joined")
	if st := ts.srv.Stats(); st.BadPasswords != int64(cfg.BadPasswordBurst) || st.PasswordsLimited != 16 {
		t.Fatalf("wrong passwords counted %d, refused unchecked %d", st.BadPasswords, st.PasswordsLimited)
	}
	honest.exchange(t)
}
