package signaling

import (
	"net/netip"
	"sync"
)

// admission counts the places clients hold, per client address (ipKey)
// and in total: open WebSockets and places held for a resume after a
// drop. A held place costs memory like a connection (its queue, its
// roster entry), so it counts like one: dropping connections cannot
// multiply what one address holds.
//
// A connection over a cap is still let in, as resume-only, while its
// address (and the server) holds more places than resume-only
// connections: it may only resume one of them, which changes nothing to
// the counts. So a client at its cap can always get its own place back.
type admission struct {
	maxPerIP, maxTotal int

	mu sync.Mutex
	// guarded by mu:
	perIP map[netip.Addr]*placeCount
	total placeCount
}

// placeCount is what one scope (an address, or the server) holds.
type placeCount struct {
	conns    int // connections admitted normally
	held     int // places held for resume
	resuming int // resume-only connections not yet resumed
}

// ticketState is what a ticket counts as.
type ticketState int

const (
	ticketDone     ticketState = iota // counts nothing any more
	ticketConn                        // a connection
	ticketResuming                    // a resume-only connection
	ticketHeld                        // a place held for resume
)

// ticket is one admitted connection, and later the place it leaves held.
// Its methods may be called from any goroutine, and on nil (a connection
// made without admission, in tests) do nothing.
type ticket struct {
	a     *admission
	key   netip.Addr
	state ticketState // guarded by a.mu
}

func newAdmission(maxPerIP, maxTotal int) *admission {
	return &admission{maxPerIP: maxPerIP, maxTotal: maxTotal, perIP: make(map[netip.Addr]*placeCount)}
}

// admitResult says why a connection was refused, or how it was let in.
type admitResult int

const (
	admitted         admitResult = iota
	admittedResuming             // over a cap: may only resume a held place
	refusedPerIP                 // the address holds max_conns_per_ip places
	refusedTotal                 // the server holds max_connections places
)

// admit counts a new connection from key. The ticket is nil when refused;
// otherwise it must end with release (or hold, then release).
func (a *admission) admit(key netip.Addr) (*ticket, admitResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pc := a.perIP[key]
	if pc == nil {
		pc = &placeCount{}
	}
	ipRoom := pc.conns+pc.held < a.maxPerIP
	totalRoom := a.total.conns+a.total.held < a.maxTotal
	t := &ticket{a: a, key: key}
	switch {
	case ipRoom && totalRoom:
		t.state = ticketConn
		pc.conns++
		a.total.conns++
	case (ipRoom || pc.held > pc.resuming) && (totalRoom || a.total.held > a.total.resuming):
		t.state = ticketResuming
		pc.resuming++
		a.total.resuming++
	case !ipRoom:
		return nil, refusedPerIP
	default:
		return nil, refusedTotal
	}
	a.perIP[key] = pc
	if t.state == ticketResuming {
		return t, admittedResuming
	}
	return t, admitted
}

// count adds d to the field of pc that state counts in.
func (s ticketState) count(pc *placeCount, d int) {
	switch s {
	case ticketConn:
		pc.conns += d
	case ticketResuming:
		pc.resuming += d
	case ticketHeld:
		pc.held += d
	}
}

// moveLocked turns t into state to, in its address's count and the total.
func (t *ticket) moveLocked(to ticketState) {
	a := t.a
	pc := a.perIP[t.key]
	t.state.count(pc, -1)
	t.state.count(&a.total, -1)
	to.count(pc, 1)
	to.count(&a.total, 1)
	t.state = to
	if *pc == (placeCount{}) {
		delete(a.perIP, t.key)
	}
}

// release stops counting t. Harmless on nil or twice.
func (t *ticket) release() {
	if t == nil {
		return
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	if t.state != ticketDone {
		t.moveLocked(ticketDone)
	}
}

// hold turns a connection's ticket into a held place.
func (t *ticket) hold() {
	if t == nil {
		return
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	if t.state == ticketConn || t.state == ticketResuming {
		t.moveLocked(ticketHeld)
	}
}

// resumeOnly reports whether t was admitted only to resume a held place.
func (t *ticket) resumeOnly() bool {
	if t == nil {
		return false
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	return t.state == ticketResuming
}

// resumed records that t's connection took back a held place: a
// resume-only connection becomes a normal one (the held place it replaces
// is released by its session).
func (t *ticket) resumed() {
	if t == nil {
		return
	}
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	if t.state == ticketResuming {
		t.moveLocked(ticketConn)
	}
}
