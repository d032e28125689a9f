package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamsync/streamsync/signaling"
)

// Options carries what the Registry takes from the [signaling] section and
// its logger.
type Options struct {
	Logger       *slog.Logger  // nil discards
	MaxRooms     int           // rooms with members on this node
	MaxPeers     int           // members of one room, cluster-wide
	EmptyRoomTTL time.Duration // an empty room is forgotten after this
	ResumeGrace  time.Duration // a dead node's peers are removed after this
}

// OptionsFor takes the registry's options from the [signaling] section.
func OptionsFor(sc signaling.Config, log *slog.Logger) Options {
	return Options{
		Logger:       log,
		MaxRooms:     sc.MaxRooms,
		MaxPeers:     sc.MaxPeersPerRoom,
		EmptyRoomTTL: sc.EmptyRoomTTL,
		ResumeGrace:  sc.ResumeGrace,
	}
}

// opTimeout bounds one NATS or JetStream call on behalf of a client.
const opTimeout = 3 * time.Second

// forwardFor is how long a node forwards messages for a peer that
// resumed on another node, for senders that have not seen the move yet.
const forwardFor = 30 * time.Second

// holdFor bounds how long a relayed message waits for the room events its
// sender had seen to arrive here first.
const holdFor = time.Second

// maxHeld bounds the relayed messages waiting for one peer.
const maxHeld = 256

// takeoverFor bounds a resume's retries on transient failures (a write
// conflict, a slow old node, NATS reconnecting).
const takeoverFor = 2 * opTimeout

var errDown = errors.New("nats unavailable")

// Registry is a signaling.Registry (and signaling.Roaming) whose rooms span
// the nodes connected to one NATS. See docs/cluster.md.
type Registry struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	node string // this process's incarnation: node id and a random suffix
	nc   *nats.Conn
	js   jetstream.JetStream
	kv   atomic.Pointer[jetstream.KeyValue] // nil until the bucket is open
	subs []*nats.Subscription

	handOff atomic.Pointer[func(signaling.Member) ([][]byte, bool)]

	takeoverHookForTest func(stage string) // run by Takeover before "asking" the old node and before "claiming" the place

	kick   chan struct{}           // connection state changed; buffered 1
	link   atomic.Pointer[linkCtx] // ends when the connection to NATS is lost
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	stats struct {
		remoteSends, received, forwarded, held, reaped, reconciled atomic.Int64
		gaps, resyncs, replayed                                    atomic.Int64
	}

	mu sync.Mutex
	// guarded by mu:
	rooms       map[string]*room     // by roomKey
	nodes       map[string]*nodeSeen // other incarnations heard from
	suspects    map[string]time.Time // incarnations in the bucket never heard from: first noticed
	ready       bool                 // the watcher has loaded every room
	bucketBorn  time.Time            // when the bucket's stream was made, as last seen
	sameHistory bool                 // the watcher's bucket is the one seen before (not made anew)
	upSince     time.Time            // connected since; zero while down
	downSince   time.Time            // disconnected since; zero while up
	lastErr     string
	closed      bool
}

// room is this node's view of one room.
type room struct {
	key       string            // roomKey(id)
	id        string            // room id, once known here ("" if only seen in the bucket)
	rec       record            // as this node has applied it: its peers have had events up to rec.Seq
	rev       uint64            // bucket revision rec reflects (0: none)
	local     map[string]*local // this node's peers, by peer id
	dirty     bool              // rec has changes of ours the bucket lacks
	gen       uint64            // bumped at each local-only change
	lastWrite uint64            // latest revision this node wrote
	ghosts    map[string]bool   // members the record says we serve, unknown here at the last sweep
}

// hasLocal tells whether a peer is served here (not only arriving).
func (rm *room) hasLocal() bool {
	for _, l := range rm.local {
		if !l.pending {
			return true
		}
	}
	return false
}

// local is the local end of one peer of a room. Each has its own cursor:
// the last room event delivered to it. Room events reach it in the room's
// order, each once; a relayed message waits in held until the events its
// sender had seen have been delivered before it.
type local struct {
	m        signaling.Member
	pending  bool   // its place is being written (join, resume): relays wait, events are caught up after
	rev      uint64 // revision its place was written at
	seq      uint64 // last room event delivered to it
	held     []held // relayed messages waiting for room events
	leaving  bool
	fwd      string  // incarnation it moved to; relays for it are redirected there
	from     string  // incarnation it is being taken over from, until that one answers
	early    []event // being taken over: the room's events known at arrival and applied since
	fwdUntil time.Time
	handed   *handOffResp // the hand-off's answer, for a repeated request
}

// maxEarly bounds the events a peer being taken over keeps (local.early).
const maxEarly = 1024

// held is a relayed message waiting until its recipient has had room
// event need and revision rev (the last its sender's node had applied).
type held struct {
	msg  []byte
	need uint64 // room event
	rev  uint64 // room revision
	at   time.Time
}

