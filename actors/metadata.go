package actors

// metadata actor: one per producer. Owns the topics of interest, the metadata connection (a child
// connection actor to one broker at a time, moving to the next on failure) and the refresh
// schedule. Receives RefreshMetadata and its own timer and CallDone messages; publishes an
// immutable Cluster snapshot through Shared (callers read it without messages) and tells its
// watchers (the sender) with MetadataUpdated.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// WatchMetadata subscribes PID to MetadataUpdated. Producer → metadata.
type WatchMetadata struct{ PID *actor.PID }

type metadataCall struct{ gen uint64 }

var metadataCalls atomic.Uint64

// topicIdle: a topic nobody asked about and nothing was sent to for this long is dropped from
// refreshes (Java's metadata.max.idle.ms).
const topicIdle = 5 * time.Minute

type metadataState struct {
	shared   *Shared
	watchers *[]*actor.PID // survives a restart: nobody subscribes again

	topics map[string]time.Time // topic → last time someone asked for it

	conn      *actor.PID // the shell's: the connection it spawned for connAddr
	connected bool       // the core's view: a connection to connAddr exists
	connAddr  string
	nextAddr  int

	inflight  bool
	again     bool
	urgent    bool // a topic nobody asked about before is waiting: skip the rate limit
	callGen   uint64
	failures  int
	tried     []string  // addresses that failed since the last answer, in order
	notBefore time.Time // rate limit between requests

	timer   wakeTimer // the next request: the rate limit's end, or MetadataMaxAge
	timerAt time.Time

	now time.Time   // the time of the step under way
	fx  metaEffects // what the step under way decided to do
}

// metaEffects is what a metadata step decided to do, as data; the actor applies it (apply).
type metaEffects struct {
	stopConn bool                  // stop the current connection (it failed): before connect
	connect  string                // open a connection to this address
	request  *wire.MetadataRequest // send on the connection, tagged with callGen
	publish  *Cluster              // the new snapshot, then MetadataUpdated to every watcher
	errSet   bool                  // publish err as why metadata is missing (nil: it is not)
	err      error
	setupSet bool // publish setup as the latest failed connection setup (nil: the latest succeeded)
	setup    error
	wakeAt   time.Time // with wakeSet: request again then, unless an earlier wake-up is set
	wakeSet  bool
}

// metaRefreshDue is the step's event for the actor's timer.
type metaRefreshDue struct{}

// topicInUse: a batch was started for the topic, which keeps it in the refreshes.
// Accumulator → metadata actor, at most every topicIdle/2 per partition.
type topicInUse struct{ topic string }

// setupNoted is a connection setup's outcome (nil: it succeeded), for the snapshot's SetupFailure.
// Any connection's handshake goroutine → metadata actor.
type setupNoted struct{ err error }

// metadataActor is the metadata actor.
type metadataActor struct{ st *metadataState }

// newMetadataProps returns props for the metadata actor.
func newMetadataProps(shared *Shared) *actor.Props {
	watchers := new([]*actor.PID)
	return shared.props(func() actor.Actor {
		return &metadataActor{st: &metadataState{shared: shared, topics: map[string]time.Time{}, watchers: watchers}}
	}, supervision(shared.Settings))
}

