package signaling

import "sync/atomic"

// counters are the server's running totals, kept with atomics so the hot
// path takes no lock. Stats copies them out for metrics.
type counters struct {
	connections       atomic.Int64 // open now
	messages          map[string]*atomic.Int64
	errors            map[string]*atomic.Int64
	rejectedOrigin    atomic.Int64
	rejectedIP        atomic.Int64
	rejectedTotal     atomic.Int64
	roomsPerIPLimited atomic.Int64
	passwordsLimited  atomic.Int64
	budgetFull        atomic.Int64
	rateLimited       atomic.Int64
	joinsLimited      atomic.Int64
	joinTimeouts      atomic.Int64
	tooBig            atomic.Int64
	slowClients       atomic.Int64
	badPasswords      atomic.Int64
	resumes           atomic.Int64
	resumesFailed     atomic.Int64
	resumeOverflows   atomic.Int64
	restartResumes    atomic.Int64
	roomsRevived      atomic.Int64
	iceRefreshes      atomic.Int64
	mintErrors        atomic.Int64
	badFrames         atomic.Int64
	panics            atomic.Int64
}

// otherType counts messages whose type is unknown.
const otherType = "other"

func (c *counters) init() {
	c.messages, c.errors = map[string]*atomic.Int64{}, map[string]*atomic.Int64{}
	for t := range handlers {
		c.messages[t] = new(atomic.Int64)
	}
	c.messages[otherType] = new(atomic.Int64)
	for _, code := range []string{codeBadJSON, codeBadMessage, codeUnknownType, codeNotJoined,
		codeAlreadyJoined, codeUnknownPeer, codeRoomNotFound, codeRoomFull, codeTooManyRooms,
		codeBadPassword, codeRateLimited, codeResumeFailed, codeICEUnavailable, codeUnavailable, codeInternal} {
		c.errors[code] = new(atomic.Int64)
	}
}

// message counts one received message of type t.
func (c *counters) message(t string) {
	n, ok := c.messages[t]
	if !ok {
		n = c.messages[otherType]
	}
	n.Add(1)
}

// errorSent counts one error reply.
func (c *counters) errorSent(code string) {
	if n, ok := c.errors[code]; ok {
		n.Add(1)
	}
}

// Stats is a snapshot of the server's state and running totals.
type Stats struct {
	Rooms       int // rooms in use (someone in them), in the registry
	Peers       int // peers in rooms, including those awaiting resume
	Connections int // open WebSockets

	Messages map[string]int64 // received, by type ("other" for unknown)
	Errors   map[string]int64 // error replies, by code

	RejectedOrigin    int64 // upgrades refused for their Origin (403)
	RejectedIP        int64 // upgrades refused for too many connections from one address (429), and resume-only connections that tried to join
	RejectedTotal     int64 // upgrades refused for max_connections (503)
	RoomsPerIPLimited int64 // creates and joins refused for max_rooms_per_ip
	PasswordsLimited  int64 // creates refused unchecked: wrong-password budget spent
	BudgetFull        int64 // messages not queued because queue_budget was spent
	QueuedBytes       int64 // bytes queued for clients now, connected or held
	RateLimited       int64 // connections closed for message rate (1008)
	JoinsLimited      int64 // joins refused by the per-IP join rate
	JoinTimeouts      int64 // connections closed for not joining in time
	TooBig            int64 // connections closed for an oversized message (1009)
	SlowClients       int64 // connections closed because their queue filled
	BadPasswords      int64 // room creations refused for the password
	Resumes           int64 // successful resumes
	ResumesFailed     int64 // refused resumes
	ResumeOverflows   int64 // held sessions given up for a full queue
	RestartResumes    int64 // places taken back after a restart with a signed token
	RoomsRevived      int64 // rooms of an earlier run opened again by their signed id
	ICERefreshes      int64 // ice-servers pushed before expiry
	MintErrors        int64 // failures of the ICE minter
	BadFrames         int64 // connections closed for a frame not in UTF-8 (1007)
	Panics            int64 // panics contained to one connection (closed 1011)
}

// Stats returns a snapshot for metrics and health checks.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		Connections:       int(c.connections.Load()),
		Messages:          make(map[string]int64, len(c.messages)),
		Errors:            make(map[string]int64, len(c.errors)),
		RejectedOrigin:    c.rejectedOrigin.Load(),
		RejectedIP:        c.rejectedIP.Load(),
		RejectedTotal:     c.rejectedTotal.Load(),
		RoomsPerIPLimited: c.roomsPerIPLimited.Load(),
		PasswordsLimited:  c.passwordsLimited.Load(),
		BudgetFull:        c.budgetFull.Load(),
		QueuedBytes:       s.budget.inUse(),
		RateLimited:       c.rateLimited.Load(),
		JoinsLimited:      c.joinsLimited.Load(),
		JoinTimeouts:      c.joinTimeouts.Load(),
		TooBig:            c.tooBig.Load(),
		SlowClients:       c.slowClients.Load(),
		BadPasswords:      c.badPasswords.Load(),
		Resumes:           c.resumes.Load(),
		ResumesFailed:     c.resumesFailed.Load(),
		ResumeOverflows:   c.resumeOverflows.Load(),
		RestartResumes:    c.restartResumes.Load(),
		RoomsRevived:      c.roomsRevived.Load(),
		ICERefreshes:      c.iceRefreshes.Load(),
		MintErrors:        c.mintErrors.Load(),
		BadFrames:         c.badFrames.Load(),
		Panics:            c.panics.Load(),
	}
	st.Rooms, st.Peers = s.reg.Counts()
	for t, n := range c.messages {
		st.Messages[t] = n.Load()
	}
	for code, n := range c.errors {
		st.Errors[code] = n.Load()
	}
	return st
}
