package actors

// connCore is the connection actor's decisions (connection.go): whether a Call is written or
// waits, when to dial, correlation ids and which in-flight call a response answers, the request
// and idle deadlines, what a failed, moved or stopped link answers, when to re-authenticate
// (auth.go), and the sink's requests and answers (sink.go). It takes one event at a time with the
// time (step) and returns what to do as data (connEffects); the actor carries that out: it sends,
// arms its timers, dials, runs the link's reader and writer, encodes the frames. The core reads no
// clock, arms no timer, sends nothing and touches no socket. conncore_test.go drives it with no
// actor system.

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

type connStatus int

const (
	connIdle connStatus = iota
	connDialing
	connReady
	connReauth // re-authenticating (auth.go): new Calls wait, as while dialing
	connFailed // reported to the supervisor; waiting for the restart
)

type inflightCall struct {
	call     *messages.Call
	corr     int32
	version  int16
	deadline int64 // ns; 0: none (a request that gets no response completes when written)
}

// connWake is a step's event for one of the connection's timers, or for a response the
// re-authentication exchange could not take.
type connWake uint8

const (
	wakeDeadline     connWake = iota // the earliest request deadline
	wakeIdle                         // the idle check
	wakeSink                         // the end of a throttle
	wakeReauth                       // the session is due for a new login
	reauthUnexpected                 // a response came while the exchange still held one
)

// connCore is one connection's state and decisions.
type connCore struct {
	node           int32
	addr           string
	requestTimeout time.Duration
	maxIdle        time.Duration // 0: never close an idle link
	metadata       *actor.PID    // told of leader hints and topics to refresh (sinks only)
	// reauth: the connection logs in (SASL), so a session the broker limits is renewed.
	reauth bool
	// unsupervised: nobody restarts the actor after a failure, so the next Call dials again.
	unsupervised bool
	// topics is the current metadata's topics (the sink addresses them by id); random is in
	// [0, 1) and places a re-authentication in 85–95% of the session.
	topics func() map[string]*TopicInfo
	random func() float64
	// produceCap caps the Produce version (0: none): the classic transaction protocol must not
	// send the versions that announce transactions v2 (produceCapNews). It outlives a restart of
	// the actor, which makes a new core.
	produceCap *int16

	status   connStatus
	hasLink  bool             // a link is being dialled or is up
	writer   <-chan struct{}  // the link's writerDone (see requestFrame)
	apis     wire.BrokerAPIs  // the link's
	corr     int32            // the last correlation id written
	queued   []*messages.Call // waiting for the link to come up
	inflight []inflightCall   // written or being written, answered in order
	lastUsed int64            // ns: the last request written or answered
	idleSet  bool             // the idle timer is armed
	sink     *sinkCore        // produce connections only
	sinkSet  bool             // the sink's timer is armed
	exchange bool             // a re-authentication exchange runs

	current *messages.Call  // the Call being handled, so a panic can answer it
	batch   *messages.Batch // the Batch being handled, so a panic before the sink took it can answer it
	unsent  []*sinkRequest  // see applySink

	now int64       // the current step's time
	fx  connEffects // the current step's effects
}

// connEffects is what a step decided, as data, valid until the next step. The actor applies it in
// this order: notes, writes, close, dial, the re-authentication's frame and start, sends, timers,
// escalate.
type connEffects struct {
	notes  []connNote  // metrics and logs, in order
	writes []connWrite // frames for the link's writer, in correlation order
	close  bool        // close the link (and anything from it still in the mailbox is stale)
	dial   string      // dial this address (after close)
	// reauthFrame goes to the running re-authentication exchange; reauthStart starts one with the
	// link's APIs.
	reauthFrame []byte
	reauthStart bool
	sends       []connSend // in order
	// The timers: deadline is the earliest request deadline, idle the idle check, sink the end of
	// a throttle, reauth the next login.
	deadline, idle, sink, reauth timerOp
	// escalate reports the failed link to the supervisor, which restarts the actor after a
	// backoff.
	escalate *connectionFailure
	// frameFree: nothing refers to the frame the step read once the rest was carried out (a produce
	// answer: its decoder copies what it keeps), so it may be reused.
	frameFree bool
	// released: answered produce requests, which go back to the sink for reuse
	// (sinkCore.recycle) once everything above, which may still read them, was carried out.
	released []*sinkRequest

	// What apply has done so far: a panic while applying resumes after the entry that panicked.
	notesDone, writesDone, sendsDone int
}

