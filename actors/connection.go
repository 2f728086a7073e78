package actors

// connection actor: one per broker (per user of it: the sender and the metadata actor each have
// their own). Owns the socket, the broker's ApiVersions answer, correlation ids and the requests in
// flight. Receives Call; answers each with exactly one CallDone. Never blocks: dialing and the
// handshake run on a dial goroutine, reading on a reader goroutine, writing on a writer goroutine;
// all three report by message and stop sending once the link is closed.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/internal/queue"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// readBufferSize is the reader goroutine's buffer: a few responses' worth, so small responses
// arriving together are read with one system call.
const readBufferSize = 64 << 10

// maxResponseSize bounds a response frame; a larger size prefix means a corrupt stream.
const maxResponseSize = 256 << 20

// connectionConfig is what a connection actor needs to know.
type connectionConfig struct {
	Node           int32
	Addr           string
	ClientID       string
	Dial           func(ctx context.Context, network, address string) (net.Conn, error)
	SetupTimeout   time.Duration
	RequestTimeout time.Duration
	// MaxIdle closes the socket after this long without a request in flight (0: never).
	MaxIdle time.Duration
	// Produce makes the connection a broker's sink (sink.go): it takes Batches from accumulators.
	Produce bool
	// Metadata is the metadata actor, told of leader hints and topics to refresh (sinks only).
	Metadata *actor.PID

	logger *slog.Logger // the producer's, set by newConnectionProps for the handshake goroutine
}

// Connection messages internal to the actor and its goroutines; gen names the link they belong to.
type (
	linkUp struct {
		gen     uint64
		conn    net.Conn
		apis    wire.BrokerAPIs
		session time.Duration // SASL session lifetime (0: none, or unlimited)
	}
	linkFailed struct {
		gen uint64
		err error
	}
	frameRead struct {
		gen   uint64
		frame []byte
	}
	frameWritten struct {
		gen  uint64
		corr int32
	}
)

// link is one attempt at a connection: the socket and the goroutines using it. Its goroutines send
// to the actor only through send, which is a no-op once close has run, so nothing reaches a
// stopped actor.
type link struct {
	gen    uint64
	self   *actor.PID
	root   *actor.RootContext
	cancel context.CancelFunc
	writes *writeQueue
	// vectored: the socket takes vectored writes (plain TCP), so record batches need not be
	// copied into the frames (see requestFrame). Set at linkUp; the actor's alone.
	vectored bool
	// writerDone is closed when the writer goroutine returns: from then on nothing reads the
	// frames written on this link, nor the batches they share. Made at linkUp.
	writerDone chan struct{}

	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (l *link) send(msg any) {
	l.mu.Lock()
	if !l.closed {
		l.root.Send(l.self, msg)
	}
	l.mu.Unlock()
}

// adopt records the dialled socket; it closes it and reports false if the link was closed meanwhile.
func (l *link) adopt(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return false
	}
	l.conn = c
	return true
}

func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	c := l.conn
	l.mu.Unlock()
	l.cancel()
	l.writes.close()
	if c != nil {
		c.Close()
	}
}

// writeQueue hands encoded frames to the writer goroutine without ever blocking the actor.
type writeQueue struct {
	frames queue.Queue[outFrame]
	wake   chan struct{} // one token: the push that made the queue non-empty, or the close
}

type outFrame struct {
	frame  *requestFrame
	corr   int32
	notify bool // report frameWritten (requests that get no response)
}

func newWriteQueue() *writeQueue { return &writeQueue{wake: make(chan struct{}, 1)} }

// push queues f; a frame pushed after the close is dropped with the link (whoever closed it
// answers every request in flight).
func (q *writeQueue) push(f outFrame) {
	if _, first := q.frames.Push(f); first {
		q.signal()
	}
}

func (q *writeQueue) close() {
	q.frames.Close()
	q.signal()
}