// New connects to NATS and returns a Registry serving as node cfg.NodeID.
// NATS need not be reachable yet: the node serves rooms whose members are
// all local until it is, and reports so in Healthy.
func New(cfg Config, opts Options) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	if cfg.PasswordFile != "" || cfg.TokenFile != "" {
		return nil, errors.New("cluster config: password_file/token_file not loaded (call LoadSecrets)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	nodeID := cfg.NodeID
	if nodeID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster: node_id unset and no host name: %w", err)
		}
		nodeID = nodeName(host)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	r := &Registry{
		cfg:      cfg,
		opts:     opts,
		node:     nodeID + "-" + base64.RawURLEncoding.EncodeToString(suffix),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		rooms:    make(map[string]*room),
		nodes:    make(map[string]*nodeSeen),
		suspects: make(map[string]time.Time),
	}
	r.log = opts.Logger.With("node", r.node)
	r.ctx, r.cancel = context.WithCancel(context.Background())

	nopts, err := r.natsOptions()
	if err != nil {
		return nil, err
	}
	r.downSince = time.Now()
	r.nc, err = nats.Connect(joinURLs(cfg.NATSURLs), nopts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to nats: %w", err)
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	if err := r.subscribe(); err != nil {
		r.nc.Close()
		return nil, err
	}
	if r.nc.IsConnected() {
		r.connected()
	}
	go r.run()
	r.log.Info("cluster node started", "nats", cfg.NATSURLs, "bucket", r.bucketName())
	return r, nil
}

// Node is this process's name in the cluster: node_id and a random suffix
// telling restarts apart.
func (r *Registry) Node() string { return r.node }

func (r *Registry) bucketName() string { return r.cfg.Prefix + "_rooms" }
func (r *Registry) subject(s ...string) string {
	out := r.cfg.Prefix
	for _, p := range s {
		out += "." + p
	}
	return out
}

// SetHandOff implements signaling.Roaming.
func (r *Registry) SetHandOff(f func(signaling.Member) ([][]byte, bool)) { r.handOff.Store(&f) }

func (r *Registry) callHandOff(m signaling.Member) ([][]byte, bool) {
	f := r.handOff.Load()
	if f == nil {
		return nil, false
	}
	return (*f)(m)
}

// bucket returns the rooms bucket, or errDown while NATS is unreachable.
func (r *Registry) bucket() (jetstream.KeyValue, error) {
	kv := r.kv.Load()
	if kv == nil || !r.nc.IsConnected() {
		return nil, errDown
	}
	return *kv, nil
}

func (r *Registry) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// linkCtx is a context that ends when the current NATS connection is
// lost, so a request in flight then fails at once rather than at its
// timeout (nats.go does not fail it: the reply can never come).
type linkCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// linkContext returns a context for one request: ended by timeout, by
// Close, or by losing the connection.
func (r *Registry) linkContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	parent := r.ctx
	if l := r.link.Load(); l != nil {
		parent = l.ctx
	}
	return context.WithTimeout(parent, timeout)
}

func (r *Registry) newLink() {
	ctx, cancel := context.WithCancel(r.ctx)
	if old := r.link.Swap(&linkCtx{ctx, cancel}); old != nil {
		old.cancel()
	}
}

func (r *Registry) connected() {
	r.newLink()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.upSince, r.downSince = now, time.Time{}
	// Silence while we were away proves nothing: start every clock anew.
	for _, n := range r.nodes {
		n.last = now
	}
	clear(r.suspects)
}

func (r *Registry) disconnected(err error) {
	if l := r.link.Load(); l != nil {
		l.cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.downSince.IsZero() {
		r.downSince = time.Now()
	}
	r.upSince = time.Time{}
	r.ready = false
	if err != nil {
		r.lastErr = err.Error()
	}
}

// run owns the bucket watcher, the heartbeat and the sweeps.
func (r *Registry) run() {
	defer close(r.done)
	beat := time.NewTicker(r.cfg.Heartbeat)
	defer beat.Stop()
	sweep := time.NewTicker(min(r.cfg.Heartbeat, 500*time.Millisecond))
	defer sweep.Stop()
	var w jetstream.KeyWatcher
	var updates <-chan jetstream.KeyValueEntry
	var seen map[string]bool
	stop := func() {
		if w != nil {
			stopWatcher(w, updates)
		}
		w, updates, seen = nil, nil, nil
	}
	defer stop()
	r.beat()
	for {
		if w == nil && r.nc.IsConnected() {
			var err error
			if w, err = r.watch(); err != nil {
				r.noteErr("watch rooms", err)
				w = nil
			} else {
				updates, seen = w.Updates(), map[string]bool{}
			}
		}
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
			stop() // (re)connected or lost: reload from the bucket
		case e, ok := <-updates:
			if !ok {
				w, updates, seen = nil, nil, nil
				continue
			}
			if e == nil {
				r.loaded(seen)
				seen = nil
				r.reconcile()
				continue
			}
			if seen != nil {
				seen[e.Key()] = true
			}
			r.applyEntry(e, seen != nil)
		case <-beat.C:
			r.beat()
		case <-sweep.C:
			r.sweep()
			r.reconcile()
		}
	}
}