// connWrite is a request to encode and write with its correlation id.
type connWrite struct {
	req     wire.Request
	version int16
	corr    int32
	notify  bool // report frameWritten: the request gets no response
}

// connSend is a message to send; to nil is the connection itself.
type connSend struct {
	to  *actor.PID
	msg any
}

// timerOp sets a timer: armed to fire at at (ns), or stopped (at 0). The zero value leaves it.
type timerOp struct {
	set bool
	at  int64
}

type connNoteKind uint8

const (
	noteOpened          connNoteKind = iota + 1 // the link is up
	noteClosed                                  // a link closed; up: it had been set up
	noteClosing                                 // the link to addr closes for reason
	noteFailed                                  // the link failed with err; up: it had been set up
	noteRequestSent                             // req is written
	noteRequestDone                             // req answered with resp or err
	noteThrottled                               // the broker throttled us for n ms
	noteReauthenticated                         // a new session of n ns
	noteTrailing                                // a response of key at version had n bytes we did not read
)

// connNote is a metric to record or a line to log.
type connNote struct {
	kind         connNoteKind
	up           bool
	key, version int16
	n            int64
	addr, reason string
	err          error
	req          *sinkRequest
	resp         wire.Response
}

func (fx *connEffects) send(to *actor.PID, msg any) { fx.sends = append(fx.sends, connSend{to, msg}) }
func (fx *connEffects) note(n connNote)             { fx.notes = append(fx.notes, n) }

// reset empties fx, keeping its slices.
func (fx *connEffects) reset() {
	clear(fx.notes)
	clear(fx.writes)
	clear(fx.sends)
	clear(fx.released)
	*fx = connEffects{notes: fx.notes[:0], writes: fx.writes[:0], sends: fx.sends[:0], released: fx.released[:0]}
}

func newConnCore(shared *Shared, cfg connectionConfig) *connCore {
	k := &connCore{node: cfg.Node, addr: cfg.Addr, requestTimeout: cfg.RequestTimeout, maxIdle: cfg.MaxIdle,
		metadata: cfg.Metadata, reauth: shared.Settings.Security.SASL != nil,
		topics:     func() map[string]*TopicInfo { return shared.Cluster().Topics },
		produceCap: &cfg.ProduceCap,
		random:     rand.Float64,
	}
	if cfg.Produce {
		k.sink = newSinkCore(shared.Settings)
	}
	return k
}

// step takes one event at time now (ns) and returns what to do. Events: *messages.Call,
// *messages.Batch, *flushDue, connWake, *sinkAddress, *produceCapNews, the link's *linkUp, *linkFailed,
// *frameRead, *frameWritten and *reauthDone (the actor drops those of an older link), and
// *actor.Restarting and *actor.Stopping, which answer everything the connection holds.
func (k *connCore) step(now int64, msg any) *connEffects {
	k.now = now
	k.fx.reset()
	switch m := msg.(type) {
	case *messages.Call:
		k.current = m
		faultinject.ConnectionCall(k.node)
		k.onCall(m)
		k.current = nil
	case *messages.Batch:
		k.batch = m
		faultinject.ConnectionCall(k.node)
		k.applySink(k.sink.add(m))
		k.batch = nil
	case *flushDue:
		k.flushSink()
	case connWake:
		switch m {
		case wakeDeadline:
			k.checkTimeouts()
		case wakeIdle:
			k.idleSet = false
			k.checkIdle()
		case wakeSink:
			k.sinkSet = false
			k.flushSink()
		case wakeReauth:
			k.onReauthDue()
		case reauthUnexpected:
			k.fail(fmt.Errorf("%w: unexpected response from %s during re-authentication", messages.ErrConnection, k.addr))
		}
	case *sinkAddress:
		k.moveTo(m.addr)
	case *produceCapNews:
		*k.produceCap = m.cap
	case *linkUp:
		k.onLinkUp(m)
	case *linkFailed:
		k.fail(m.err)
	case *frameRead:
		k.onFrame(m.frame)
	case *frameWritten:
		k.onWritten(m.corr)
	case *reauthDone:
		k.onReauthDone(m)
	case *actor.Restarting:
		k.settlePanicked()
		k.shutdown()
	case *actor.Stopping:
		k.shutdown()
	}
	return &k.fx
}

