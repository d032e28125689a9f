package cluster

import (
	"testing"

	"github.com/streamsync/streamsync/signaling"
)

// TestRoomCapCountsRoomsInUse: the rules of signaling.MemoryRegistry hold
// here too. A room counts toward max_rooms (on a node) while someone is in
// it there; an empty one does not, but joining it puts it in use again, so
// it needs a free place; and past EmptyRoomsPerRoom × max_rooms empty
// rooms, the oldest are forgotten.
func TestRoomCapCountsRoomsInUse(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.MaxRooms = 2
	n1, n2 := startNode(t, "n1", sc, cc), startNode(t, "n2", sc, cc)

	a := n1.dial(t)
	a.join("", "in A")
	b := n1.dial(t)
	b.join("", "in B")
	emptied := b.room
	b.send(msg{"type": "leave"})
	b.expectClosed()
	waitUntil(t, "room B to empty", func() bool { rooms, _ := n1.reg.Counts(); return rooms == 1 })

	c := n1.dial(t)
	c.join("", "in C") // B is empty: it does not count
	d := n1.dial(t)
	d.send(msg{"type": "join"})
	d.expectError("too-many-rooms")
	d.send(msg{"type": "join", "room": emptied})
	d.expectError("too-many-rooms") // would be a third room in use on n1
	e := n2.dial(t)
	if j := e.join(emptied, "on n2"); len(peerIDs(j)) != 0 {
		t.Fatalf("joined the empty room with peers %v", peerIDs(j))
	}
	a.alive()
}

func TestEmptyRoomsForgottenOldestFirst(t *testing.T) {
	ns := startNATS(t)
	sc, cc := testConfigs(ns.url())
	sc.MaxRooms = 1
	n1 := startNode(t, "n1", sc, cc)
	keep := signaling.EmptyRoomsPerRoom * sc.MaxRooms
	var rooms []string
	for range keep + 2 {
		c := n1.dial(t)
		c.join("", "passing")
		rooms = append(rooms, c.room)
		c.send(msg{"type": "leave"})
		c.expectClosed()
		waitUntil(t, "the room to empty", func() bool { r, _ := n1.reg.Counts(); return r == 0 })
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		n1.reg.mu.Lock()
		defer n1.reg.mu.Unlock()
		for i, id := range rooms {
			rm := n1.reg.rooms[roomKey(id)]
			if rm == nil {
				t.Logf("room %d: gone", i)
				continue
			}
			t.Logf("room %d: rev %d lastWrite %d dirty %v members %d local %d empty %v", i, rm.rev, rm.lastWrite, rm.dirty, len(rm.rec.Members), len(rm.local), rm.rec.Empty)
		}
		t.Logf("ready %v upSince %v nodes %d", n1.reg.ready, n1.reg.upSince, len(n1.reg.nodes))
	})
	// Count the empty rooms the node knows rather than name the two
	// oldest: under load a room's last write can lag behind later rooms'.
	emptyKnown := func() (n int) {
		n1.reg.mu.Lock()
		defer n1.reg.mu.Unlock()
		for _, rm := range n1.reg.rooms {
			if len(rm.rec.Members) == 0 && !rm.rec.Empty.IsZero() {
				n++
			}
		}
		return n
	}
	waitUntil(t, "the empty rooms past the cap forgotten", func() bool { return emptyKnown() <= keep })
	for _, id := range rooms[len(rooms)-keep:] {
		if _, err := n1.reg.Roster(id); err != nil {
			t.Fatalf("one of the %d newest empty rooms was forgotten: %v", keep, err)
		}
	}
}