// watch opens (creating if needed) the bucket and watches every room,
// starting with the current value of each.
func (r *Registry) watch() (jetstream.KeyWatcher, error) {
	ctx, cancel := context.WithTimeout(r.ctx, opTimeout)
	defer cancel()
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      r.bucketName(),
		Description: "StreamSync rooms: members, state and resume tokens",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    r.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", r.bucketName(), err)
	}
	// Whether the bucket is the one seen before: an older revision than
	// one applied here is news in the initial load only if the bucket was
	// made anew since (applyEntry).
	var born time.Time
	if st, err := kv.Status(ctx); err == nil {
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
			born = bs.StreamInfo().Created
		}
	}
	r.mu.Lock()
	r.sameHistory = !born.IsZero() && born.Equal(r.bucketBorn)
	r.bucketBorn = born
	r.mu.Unlock()
	r.kv.Store(&kv)
	return kv.WatchAll(r.ctx)
}

// stopWatcher stops w and drains what it still delivers, so its
// subscription's callback is never left blocked.
func stopWatcher(w jetstream.KeyWatcher, updates <-chan jetstream.KeyValueEntry) {
	_ = w.Stop()
	deadline := time.After(opTimeout)
	for {
		select {
		case _, ok := <-updates:
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

func (r *Registry) noteErr(what string, err error) {
	r.mu.Lock()
	r.lastErr = what + ": " + err.Error()
	r.mu.Unlock()
	if r.ctx.Err() == nil {
		r.log.Warn(what, "err", err)
	}
}

// Close leaves the cluster: the other nodes are told this incarnation is
// gone, so its peers' grace period starts now. Peers are not removed from
// their rooms: they may resume on another node.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	if r.nc.IsConnected() {
		_ = r.nc.Publish(r.subject("bye", r.node), nil)
	}
	r.cancel()
	<-r.done
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	_ = r.nc.FlushTimeout(time.Second)
	r.nc.Close()
	return nil
}

// Healthy reports whether this node reaches the cluster, with a line for
// health checks. While NATS is down it still serves rooms whose members
// are all on this node.
func (r *Registry) Healthy() (bool, string) {
	st := r.Status()
	switch {
	case !st.Connected:
		return false, fmt.Sprintf("cluster: NATS unreachable for %s (%s); serving rooms whose members are all on this node",
			time.Since(st.DownSince).Round(time.Second), st.LastError)
	case !st.Loaded:
		return false, "cluster: connected to NATS, loading rooms"
	case st.Unsynced > 0:
		return true, fmt.Sprintf("cluster: connected; %d rooms being written back after an outage", st.Unsynced)
	}
	return true, fmt.Sprintf("cluster: connected to %s, %d other nodes alive", st.Server, len(st.Nodes))
}

// Status is a snapshot of the node's cluster state, for health and metrics.
type Status struct {
	Node      string    // this incarnation
	Connected bool      // NATS reachable
	Loaded    bool      // rooms loaded from the bucket since the last (re)connect
	Server    string    // NATS server in use
	DownSince time.Time // zero while connected
	LastError string
	Nodes     []NodeInfo // other nodes heard from recently
	Rooms     int        // rooms known cluster-wide
	Unsynced  int        // rooms with changes made during an outage, not yet in the bucket

	RemoteSends int64 // messages sent to peers on other nodes
	Received    int64 // messages received from other nodes
	Forwarded   int64 // messages redirected to the node a peer moved to
	Held        int64 // messages held until the room events before them were delivered
	Reaped      int64 // peers of dead nodes removed after the grace period
	Reconciled  int64 // rooms written back after an outage
	Gaps        int64 // times this node applied a room several events ahead of its copy: the events came from the record's log
	Resyncs     int64 // times peers were brought up to date by the roster's difference (the log did not reach back)
	Replayed    int64 // events replayed to peers resuming here that their old node had not delivered
	Reconnects  uint64
}

// NodeInfo is another node as last heard from.
type NodeInfo struct {
	Node      string
	PublicURL string
	LastSeen  time.Time
}

// Status returns a snapshot.
func (r *Registry) Status() Status {
	st := Status{
		Node:        r.node,
		Connected:   r.nc.IsConnected(),
		Server:      r.nc.ConnectedUrlRedacted(),
		RemoteSends: r.stats.remoteSends.Load(),
		Received:    r.stats.received.Load(),
		Forwarded:   r.stats.forwarded.Load(),
		Held:        r.stats.held.Load(),
		Reaped:      r.stats.reaped.Load(),
		Reconciled:  r.stats.reconciled.Load(),
		Gaps:        r.stats.gaps.Load(),
		Resyncs:     r.stats.resyncs.Load(),
		Replayed:    r.stats.replayed.Load(),
		Reconnects:  r.nc.Stats().Reconnects,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.Loaded, st.DownSince, st.LastError = r.ready, r.downSince, r.lastErr
	st.Rooms = len(r.rooms)
	for _, rm := range r.rooms {
		if rm.dirty {
			st.Unsynced++
		}
	}
	for id, n := range r.nodes {
		if time.Since(n.last) < r.cfg.NodeTimeout && !n.gone {
			st.Nodes = append(st.Nodes, NodeInfo{Node: id, PublicURL: n.url, LastSeen: n.last})
		}
	}
	return st
}
