package selftest

import (
	"context"
	"crypto/tls"
)

// Listeners are the first TURN listener of each transport ("" for none),
// as configured or as bound; TLSConfig is how to dial the TLS one.
type Listeners struct {
	UDP, TCP, TLS string
	TLSConfig     *tls.Config
}

// Targets lists a Target for each listener, in the order UDP, TCP, TLS,
// dialled on loopback when bound to every address (see Dialable).
func (l Listeners) Targets() []Target {
	var out []Target
	for _, t := range []Target{
		{Transport: "udp", Addr: l.UDP},
		{Transport: "tcp", Addr: l.TCP},
		{Transport: "tls", Addr: l.TLS, TLS: l.TLSConfig},
	} {
		if t.Addr != "" {
			t.Addr = Dialable(t.Addr)
			out = append(out, t)
		}
	}
	return out
}

// CheckAll checks every target with c, one after the other, within ctx.
func CheckAll(ctx context.Context, targets []Target, c Credentials) []Result {
	out := make([]Result, 0, len(targets))
	for _, t := range targets {
		out = append(out, Check(ctx, t, c))
	}
	return out
}