func (q *writeQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take waits for frames and returns them, keeping spare as the queue's next buffer; ok is false
// once the queue is closed.
func (q *writeQueue) take(spare []outFrame) (_ []outFrame, ok bool) {
	for {
		frames, open := q.frames.TakeOpen(spare)
		if !open {
			return nil, false
		}
		if len(frames) > 0 {
			return frames, true
		}
		spare = frames // the queue keeps spare now; the empty slice it gave back is ours
		<-q.wake
	}
}

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
	deadline time.Time
}

// connState is the connection actor's state.
type connState struct {
	cfg    connectionConfig
	shared *Shared

	status   connStatus
	link     *link
	gen      uint64
	apis     wire.BrokerAPIs
	corr     int32
	queued   []*messages.Call // waiting for the link to come up
	inflight []inflightCall   // written or being written, answered in order

	timer wakeTimer // the earliest request deadline

	lastUsed  time.Time
	idleTimer wakeTimer

	current *messages.Call // the Call being handled, so a panic can answer it

	sink      *sinkCore // produce connections only
	sinkTimer wakeTimer // the end of a throttle or backoff
	// currentBatch is the Batch being handled, so a panic before the core took it can answer it.
	currentBatch *messages.Batch
	unwritten    []*sinkRequest // see applySink

	reauth reauthState
}

// holds reports whether call is queued or in flight (and so answered by shutdown).
func (s *connState) holds(call *messages.Call) bool {
	for _, q := range s.queued {
		if q == call {
			return true
		}
	}
	for _, f := range s.inflight {
		if f.call == call {
			return true
		}
	}
	return false
}

// holdsRequest reports whether the sink's request r is in flight.
func (s *connState) holdsRequest(r *sinkRequest) bool {
	for _, f := range s.inflight {
		if f.call.Tag == r {
			return true
		}
	}
	return false
}

// connectionTo is the configuration of a connection to the broker at addr (node -1: not known
// yet), everything else from the producer's settings.
func connectionTo(set Settings, node int32, addr string) connectionConfig {
	return connectionConfig{Node: node, Addr: addr, ClientID: set.ClientID, Dial: set.Dial, SetupTimeout: set.SetupTimeout,
		RequestTimeout: set.RequestTimeout, MaxIdle: set.ConnectionsMaxIdle}
}

// connectionActor is the connection actor.
type connectionActor struct{ st *connState }

// newConnectionProps returns props for a connection actor.
func newConnectionProps(shared *Shared, cfg connectionConfig) *actor.Props {
	cfg.logger = shared.Logger
	return actor.PropsFromProducer(func() actor.Actor {
		st := &connState{cfg: cfg, shared: shared}
		if cfg.Produce {
			st.sink = newSinkCore(shared.Settings)
		}
		return &connectionActor{st: st}
	}, actor.WithDispatcher(shared.Dispatcher))
}

