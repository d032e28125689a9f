package certs

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/testcert"
)

// TestExpiriesFiles: the file pair's expiry under its first name, and the
// replacement's once reloaded.
func TestExpiriesFiles(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	first := ca.IssueSpec(t, testcert.Spec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), Names: []string{"call.example.com", "127.0.0.1"}})
	m := newManager(t, writePair(t, dir, first, now.Add(-time.Minute)))
	want := []Expiry{{Name: "call.example.com", NotAfter: now.Add(30 * 24 * time.Hour)}}
	if got := m.Expiries(); !equalExpiries(got, want) {
		t.Fatalf("Expiries = %v, want %v", got, want)
	}
	second := ca.IssueSpec(t, testcert.Spec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(60 * 24 * time.Hour), Names: []string{"call.example.com"}})
	writePair(t, dir, second, now)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	want[0].NotAfter = now.Add(60 * 24 * time.Hour)
	if got := m.Expiries(); !equalExpiries(got, want) {
		t.Fatalf("after a renewal: Expiries = %v, want %v", got, want)
	}
}

// TestExpiriesACME: nothing before the certificates are obtained; each
// domain's after Obtain; a certificate served later replaces the one
// noted.
func TestExpiriesACME(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	call := ca.IssueSpec(t, testcert.Spec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(80 * 24 * time.Hour), Names: []string{"call.example.com"}})
	turn := ca.IssueSpec(t, testcert.Spec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(70 * 24 * time.Hour), Names: []string{"turn.example.com"}})
	putCached(t, dir, "call.example.com", call)
	putCached(t, dir, "turn.example.com", turn)
	m := newManager(t, acmeConfig(dir, "call.example.com", "turn.example.com"))
	if got := m.Expiries(); len(got) != 0 {
		t.Fatalf("before Obtain: Expiries = %v, want none", got)
	}
	if err := m.Obtain(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []Expiry{
		{Name: "call.example.com", NotAfter: now.Add(80 * 24 * time.Hour)},
		{Name: "turn.example.com", NotAfter: now.Add(70 * 24 * time.Hour)},
	}
	if got := m.Expiries(); !equalExpiries(got, want) {
		t.Fatalf("after Obtain: Expiries = %v, want %v", got, want)
	}

	// What a handshake is served is what counts: a certificate the
	// hook hands out (here a hand-made one for the default domain, as after
	// a renewal) replaces the noted expiry.
	renewed := ca.IssueSpec(t, testcert.Spec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), Names: []string{"call.example.com"}})
	m.served.note("call.example.com", &tls.Certificate{Certificate: [][]byte{renewed.Cert.Raw}})
	want[0].NotAfter = now.Add(90 * 24 * time.Hour)
	if got := m.Expiries(); !equalExpiries(got, want) {
		t.Fatalf("after a renewal: Expiries = %v, want %v", got, want)
	}
}

func equalExpiries(a, b []Expiry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !a[i].NotAfter.Equal(b[i].NotAfter) {
			return false
		}
	}
	return true
}
