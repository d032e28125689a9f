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
	waitUntil(t, "the two oldest empty rooms forgotten", func() bool {
		_, err0 := n1.reg.Roster(rooms[0])
		_, err1 := n1.reg.Roster(rooms[1])
		return err0 != nil && err1 != nil
	})
	for _, id := range rooms[2:] {
		if _, err := n1.reg.Roster(id); err != nil {
			t.Fatalf("a newer empty room was forgotten: %v", err)
		}
	}
}