// settlePanicked answers what a step that panicked was handling: the actor system drops the
// message that panicked, so its Call is answered here unless it was already queued or written
// (then shutdown answers it); the same for a Batch the sink had not taken and for requests the
// sink took off pending but were not written.
func (k *connCore) settlePanicked() {
	if call := k.current; call != nil && !k.holds(call) {
		k.answer(call, 0, nil, fmt.Errorf("%w (%w: connection to %s panicked before writing the request)",
			messages.ErrConnection, messages.ErrInternal, k.addr))
	}
	k.current = nil
	if b := k.batch; b != nil && k.sink != nil && !k.sink.holds(b) {
		k.fx.send(b.Accumulator, failed(b, fmt.Errorf("%w (%w: connection to %s panicked before taking the batch)", messages.ErrConnection, messages.ErrInternal, k.addr)))
	}
	k.batch = nil
	for _, r := range k.unsent {
		if k.holdsRequest(r) {
			continue // in flight already: shutdown answers it
		}
		for _, b := range r.batches {
			k.fx.send(b.Accumulator, failed(b, fmt.Errorf("%w (%w: connection to %s panicked before writing the request)", messages.ErrConnection, messages.ErrInternal, k.addr)))
		}
	}
	k.unsent = nil
}

// holds reports whether call is queued or in flight (and so answered by shutdown).
func (k *connCore) holds(call *messages.Call) bool {
	for _, q := range k.queued {
		if q == call {
			return true
		}
	}
	for _, f := range k.inflight {
		if f.call == call {
			return true
		}
	}
	return false
}

// holdsRequest reports whether the sink's request r is in flight.
func (k *connCore) holdsRequest(r *sinkRequest) bool {
	for _, f := range k.inflight {
		if f.call.Tag == r {
			return true
		}
	}
	return false
}

func (k *connCore) up() bool { return k.status == connReady || k.status == connReauth }

func (k *connCore) onCall(m *messages.Call) {
	switch k.status {
	case connReady:
		k.write(m)
	case connIdle:
		k.queued = append(k.queued, m)
		k.dial()
	default:
		k.queued = append(k.queued, m)
	}
}

func (k *connCore) dial() {
	k.status = connDialing
	k.hasLink = true
	k.fx.dial = k.addr
}

func (k *connCore) onLinkUp(m *linkUp) {
	k.fx.note(connNote{kind: noteOpened, addr: k.addr})
	k.status = connReady
	k.apis = m.apis
	k.writer = m.writerDone
	k.writeQueued()
	k.lastUsed = k.now
	k.armIdle()
	k.armReauth(m.session)
	k.flushSink()
}

func (k *connCore) writeQueued() {
	queued := k.queued
	k.queued = nil
	for _, call := range queued {
		k.write(call)
	}
}

// armIdle keeps one idle check pending while the link is up; it re-arms itself from lastUsed, so
// busy connections cost no timer work per request.
func (k *connCore) armIdle() {
	if k.maxIdle <= 0 || k.idleSet {
		return
	}
	k.idleSet = true
	at := k.lastUsed + int64(k.maxIdle)
	if at <= k.now {
		// Idle for long but with requests in flight (RequestTimeout above MaxIdle): look again
		// a MaxIdle later, not at once and over and over.
		at = k.now + int64(k.maxIdle)
	}
	k.fx.idle = timerOp{set: true, at: at}
}

func (k *connCore) stopIdle() {
	k.idleSet = false
	k.fx.idle = timerOp{set: true}
}

// checkIdle closes a link that carried nothing for maxIdle (connections.max.idle.ms); the next
// Call dials again.
func (k *connCore) checkIdle() {
	if k.status != connReady {
		return
	}
	if len(k.inflight) > 0 || k.now-k.lastUsed < int64(k.maxIdle) {
		k.armIdle()
		return
	}
	k.fx.note(connNote{kind: noteClosing, addr: k.addr, reason: "idle"})
	k.closeLink()
	k.status = connIdle
}