// Receive implements actor.Actor.
func (a *connectionActor) Receive(c actor.Context) {
	s := a.st
	switch m := c.Message().(type) {
	case *messages.Call:
		s.current = m
		faultinject.ConnectionCall(s.cfg.Node)
		s.onCall(c, m)
		s.current = nil
	case *messages.Batch:
		s.currentBatch = m
		faultinject.ConnectionCall(s.cfg.Node)
		s.applySink(c, s.sink.add(m))
		s.currentBatch = nil
	case *flushDue:
		s.flushSink(c)
	case *timerFired:
		switch {
		case s.sinkTimer.fired(m):
			s.flushSink(c)
		case s.reauth.timer.fired(m):
			s.onReauthDue(c)
		case s.timer.fired(m):
			s.checkTimeouts(c)
		case s.idleTimer.fired(m):
			s.checkIdle(c)
		}
	case *sinkAddress:
		s.moveTo(c, m.addr)
	case *linkUp:
		if m.gen == s.gen {
			s.onLinkUp(c, m)
		}
	case *linkFailed:
		if m.gen == s.gen {
			s.fail(c, m.err)
		}
	case *frameRead:
		if m.gen == s.gen {
			s.onFrame(c, m.frame)
		}
	case *frameWritten:
		if m.gen == s.gen {
			s.onWritten(c, m.corr)
		}
	case *reauthDone:
		if m.gen == s.gen {
			s.onReauthDone(c, m)
		}
	case *actor.Restarting:
		// The actor system drops the message that panicked: answer its Call here unless it was
		// already queued or written (then shutdown answers it).
		if call := s.current; call != nil && !s.holds(call) {
			s.answer(c, call, &messages.CallDone{Tag: call.Tag, Node: s.cfg.Node,
				Err: fmt.Errorf("%w (%w: connection to %s panicked before writing the request)", messages.ErrConnection, messages.ErrInternal, s.cfg.Addr)})
		}
		s.current = nil
		if b := s.currentBatch; b != nil && s.sink != nil && !s.sink.holds(b) {
			c.Send(b.Accumulator, failed(b, fmt.Errorf("%w (%w: connection to %s panicked before taking the batch)", messages.ErrConnection, messages.ErrInternal, s.cfg.Addr)))
		}
		s.currentBatch = nil
		for _, r := range s.unwritten {
			if s.holdsRequest(r) {
				continue // in flight already: shutdown answers it
			}
			for _, b := range r.batches {
				c.Send(b.Accumulator, failed(b, fmt.Errorf("%w (%w: connection to %s panicked before writing the request)", messages.ErrConnection, messages.ErrInternal, s.cfg.Addr)))
			}
		}
		s.unwritten = nil
		s.shutdown(c)
	case *actor.Stopping:
		s.shutdown(c)
	case *actor.Started, *actor.Stopped, *actor.Restart:
	default:
		s.shared.Logger.Warn("connection: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}

func (s *connState) onCall(c actor.Context, m *messages.Call) {
	switch s.status {
	case connReady:
		s.write(c, m)
	case connIdle:
		s.queued = append(s.queued, m)
		s.dial(c)
	default:
		s.queued = append(s.queued, m)
	}
}

// linkGens numbers links across all connections and restarts, so a message from an old link can
// never match a newer one.
var linkGens atomic.Uint64

func (s *connState) dial(c actor.Context) {
	s.gen = linkGens.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SetupTimeout)
	l := &link{gen: s.gen, self: c.Self(), root: c.ActorSystem().Root, cancel: cancel, writes: newWriteQueue()}
	s.link = l
	s.status = connDialing
	s.shared.Goroutines.Add(1)
	go func() {
		defer s.shared.Goroutines.Done()
		defer cancel()
		conn, apis, session, err := handshake(ctx, s.cfg, s.shared.Settings.Security, l)
		if !errors.Is(ctx.Err(), context.Canceled) { // canceled: the link was closed, not failed
			s.shared.noteSetup(err)
		}
		if err != nil {
			l.send(&linkFailed{gen: l.gen, err: err})
			return
		}
		l.send(&linkUp{gen: l.gen, conn: conn, apis: apis, session: session})
	}()
}

// handshake dials, starts TLS, exchanges ApiVersions and logs in with SASL (see auth.go), all
// within the setup timeout. Runs on the dial goroutine.
func handshake(ctx context.Context, cfg connectionConfig, sec Security, l *link) (_ net.Conn, _ wire.BrokerAPIs, session time.Duration, _ error) {
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: dial %s: %v", messages.ErrConnection, cfg.Addr, err)
	}
	if !l.adopt(conn) {
		return nil, nil, 0, fmt.Errorf("%w: closed while dialling", messages.ErrConnection)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if sec.TLS != nil {
		if conn, err = startTLS(ctx, conn, cfg.Addr, sec.TLS); err != nil {
			return nil, nil, 0, err
		}
	}
	// Ask with our newest ApiVersions version; a broker that does not speak it answers (KIP-511)
	// with UNSUPPORTED_VERSION and its own range for ApiVersions, and we ask again within it.
	req := &wire.ApiVersionsRequest{ClientSoftwareName: "kastor", ClientSoftwareVersion: Version}
	version := req.MaxVersion()
	for attempt := 0; ; attempt++ {
		resp := &wire.ApiVersionsResponse{}
		if err := roundTrip(conn, req, version, cfg, resp); err != nil {
			return nil, nil, 0, apiVersionsFailure(sec, cfg.Addr, version, err)
		}
		if resp.ErrorCode == 35 && attempt == 0 { // UNSUPPORTED_VERSION
			next := int16(0)
			for _, k := range resp.ApiKeys {
				if k.ApiKey == wire.KeyApiVersions {
					next = min(k.MaxVersion, req.MaxVersion())
				}
			}
			if next >= version {
				next = 0
			}
			version = next
			continue
		}
		if resp.ErrorCode != 0 {
			return nil, nil, 0, fmt.Errorf("ApiVersions to %s: %w", cfg.Addr, wire.ErrorForCode(resp.ErrorCode))
		}
		apis := wire.NewBrokerAPIs(resp)
		if sec.SASL != nil {
			rt := func(req wire.Request, version int16, resp wire.Response) error {
				return roundTrip(conn, req, version, cfg, resp)
			}
			if session, err = authenticate(ctx, rt, cfg, apis, sec.SASL); err != nil {
				return nil, nil, 0, err
			}
		}
		conn.SetDeadline(time.Time{})
		return conn, apis, session, nil
	}
}

// roundTrip writes one request and reads its response synchronously (handshake only).
func roundTrip(conn net.Conn, req wire.Request, version int16, cfg connectionConfig, resp wire.Response) error {
	const corr = 0
	if _, err := conn.Write(wire.AppendRequest(nil, req, version, corr, cfg.ClientID)); err != nil {
		return err
	}
	frame, err := readFrame(conn)
	if err != nil {
		return err
	}
	gotCorr, body, err := wire.ReadResponseHeader(frame, wire.ResponseHeaderFlexible(req.Key(), version))
	if err != nil {
		return err
	}
	if gotCorr != corr {
		return fmt.Errorf("correlation id %d, want %d", gotCorr, corr)
	}
	trailing, err := wire.ReadResponse(resp, body, version)
	logTrailingBytes(cfg.logger, cfg.Addr, req.Key(), version, trailing)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxResponseSize {
		return nil, fmt.Errorf("corrupt response: frame size %d", n)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

func (s *connState) onLinkUp(c actor.Context, m *linkUp) {
	s.shared.Metrics.ConnectionOpened()
	s.status = connReady
	s.shared.logConnUp(s.cfg.Node, s.cfg.Addr)
	s.apis = m.apis
	l := s.link
	_, l.vectored = m.conn.(*net.TCPConn)
	l.writerDone = make(chan struct{})
	s.shared.Goroutines.Add(2)
	go func() { // reader
		defer s.shared.Goroutines.Done()
		// Buffered: a frame costs one read system call or less, not two (size, then body).
		br := bufio.NewReaderSize(m.conn, readBufferSize)
		for {
			frame, err := readFrame(br)
			if err != nil {
				l.send(&linkFailed{gen: l.gen, err: fmt.Errorf("%w: read from %s: %v", messages.ErrConnection, s.cfg.Addr, err)})
				return
			}
			l.send(&frameRead{gen: l.gen, frame: frame})
		}
	}()
	go func() { // writer
		defer s.shared.Goroutines.Done()
		defer close(l.writerDone)
		var batch []outFrame
		var bufs net.Buffers
		var ok bool
		for {
			if batch, ok = l.writes.take(batch); !ok {
				return
			}
			// Everything queued goes out in one writev: a busy connection costs one system call
			// per wake-up rather than one per request.
			bufs = bufs[:0]
			for _, f := range batch {
				bufs = append(bufs, f.frame.pieces...)
			}
			m.conn.SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout))
			pending := bufs // WriteTo consumes the slice it is called on; bufs keeps the array
			if _, err := pending.WriteTo(m.conn); err != nil {
				l.send(&linkFailed{gen: l.gen, err: fmt.Errorf("%w: write to %s: %v", messages.ErrConnection, s.cfg.Addr, err)})
				return
			}
			for _, f := range batch {
				f.frame.release()
				if f.notify {
					l.send(&frameWritten{gen: l.gen, corr: f.corr})
				}
			}
			clear(batch)
			clear(bufs)
		}
	}()
	queued := s.queued
	s.queued = nil
	for _, call := range queued {
		s.write(c, call)
	}
	s.lastUsed = time.Now()
	s.armIdle(c)
	s.armReauth(c, m.session)
	s.flushSink(c)
}

// armIdle keeps one idle check pending while the link is up; it re-arms itself from lastUsed, so
// busy connections cost no timer work per request.
func (s *connState) armIdle(c actor.Context) {
	if s.cfg.MaxIdle <= 0 || s.idleTimer.isArmed() {
		return
	}
	s.idleTimer.armAt(c, s.lastUsed.Add(s.cfg.MaxIdle))
}

// checkIdle closes a link that carried nothing for MaxIdle (connections.max.idle.ms); the next
// Call dials again.
func (s *connState) checkIdle(c actor.Context) {
	if s.status != connReady {
		return
	}
	if len(s.inflight) > 0 || time.Since(s.lastUsed) < s.cfg.MaxIdle {
		s.armIdle(c)
		return
	}
	s.shared.logConnClosed(s.cfg.Node, s.cfg.Addr, "idle")
	s.closeLink()
	s.status = connIdle
}

func (s *connState) stopIdle() { s.idleTimer.stop() }

func (s *connState) write(c actor.Context, call *messages.Call) {
	version, err := s.apis.Pick(call.Req)
	if call.MaxVersion > 0 && version > call.MaxVersion {
		version = call.MaxVersion
	}
	if err == nil {
		err = wire.CheckRequestVersion(call.Req, version) // zstd below Produce v7
	}
	if err != nil {
		s.answer(c, call, &messages.CallDone{Tag: call.Tag, Node: s.cfg.Node, Err: err})
		return
	}
	s.corr++
	expectsResponse := true
	if p, ok := call.Req.(*wire.ProduceRequest); ok && !p.ExpectsResponse() {
		expectsResponse = false
	}
	frame := encodeFrame(call.Req, version, s.corr, s.cfg.ClientID, s.link.vectored)
	if r, ok := call.Tag.(*sinkRequest); ok {
		r.writerDone = s.link.writerDone
	}
	s.inflight = append(s.inflight, inflightCall{call: call, corr: s.corr, version: version,
		deadline: time.Now().Add(s.cfg.RequestTimeout)})
	if !expectsResponse {
		s.inflight[len(s.inflight)-1].deadline = time.Time{} // completes on write
	}
	s.link.writes.push(outFrame{frame: frame, corr: s.corr, notify: !expectsResponse})
	s.lastUsed = time.Now()
	if len(s.inflight) == 1 {
		s.armTimeout(c)
	}
}

// onWritten completes a request the broker will not answer (acks=0 produce).
func (s *connState) onWritten(c actor.Context, corr int32) {
	for i, f := range s.inflight {
		if f.corr == corr {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			s.answer(c, f.call, &messages.CallDone{Tag: f.call.Tag, Node: s.cfg.Node, Version: f.version})
			s.maybeStartReauth(c)
			return
		}
	}
}

func (s *connState) onFrame(c actor.Context, frame []byte) {
	if s.reauth.frames != nil {
		s.reauthFrame(c, frame)
		return
	}
	// Responses come in request order; requests without a response are skipped over.
	i := 0
	for i < len(s.inflight) && s.inflight[i].deadline.IsZero() {
		i++
	}
	if i == len(s.inflight) {
		s.fail(c, fmt.Errorf("%w: unexpected response from %s", messages.ErrConnection, s.cfg.Addr))
		return
	}
	f := s.inflight[i]
	key := f.call.Req.Key()
	corr, body, err := wire.ReadResponseHeader(frame, wire.ResponseHeaderFlexible(key, f.version))
	if err == nil && corr != f.corr {
		err = fmt.Errorf("correlation id %d, want %d", corr, f.corr)
	}
	resp := f.call.Req.ResponseKind()
	if err == nil {
		var trailing int
		trailing, err = wire.ReadResponse(resp, body, f.version)
		logTrailingBytes(s.shared.Logger, s.cfg.Addr, key, f.version, trailing)
	}
	if err != nil {
		s.fail(c, fmt.Errorf("%w: corrupt %s v%d response from %s: %v", messages.ErrConnection, wire.APIName(key), f.version, s.cfg.Addr, err))
		return
	}
	s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
	s.lastUsed = time.Now()
	s.answer(c, f.call, &messages.CallDone{Tag: f.call.Tag, Node: s.cfg.Node, Version: f.version, Resp: resp})
	s.armTimeout(c)
	s.maybeStartReauth(c)
}

func (s *connState) armTimeout(c actor.Context) {
	var earliest time.Time
	for _, f := range s.inflight {
		if !f.deadline.IsZero() && (earliest.IsZero() || f.deadline.Before(earliest)) {
			earliest = f.deadline
		}
	}
	if earliest.IsZero() {
		s.stopTimer()
		return
	}
	s.timer.armAt(c, earliest)
}

func (s *connState) checkTimeouts(c actor.Context) {
	now := time.Now()
	for _, f := range s.inflight {
		if !f.deadline.IsZero() && !now.Before(f.deadline) {
			s.fail(c, fmt.Errorf("%w: no %s response from %s within %v", messages.ErrRequestTimeout,
				wire.APIName(f.call.Req.Key()), s.cfg.Addr, s.cfg.RequestTimeout))
			return
		}
	}
	s.armTimeout(c)
}

func (s *connState) stopTimer() { s.timer.stop() }

// fail closes the link, answers every request in flight or queued with err, and reports the
// failure to the supervisor, which restarts this actor after an exponential, jittered backoff
// (backoffStrategy, ReconnectBackoff to ReconnectBackoffMax). Calls that arrive meanwhile wait in
// the suspended mailbox for the new instance, which dials again.
func (s *connState) fail(c actor.Context, err error) {
	wasUp := s.status == connReady || s.status == connReauth
	s.answerAll(c, err)
	s.shared.Metrics.ConnectionFailed(err)
	s.status = connFailed
	s.shared.logConnDown(s.cfg.Node, s.cfg.Addr, wasUp, err)
	if sup, ok := c.(interface{ EscalateFailure(reason, message any) }); ok {
		sup.EscalateFailure(&connectionFailure{Addr: s.cfg.Addr, Err: err, WasUp: wasUp}, nil)
	} else {
		s.status = connIdle // no supervisor to restart us: the next Call dials again
	}
}

// connectionFailure is how a connection reports a failed link to its supervisor: not a bug, so
// backoffStrategy restarts it quietly.
type connectionFailure struct {
	Addr string
	Err  error
	// WasUp: the link had been set up (a broken link, not a failed attempt): the reconnect
	// backoff starts over, as Java's does once a connection is ready.
	WasUp bool
}

func (f *connectionFailure) Error() string { return f.Err.Error() }
func (f *connectionFailure) Unwrap() error { return f.Err }

func (s *connState) closeLink() {
	s.shared.Metrics.ConnectionClosed(s.status == connReady || s.status == connReauth)
	s.stopReauth()
	if s.link != nil {
		s.link.close()
		s.link = nil
	}
	s.gen = linkGens.Add(1) // anything still in the mailbox from the old link is now stale
}

// moveTo points the connection at a broker's new address: requests out on the old link are
// answered (they may have been written), queued Calls and pending batches go to the new one.
func (s *connState) moveTo(c actor.Context, addr string) {
	if addr == s.cfg.Addr {
		return
	}
	old := s.cfg.Addr
	s.cfg.Addr = addr
	if s.status != connDialing && s.status != connReady && s.status != connReauth {
		return
	}
	if s.status != connDialing {
		s.shared.logConnClosed(s.cfg.Node, old, "the broker moved to "+addr)
	}
	s.status = connIdle
	s.dropLink(c, fmt.Errorf("%w: broker %d moved from %s to %s", messages.ErrConnection, s.cfg.Node, old, addr))
	if len(s.queued) > 0 {
		s.dial(c)
	}
	s.flushSink(c)
}

// shutdown runs on Stopping and Restarting: nothing is left unanswered.
func (s *connState) shutdown(c actor.Context) {
	if s.status == connReady || s.status == connReauth {
		s.shared.logConnClosed(s.cfg.Node, s.cfg.Addr, "stopped")
	}
	s.answerAll(c, fmt.Errorf("%w: connection to %s stopped", messages.ErrConnection, s.cfg.Addr))
	s.status = connIdle
}

// requestFrame is an encoded request on its way to the writer: the bytes encoded (head) and the
// frame as pieces for one vectored write. On a plain TCP link a produce request's record batches
// are pieces of their own, read where the accumulators sealed them instead of copied (see
// wire.AppendRequestShared); a batch whose request failed with its link therefore goes back with
// the link's writerDone (BatchDone.WriterDone), and its buffer is reused only once that writer
// stopped. Frames are reused once written.
type requestFrame struct {
	head   []byte
	pieces [][]byte
}

var requestFrames sync.Pool

// maxPooledRequest keeps rare huge requests from pinning memory in the pool.
const maxPooledRequest = 4 << 20

// encodeFrame encodes req; shared leaves record batches in place. Over TLS (no vectored writes:
// each piece would be a record and a system call of its own) the frame is one copied piece.
func encodeFrame(req wire.Request, version int16, corr int32, clientID string, shared bool) *requestFrame {
	f, _ := requestFrames.Get().(*requestFrame)
	if f == nil {
		f = &requestFrame{}
	}
	if shared {
		f.head, f.pieces = wire.AppendRequestShared(f.head[:0], f.pieces, req, version, corr, clientID)
	} else {
		f.head = wire.AppendRequest(f.head[:0], req, version, corr, clientID)
		f.pieces = append(f.pieces[:0], f.head)
	}
	return f
}

// release returns a written frame to the pool, letting go of the batches it pointed at.
func (f *requestFrame) release() {
	clear(f.pieces)
	if cap(f.head) > maxPooledRequest {
		return
	}
	f.pieces = f.pieces[:0]
	requestFrames.Put(f)
}

// answer delivers a Call's outcome: to its ReplyTo, or to the sink for its own produce requests.
func (s *connState) answer(c actor.Context, call *messages.Call, done *messages.CallDone) {
	if r, ok := call.Tag.(*sinkRequest); ok && call.ReplyTo == nil {
		s.sinkDone(c, r, done)
		return
	}
	c.Send(call.ReplyTo, done)
}

// answerAll closes the link and answers everything the connection holds with err: requests in
// flight or queued, and the sink's pending batches. None is left without an answer.
func (s *connState) answerAll(c actor.Context, err error) {
	if s.sink != nil {
		s.stopSinkTimer()
		// Not written: the batches go back to their partitions, which retry them after a backoff.
		// First, so the answers to the requests in flight find nothing left to flush.
		s.applySink(c, s.sink.dropPending(fmt.Errorf("%w (not sent: %v)", messages.ErrConnection, err)))
	}
	s.dropLink(c, err)
	for _, call := range s.queued {
		s.answer(c, call, &messages.CallDone{Tag: call.Tag, Node: s.cfg.Node, Err: err})
	}
	s.queued = nil
}

// dropLink closes the link and answers the requests written on it with err (they may have been
// written). Queued Calls and the sink's pending batches stay for the next link.
func (s *connState) dropLink(c actor.Context, err error) {
	s.closeLink()
	s.stopIdle()
	s.stopTimer()
	inflight := s.inflight
	s.inflight = nil
	for _, f := range inflight {
		s.answer(c, f.call, &messages.CallDone{Tag: f.call.Tag, Node: s.cfg.Node, Version: f.version, Err: err})
	}
}
