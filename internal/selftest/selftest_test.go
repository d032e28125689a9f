package selftest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestCheckCancelled: a check whose context ends mid-way returns at once
// with the context's error, while the abandoned round trip finishes on its
// own (run with -race: the two must not share the result).
func TestCheckCancelled(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0") // answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := Check(ctx, Target{Transport: "udp", Addr: silent.LocalAddr().String()}, Credentials{Username: "1:u", Password: "p", Realm: "r"})
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", r.Err)
	}
}

func TestCheckUnknownTransport(t *testing.T) {
	r := Check(context.Background(), Target{Transport: "sctp", Addr: "127.0.0.1:1"}, Credentials{})
	if r.Err == nil {
		t.Fatal("an unknown transport passed")
	}
}
