package signaling

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// recorder is a Member that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Deliver(m []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, string(m))
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func TestMemoryRegistry(t *testing.T) {
	reg := NewMemoryRegistry(2, 2, 50*time.Millisecond)
	defer reg.Close()
	a, b := &recorder{}, &recorder{}
	if err := reg.Create("r1", Peer{ID: "a"}, a); err != nil {
		t.Fatal(err)
	}
	if err := reg.Create("r1", Peer{ID: "x"}, a); !errors.Is(err, ErrRoomExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	roster, err := reg.Join("r1", Peer{ID: "b"}, b, []byte("b joined"))
	if err != nil || len(roster) != 1 || roster[0].ID != "a" {
		t.Fatalf("join: %v %v", roster, err)
	}
	if _, err := reg.Join("r1", Peer{ID: "c"}, &recorder{}, nil); !errors.Is(err, ErrRoomFull) {
		t.Fatalf("full: %v", err)
	}
	if _, err := reg.Join("nope", Peer{ID: "c"}, &recorder{}, nil); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("not found: %v", err)
	}
	if err := reg.Send("r1", "b", []byte("to b")); err != nil {
		t.Fatal(err)
	}
	if err := reg.Send("r1", "zz", nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown: %v", err)
	}
	if err := reg.Update("r1", Peer{ID: "a", Name: "Ada"}, []byte("a state")); err != nil {
		t.Fatal(err)
	}
	if roster, _ := reg.Roster("r1"); roster[0].Name != "Ada" {
		t.Fatalf("roster %v", roster)
	}
	_ = reg.Create("r2", Peer{ID: "z"}, &recorder{})
	if err := reg.Create("r3", Peer{ID: "y"}, &recorder{}); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("too many: %v", err)
	}
	reg.Leave("r1", "b", []byte("b left"))
	reg.Leave("r1", "b", []byte("b left again")) // harmless
	if got := a.got(); len(got) != 2 || got[0] != "b joined" || got[1] != "b left" {
		t.Fatalf("a got %q", got)
	}
	if got := b.got(); len(got) != 2 || got[0] != "to b" || got[1] != "a state" {
		t.Fatalf("b got %q", got)
	}
	reg.Leave("r1", "a", nil)
	// The empty room is forgotten after its delay.
	waitUntil(t, "empty room forgotten", func() bool {
		_, err := reg.Roster("r1")
		return errors.Is(err, ErrRoomNotFound)
	})
	if rooms, peers := reg.Counts(); rooms != 1 || peers != 1 {
		t.Fatalf("counts %d %d", rooms, peers)
	}
}