// write picks the request's version and writes it with the next correlation id; a request the
// broker cannot take is answered at once.
func (k *connCore) write(call *messages.Call) {
	version, err := k.apis.Pick(call.Req)
	if call.MaxVersion > 0 && version > call.MaxVersion {
		version = call.MaxVersion
	}
	if err == nil {
		err = wire.CheckRequestVersion(call.Req, version) // zstd below Produce v7
	}
	if err != nil {
		k.answer(call, 0, nil, err)
		return
	}
	k.corr++
	deadline := k.now + int64(k.requestTimeout)
	if p, ok := call.Req.(*wire.ProduceRequest); ok && !p.ExpectsResponse() {
		deadline = 0 // completes on write
	}
	if r, ok := call.Tag.(*sinkRequest); ok {
		r.writerDone = k.writer
	}
	k.inflight = append(k.inflight, inflightCall{call: call, corr: k.corr, version: version, deadline: deadline})
	k.fx.writes = append(k.fx.writes, connWrite{req: call.Req, version: version, corr: k.corr, notify: deadline == 0})
	k.lastUsed = k.now
	if len(k.inflight) == 1 {
		k.armTimeout()
	}
}

// onWritten completes a request the broker will not answer (acks=0 produce).
func (k *connCore) onWritten(corr int32) {
	for i, f := range k.inflight {
		if f.corr == corr {
			k.inflight = append(k.inflight[:i], k.inflight[i+1:]...)
			k.answer(f.call, f.version, nil, nil)
			k.maybeStartReauth()
			return
		}
	}
}

// onFrame answers the call a response belongs to: responses come in request order, requests
// without a response are skipped over, and any other correlation id is a broken stream.
func (k *connCore) onFrame(frame []byte) {
	if k.exchange {
		k.fx.reauthFrame = frame
		return
	}
	i := 0
	for i < len(k.inflight) && k.inflight[i].deadline == 0 {
		i++
	}
	if i == len(k.inflight) {
		k.fail(fmt.Errorf("%w: unexpected response from %s", messages.ErrConnection, k.addr))
		return
	}
	f := k.inflight[i]
	key := f.call.Req.Key()
	corr, body, err := wire.ReadResponseHeader(frame, wire.ResponseHeaderFlexible(key, f.version))
	if err == nil && corr != f.corr {
		err = fmt.Errorf("correlation id %d, want %d", corr, f.corr)
	}
	resp := f.call.Resp
	if resp == nil {
		resp = f.call.Req.ResponseKind()
	}
	if err == nil {
		var trailing int
		trailing, err = wire.ReadResponse(resp, body, f.version)
		if trailing != 0 {
			k.fx.note(connNote{kind: noteTrailing, addr: k.addr, key: key, version: f.version, n: int64(trailing)})
		}
	}
	if err != nil {
		k.fail(fmt.Errorf("%w: corrupt %s v%d response from %s: %v", messages.ErrConnection, wire.APIName(key), f.version, k.addr, err))
		return
	}
	k.fx.frameFree = key == wire.KeyProduce
	k.inflight = append(k.inflight[:i], k.inflight[i+1:]...)
	k.lastUsed = k.now
	k.answer(f.call, f.version, resp, nil)
	k.armTimeout()
	k.maybeStartReauth()
}

// armTimeout keeps the deadline timer at the earliest request deadline.
func (k *connCore) armTimeout() {
	var earliest int64
	for _, f := range k.inflight {
		if f.deadline != 0 && (earliest == 0 || f.deadline < earliest) {
			earliest = f.deadline
		}
	}
	k.fx.deadline = timerOp{set: true, at: earliest}
}

func (k *connCore) checkTimeouts() {
	for _, f := range k.inflight {
		if f.deadline != 0 && k.now >= f.deadline {
			k.fail(fmt.Errorf("%w: no %s response from %s within %v", messages.ErrRequestTimeout,
				wire.APIName(f.call.Req.Key()), k.addr, k.requestTimeout))
			return
		}
	}
	k.armTimeout()
}

