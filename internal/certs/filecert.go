package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fileCheckEvery is how often, at most, a handshake stats the certificate
// files to notice a renewal (one cheap stat of two files per interval).
const fileCheckEvery = 2 * time.Second

// fileCert serves the key pair of two PEM files and picks up new versions:
// on Reload, and on a handshake once the files' modification time or size
// changed. A pair that does not load (half-written files, key not matching,
// expired) is rejected and the previous one kept.
type fileCert struct {
	certPath, keyPath string
	log               *slog.Logger
	checkEvery        time.Duration

	cur     atomic.Pointer[tls.Certificate]
	nextDue atomic.Int64 // UnixNano at which the next stat is due

	mu   sync.Mutex // guards seen and serializes loads
	seen fileStamp  // the files' stamp when last loaded or rejected
}

// fileStamp identifies a version of the two files by modification time and
// size.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newFileCert(certPath, keyPath string, log *slog.Logger) (*fileCert, error) {
	f := &fileCert{certPath: certPath, keyPath: keyPath, log: log, checkEvery: fileCheckEvery}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// certificate returns the current pair, first re-reading the files if
// they changed and a check is due.
func (f *fileCert) certificate() *tls.Certificate {
	if now := time.Now().UnixNano(); now >= f.nextDue.Load() {
		f.nextDue.Store(now + int64(f.checkEvery))
		if f.mu.TryLock() { // another handshake already checks
			f.reloadIfChanged()
			f.mu.Unlock()
		}
	}
	return f.cur.Load()
}

// reloadIfChanged loads the files if their stamp differs from the one last
// seen. f.mu is held.
func (f *fileCert) reloadIfChanged() {
	st, err := f.stamp()
	if err != nil || st == f.seen {
		return // a missing file is reported once it is back, or on Reload
	}
	f.seen = st
	if err := f.loadLocked(); err != nil {
		f.log.Warn("certificate files changed but were rejected; serving the previous certificate",
			"cert_file", f.certPath, "key_file", f.keyPath, "err", err)
	}
}

// reload loads the files unconditionally (New and Reload).
func (f *fileCert) reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, err := f.stamp(); err == nil {
		f.seen = st
	}
	return f.loadLocked()
}

// loadLocked reads and checks the pair and makes it current. f.mu is held.
func (f *fileCert) loadLocked() error {
	cert, err := loadPair(f.certPath, f.keyPath, time.Now())
	if err != nil {
		return err
	}
	old := f.cur.Swap(cert)
	if old == nil || old.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 || !old.Leaf.Equal(cert.Leaf) {
		f.log.Info("certificate loaded", "cert_file", f.certPath,
			"names", strings.Join(certNames(cert.Leaf), ","),
			"serial", cert.Leaf.SerialNumber.Text(16),
			"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if left := time.Until(cert.Leaf.NotAfter); left < 14*24*time.Hour {
		f.log.Warn("certificate expires soon", "cert_file", f.certPath, "expires_in", left.Round(time.Minute).String())
	}
	return nil
}

func (f *fileCert) stamp() (fileStamp, error) {
	c, err := os.Stat(f.certPath)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(f.keyPath)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// loadPair reads a PEM certificate chain and its key and refuses a pair
// that does not match or whose leaf is not valid at now.
func loadPair(certPath, keyPath string, now time.Time) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: load cert_file %s and key_file %s: %w", certPath, keyPath, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: parse cert_file %s: %w", certPath, err)
		}
		cert.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("certs: cert_file %s: certificate expired at %s", certPath, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("certs: cert_file %s: certificate not valid before %s", certPath, leaf.NotBefore.UTC().Format(time.RFC3339))
	case len(certNames(leaf)) == 0:
		return nil, errors.New("certs: cert_file " + certPath + ": certificate names no host (no DNS or IP subject alternative name)")
	}
	return &cert, nil
}

// certNames lists the host names and IP addresses a certificate covers.
func certNames(leaf *x509.Certificate) []string {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}
