package certs

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Session ticket keys (RFC 8446 §4.6.1, RFC 5077): a new key encrypts
// tickets every ticketRotateEvery, and the last ticketKeysKept keys still
// decrypt, so a ticket resumes for at most 36 h and a stolen key exposes at
// most that much. crypto/tls by default keeps keys for 7 days.
const (
	ticketRotateEvery = 12 * time.Hour
	ticketKeysKept    = 3
)

// ticketRotator owns the goroutine that rotates a tls.Config's session
// ticket keys.
type ticketRotator struct {
	cfg  *tls.Config
	log  *slog.Logger
	keys [][32]byte // newest first; only the rotating goroutine touches it after start

	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// startTicketRotator sets a first key on cfg and rotates it until stop.
func startTicketRotator(cfg *tls.Config, log *slog.Logger) (*ticketRotator, error) {
	r := &ticketRotator{cfg: cfg, log: log, quit: make(chan struct{}), done: make(chan struct{})}
	if err := r.rotate(); err != nil {
		return nil, err
	}
	go r.run()
	return r, nil
}

func (r *ticketRotator) run() {
	defer close(r.done)
	t := time.NewTicker(ticketRotateEvery)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			if err := r.rotate(); err != nil {
				r.log.Error("session ticket key rotation failed; keeping the current keys", "err", err)
			}
		}
	}
}

// rotate puts a new random key first and drops the oldest beyond
// ticketKeysKept.
func (r *ticketRotator) rotate() error {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("certs: session ticket key: %w", err)
	}
	keys := append([][32]byte{k}, r.keys...)
	if len(keys) > ticketKeysKept {
		keys = keys[:ticketKeysKept]
	}
	r.keys = keys
	r.cfg.SetSessionTicketKeys(keys)
	return nil
}

// stop ends the rotation and waits for its goroutine.
func (r *ticketRotator) stop() {
	r.once.Do(func() { close(r.quit) })
	<-r.done
}