// fail closes the link, answers every request in flight or queued with err, and reports the
// failure to the supervisor, which restarts the actor after an exponential, jittered backoff
// (backoffStrategy, ReconnectBackoff to ReconnectBackoffMax). Calls that arrive meanwhile wait in
// the suspended mailbox for the new instance, which dials again.
func (k *connCore) fail(err error) {
	wasUp := k.up()
	k.answerAll(err)
	k.fx.note(connNote{kind: noteFailed, addr: k.addr, up: wasUp, err: err})
	k.status = connFailed
	if k.unsupervised {
		k.status = connIdle // no supervisor to restart us: the next Call dials again
		return
	}
	k.fx.escalate = &connectionFailure{Addr: k.addr, Err: err, WasUp: wasUp}
}

// closeLink closes the link, if any; anything still in the mailbox from it is stale from now on.
func (k *connCore) closeLink() {
	k.fx.note(connNote{kind: noteClosed, up: k.up()})
	k.stopReauth()
	k.hasLink, k.writer = false, nil
	k.fx.close = true
	k.fx.dial = "" // a link this step dialled was never started
}

// moveTo points the connection at a broker's new address: requests out on the old link are
// answered (they may have been written), queued Calls and pending batches go to the new one.
func (k *connCore) moveTo(addr string) {
	if addr == k.addr {
		return
	}
	old := k.addr
	k.addr = addr
	if k.status != connDialing && !k.up() {
		return
	}
	if k.status != connDialing {
		k.fx.note(connNote{kind: noteClosing, addr: old, reason: "the broker moved to " + addr})
	}
	k.status = connIdle
	k.dropLink(fmt.Errorf("%w: broker %d moved from %s to %s", messages.ErrConnection, k.node, old, addr))
	if len(k.queued) > 0 {
		k.dial()
	}
	k.flushSink()
}

// shutdown runs on Stopping and Restarting: nothing is left unanswered.
func (k *connCore) shutdown() {
	if k.up() {
		k.fx.note(connNote{kind: noteClosing, addr: k.addr, reason: "stopped"})
	}
	k.answerAll(fmt.Errorf("%w: connection to %s stopped", messages.ErrConnection, k.addr))
	k.status = connIdle
}

// answer delivers a Call's outcome (resp at version, or err): a CallDone to its ReplyTo, or, for the
// sink's own produce requests, straight to the sink.
func (k *connCore) answer(call *messages.Call, version int16, resp wire.Response, err error) {
	if r, ok := call.Tag.(*sinkRequest); ok && call.ReplyTo == nil {
		k.sinkDone(r, resp, err)
		return
	}
	k.fx.send(call.ReplyTo, &messages.CallDone{Tag: call.Tag, Node: k.node, Version: version, Resp: resp, Err: err})
}

// answerAll closes the link and answers everything the connection holds with err: requests in
// flight or queued, and the sink's pending batches. None is left without an answer.
func (k *connCore) answerAll(err error) {
	if k.sink != nil {
		k.stopSinkTimer()
		// Not written: the batches go back to their partitions, which retry them after a backoff.
		// First, so the answers to the requests in flight find nothing left to flush.
		k.applySink(k.sink.dropPending(fmt.Errorf("%w (not sent: %v)", messages.ErrConnection, err)))
	}
	k.dropLink(err)
	for _, call := range k.queued {
		k.answer(call, 0, nil, err)
	}
	k.queued = nil
}

// dropLink closes the link and answers the requests written on it with err (they may have been
// written). Queued Calls and the sink's pending batches stay for the next link.
func (k *connCore) dropLink(err error) {
	k.closeLink()
	k.stopIdle()
	k.fx.deadline = timerOp{set: true}
	inflight := k.inflight
	k.inflight = nil
	for _, f := range inflight {
		k.answer(f.call, f.version, nil, err)
	}
}

// Re-authentication (KIP-368, auth.go): at a random 85–95% of the session the connection stops
// writing (new Calls wait, as while dialing), lets the requests in flight complete, then the actor
// runs the SASL exchange through the link; what waited is written once it is done.