// Receive implements actor.Actor: it feeds the core (step) and applies what it decided.
func (a *metadataActor) Receive(c actor.Context) {
	s := a.st
	switch m := c.Message().(type) {
	case *actor.Started, *messages.RefreshMetadata, *messages.LeaderHint, *messages.CallDone, *setupNoted, *topicInUse:
		s.apply(c, s.step(time.Now(), m))
	case *timerFired:
		if s.timer.fired(m) {
			s.apply(c, s.step(time.Now(), &metaRefreshDue{}))
		}
	case *WatchMetadata:
		*s.watchers = append(*s.watchers, m.PID)
	case *actor.Stopping, *actor.Restarting:
		s.timer.stop()
	case *actor.Stopped, *actor.Restart, *actor.Terminated:
	default:
		s.shared.Logger.Warn("metadata: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}

// step is the metadata actor's core: one event at time now in, what to do out. It reads no clock,
// arms no timer and sends nothing itself; the effects are valid until the next step. It reads the
// published snapshot (it is its only writer) and logs.
func (s *metadataState) step(now time.Time, msg any) *metaEffects {
	s.now = now
	switch m := msg.(type) {
	case *actor.Started:
		// After a restart of the producer actor this is a new metadata actor: keep refreshing the
		// topics the current snapshot has, so the next one does not drop them.
		for t := range s.shared.Cluster().Topics {
			if _, ok := s.topics[t]; !ok {
				s.topics[t] = now
			}
		}
		s.request() // learn the brokers early
	case *messages.RefreshMetadata:
		fresh := false
		for _, t := range m.Topics {
			if _, ok := s.topics[t]; !ok {
				fresh = true
			}
			s.topics[t] = now
		}
		if fresh {
			s.urgent = true // a new topic is worth asking about at once, rate limit or not
		}
		s.shared.Logger.Debug("metadata refresh requested", "topics", m.Topics, "reason", m.Reason)
		s.request()
	case *messages.LeaderHint:
		s.applyHint(m)
	case *metaRefreshDue:
		s.request()
	case *messages.CallDone:
		if tag, ok := m.Tag.(*metadataCall); ok && tag.gen == s.callGen {
			s.onResponse(m)
		}
	case *topicInUse:
		s.topics[m.topic] = now
	case *setupNoted:
		if m.err != nil || s.shared.Cluster().SetupFailure != nil {
			s.fx.setupSet, s.fx.setup = true, m.err
		}
	}
	return &s.fx
}

// apply carries out fx and empties it.
func (s *metadataState) apply(c actor.Context, fx *metaEffects) {
	if fx.stopConn && s.conn != nil {
		c.Stop(s.conn) // try another broker next time
		s.conn = nil
	}
	if fx.connect != "" {
		cfg := connectionTo(s.shared.Settings, -1, fx.connect)
		cfg.Metadata = c.Self()
		s.conn = c.SpawnPrefix(newConnectionProps(s.shared, cfg), "metadata-")
	}
	cur := s.shared.Cluster()
	metadataErr, setupFailure := cur.MetadataErr, cur.SetupFailure
	if fx.errSet {
		metadataErr = fx.err
	}
	if fx.setupSet {
		setupFailure = fx.setup
	}
	if fx.publish == nil && (fx.errSet || fx.setupSet) {
		s.shared.publishDiagnostics(metadataErr, setupFailure)
	}
	if fx.publish != nil {
		fx.publish.MetadataErr, fx.publish.SetupFailure = metadataErr, setupFailure
		s.shared.publish(fx.publish)
		for _, w := range *s.watchers {
			c.Send(w, &messages.MetadataUpdated{})
		}
	}
	if fx.request != nil {
		c.Send(s.conn, &messages.Call{Req: fx.request, ReplyTo: c.Self(), Tag: &metadataCall{gen: s.callGen}})
	}
	if fx.wakeSet && (!s.timer.isArmed() || fx.wakeAt.Before(s.timerAt)) {
		// An earlier wake-up already set re-checks anyway.
		s.timerAt = fx.wakeAt
		s.timer.armAt(c, fx.wakeAt)
	}
	*fx = metaEffects{}
}

// request sends a Metadata request for every topic of interest, unless one is in flight (then one
// more follows it) or the last was too recent (then the timer sends it).
func (s *metadataState) request() {
	if s.inflight {
		s.again = true
		return
	}
	if s.now.Before(s.notBefore) && !s.urgent {
		s.arm(s.notBefore)
		return
	}
	if !s.connected {
		s.connect()
	}
	req := &wire.MetadataRequest{Topics: []wire.MetadataRequestTopic{}, AllowAutoTopicCreation: true}
	now := s.now
	for _, t := range s.topicsToAsk(now) {
		name := t
		req.Topics = append(req.Topics, wire.MetadataRequestTopic{Name: &name})
	}
	s.inflight, s.again, s.urgent = true, false, false
	s.callGen = metadataCalls.Add(1) // unique across restarts: an old answer never matches
	s.notBefore = now.Add(s.shared.Settings.RetryBackoff)
	s.fx.request = req
}

// topicsToAsk returns the topics of interest, dropping those idle for topicIdle: nobody asked
// about them (sends ask only while a topic is unknown) and no batch was started for them
// (topicInUse).
func (s *metadataState) topicsToAsk(now time.Time) []string {
	out := make([]string, 0, len(s.topics))
	for t, last := range s.topics {
		if now.Sub(last) > topicIdle {
			delete(s.topics, t)
			continue
		}
		out = append(out, t)
	}
	return out
}

// connect opens the metadata connection to the next candidate: known brokers first, then the
// bootstrap servers, in turn.
func (s *metadataState) connect() {
	var addrs []string
	cl := s.shared.Cluster()
	ids := make([]int32, 0, len(cl.Brokers))
	for id := range cl.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		addrs = append(addrs, cl.Brokers[id])
	}
	addrs = append(addrs, s.shared.Settings.Bootstrap...)
	addr := addrs[s.nextAddr%len(addrs)]
	s.nextAddr++
	s.connAddr, s.connected = addr, true
	s.fx.connect = addr
}

func (s *metadataState) onResponse(m *messages.CallDone) {
	s.inflight = false
	if m.Err != nil {
		s.failures++
		s.shared.Logger.Debug("metadata request failed", "addr", s.connAddr, "err", m.Err)
		if !slices.Contains(s.tried, s.connAddr) {
			s.tried = append(s.tried, s.connAddr)
		}
		s.fx.errSet = true
		s.fx.err = fmt.Errorf("no broker reachable: tried %s: %w%s", strings.Join(s.tried, ", "), m.Err, closedHint(m.Err))
		s.fx.stopConn, s.connected = true, false // try another broker next time
		s.notBefore = s.now.Add(backoff(s.shared.Settings.RetryBackoff, s.shared.Settings.RetryBackoffMax, s.failures))
		s.request()
		return
	}
	s.tried = s.tried[:0]
	s.fx.errSet, s.fx.err = true, nil
	resp := m.Resp.(*wire.MetadataResponse)
	cl, incomplete := buildCluster(resp)
	for name, t := range cl.Topics {
		if t.Err != nil {
			s.shared.logTopicError(name, t.Err)
		}
	}
	s.shared.logClusterChanges(s.shared.Cluster(), cl)
	s.fx.publish = cl
	if incomplete {
		// Unknown topics or leaders: ask again soon (with backoff), not only when someone asks.
		s.failures++
		s.notBefore = s.now.Add(backoff(s.shared.Settings.RetryBackoff, s.shared.Settings.RetryBackoffMax, s.failures))
		s.again = true
	} else {
		s.failures = 0
	}
	if s.again {
		s.request()
		return
	}
	s.arm(s.now.Add(s.shared.Settings.MetadataMaxAge))
}

// buildCluster turns a response into a snapshot; incomplete reports a topic or partition that is
// not usable yet (an error, or no leader).
func buildCluster(resp *wire.MetadataResponse) (*Cluster, bool) {
	cl := &Cluster{Brokers: make(map[int32]string, len(resp.Brokers)), Topics: make(map[string]*TopicInfo, len(resp.Topics))}
	for _, b := range resp.Brokers {
		cl.Brokers[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	incomplete := false
	for _, t := range resp.Topics {
		if t.Name == nil {
			continue
		}
		ti := &TopicInfo{Err: wire.ErrorForCode(t.ErrorCode), ID: t.TopicID}
		if ti.Err != nil {
			incomplete = true
		}
		n := 0
		for _, p := range t.Partitions {
			n = max(n, int(p.Partition)+1)
		}
		ti.Partitions = make([]PartitionInfo, n)
		for i := range ti.Partitions {
			ti.Partitions[i] = PartitionInfo{Leader: -1, LeaderEpoch: -1}
		}
		for _, p := range t.Partitions {
			if p.Partition < 0 {
				continue
			}
			ti.Partitions[p.Partition] = PartitionInfo{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Err: wire.ErrorForCode(p.ErrorCode)}
			if _, ok := cl.Brokers[p.Leader]; !ok || p.Leader < 0 {
				incomplete = true
			}
		}
		cl.Topics[*t.Name] = ti
	}
	return cl, incomplete
}

// arm asks to request again at at (the shell keeps an earlier wake-up that is already set).
func (s *metadataState) arm(at time.Time) {
	if !s.fx.wakeSet || at.Before(s.fx.wakeAt) {
		s.fx.wakeAt, s.fx.wakeSet = at, true
	}
}

// applyHint moves partitions to the leaders a produce response named (KIP-951), when their leader
// epoch is newer than the snapshot's, and publishes the patched snapshot. The refresh the sender
// also asked for follows as usual and has the last word.
func (s *metadataState) applyHint(m *messages.LeaderHint) {
	old := s.shared.Cluster()
	next := &Cluster{Brokers: old.Brokers, Topics: old.Topics}
	changed := false
	for _, h := range m.Leaders {
		t := next.Topics[h.TP.Topic]
		if t == nil || h.TP.Partition < 0 || int(h.TP.Partition) >= len(t.Partitions) {
			continue
		}
		cur := t.Partitions[h.TP.Partition]
		if h.LeaderEpoch <= cur.LeaderEpoch && cur.LeaderEpoch >= 0 {
			continue
		}
		addr, ok := m.Endpoints[h.Leader]
		if !ok {
			addr, ok = next.Brokers[h.Leader]
		}
		if !ok {
			continue
		}
		if !changed { // copy on first write: snapshots are immutable
			next.Topics = make(map[string]*TopicInfo, len(old.Topics))
			for k, v := range old.Topics {
				next.Topics[k] = v
			}
			next.Brokers = make(map[int32]string, len(old.Brokers)+1)
			for k, v := range old.Brokers {
				next.Brokers[k] = v
			}
			changed = true
		}
		next.Brokers[h.Leader] = addr
		t = next.Topics[h.TP.Topic]
		nt := *t
		nt.Partitions = append([]PartitionInfo(nil), t.Partitions...)
		nt.Partitions[h.TP.Partition] = PartitionInfo{Leader: h.Leader, LeaderEpoch: h.LeaderEpoch}
		next.Topics[h.TP.Topic] = &nt
	}
	if !changed {
		return
	}
	s.shared.logClusterChanges(old, next)
	s.fx.publish = next
}

// closedHint explains a connection the broker closed before answering: the usual cause is a client
// speaking plaintext to a TLS (or SASL) listener, which drops the unreadable request silently.
// The handshake reports the EOF as text, so the text is matched too.
func closedHint(err error) string {
	if errors.Is(err, io.EOF) || strings.HasSuffix(err.Error(), ": EOF") {
		return " (the broker closed the connection without answering: is it a TLS or SASL listener, and the client configured for plaintext?)"
	}
	return ""
}
