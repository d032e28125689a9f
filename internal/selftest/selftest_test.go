package selftest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
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

// TestListenersTargets: one target per listener given, in the order UDP,
// TCP, TLS, wildcard binds dialled on loopback, the TLS config on the TLS
// target only.
func TestListenersTargets(t *testing.T) {
	tc := &tls.Config{ServerName: "call.example.com", MinVersion: tls.VersionTLS12}
	got := Listeners{UDP: "0.0.0.0:3478", TLS: "[::]:5349", TLSConfig: tc}.Targets()
	want := []Target{{Transport: "udp", Addr: "127.0.0.1:3478"}, {Transport: "tls", Addr: "127.0.0.1:5349", TLS: tc}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Targets() = %+v, want %+v", got, want)
	}
	got = Listeners{UDP: "192.0.2.1:3478", TCP: "192.0.2.1:3479"}.Targets()
	want = []Target{{Transport: "udp", Addr: "192.0.2.1:3478"}, {Transport: "tcp", Addr: "192.0.2.1:3479"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Targets() = %+v, want %+v", got, want)
	}
	if got := (Listeners{TLSConfig: tc}).Targets(); len(got) != 0 {
		t.Fatalf("no listener: Targets() = %+v", got)
	}
}