// armReauth schedules the next login for a session of the given lifetime (0: none needed).
func (k *connCore) armReauth(session time.Duration) {
	if session <= 0 || !k.reauth {
		return
	}
	k.fx.reauth = timerOp{set: true, at: k.now + int64(float64(session)*(0.85+0.1*k.random()))}
}

func (k *connCore) onReauthDue() {
	if k.status != connReady {
		return
	}
	k.status = connReauth
	k.maybeStartReauth()
}

// maybeStartReauth starts the exchange once a due re-authentication has nothing in flight ahead of
// it.
func (k *connCore) maybeStartReauth() {
	if k.status != connReauth || k.exchange || len(k.inflight) > 0 || !k.hasLink {
		return
	}
	k.exchange = true
	k.fx.reauthStart = true
}

func (k *connCore) onReauthDone(m *reauthDone) {
	k.exchange = false
	if m.err != nil {
		k.fail(m.err) // the broker would end the session anyway; the Calls waiting retry
		return
	}
	k.fx.note(connNote{kind: noteReauthenticated, addr: k.addr, n: int64(m.session)})
	k.status = connReady
	k.writeQueued()
	k.armIdle() // an idle check that came during the exchange did not re-arm
	k.armReauth(m.session)
	k.flushSink() // batches that arrived during the exchange waited for it
}

// stopReauth ends the timer and any exchange with the link.
func (k *connCore) stopReauth() {
	k.fx.reauth = timerOp{set: true}
	k.exchange = false
}

// The sink (sink.go): the core feeds it and carries out its effects.

// applySink carries out the sink's effects: hints and refreshes for the metadata actor, answers
// for the accumulators, requests to write.
func (k *connCore) applySink(e sinkEffects) {
	if e.hint != nil && k.metadata != nil {
		// Sent before the answers, so it is applied by the time the retries ask for a route.
		k.fx.send(k.metadata, e.hint)
	}
	if len(e.refresh) > 0 && k.metadata != nil {
		k.fx.send(k.metadata, &messages.RefreshMetadata{Topics: e.refresh, Reason: "produce error"})
	}
	for _, a := range e.answers {
		k.fx.send(a.to, a.done)
	}
	// unsent: requests the sink took off pending and not yet handed to write, which a panic would
	// otherwise leave unanswered (settlePanicked answers them).
	for i, r := range e.write {
		k.unsent = e.write[i:]
		k.fx.note(connNote{kind: noteRequestSent, req: r})
		r.call = messages.Call{Req: r.req, Tag: r, MaxVersion: *k.produceCap, Resp: &r.resp}
		k.write(&r.call) // may answer r at once (applySink again, writing nothing)
	}
	if len(e.write) > 0 {
		k.unsent = nil
	}
	if e.queueFlush {
		k.fx.send(nil, &flushDue{})
	}
	if e.wakeAt != 0 && !k.sinkSet {
		k.sinkSet = true
		k.fx.sink = timerOp{set: true, at: e.wakeAt}
	}
}

// flushSink writes what the window allows, dialling first when the link is down.
func (k *connCore) flushSink() {
	if k.sink == nil {
		return
	}
	if k.status == connIdle && len(k.sink.pending) > 0 {
		k.dial()
	}
	k.applySink(k.sink.flush(k.now, k.status == connReady, k.topics()))
}

// sinkDone hands a produce request's outcome to the sink. Every request written comes here once:
// answered, failed with its connection, or refused before it was written.
func (k *connCore) sinkDone(r *sinkRequest, answer wire.Response, err error) {
	k.fx.note(connNote{kind: noteRequestDone, req: r, resp: answer, err: err})
	var resp *wire.ProduceResponse
	if err == nil && answer != nil {
		resp = answer.(*wire.ProduceResponse)
		if resp.ThrottleMillis > 0 {
			k.fx.note(connNote{kind: noteThrottled, n: int64(resp.ThrottleMillis)})
		}
	}
	k.applySink(k.sink.done(k.now, r, resp, err))
	k.fx.released = append(k.fx.released, r)
}

func (k *connCore) stopSinkTimer() {
	k.sinkSet = false
	k.fx.sink = timerOp{set: true}
}
