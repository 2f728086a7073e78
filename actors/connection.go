package actors

// connection actor: one per broker (per user of it: the sender and the metadata actor each have
// their own). Owns the socket, the broker's ApiVersions answer, correlation ids and the requests in
// flight. Receives Call; answers each with exactly one CallDone. Never blocks: dialing and the
// handshake run on a dial goroutine, reading on a reader goroutine, writing on a writer goroutine;
// all three report by message and stop sending once the link is closed. Its decisions (what to
// write, answer, dial, close and when) are connCore's (conncore.go); the actor turns messages into
// the core's events and carries out the effects it returns.

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

	"github.com/kastor-go/kastor/internal/queue"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// readBufferSize is the reader goroutine's buffer: a few responses' worth, so small responses
// arriving together are read with one system call.
const readBufferSize = 64 << 10

// maxResponseSize bounds a response frame; a larger size prefix means a corrupt stream.
const maxResponseSize = 256 << 20

// maxPooledFrame: larger frames (rare: produce answers are small) are not kept for reuse.
const maxPooledFrame = 64 << 10

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
	// Metadata is the metadata actor, told of every setup's outcome (setupNoted) and, by sinks, of
	// leader hints and topics to refresh (nil: nobody is told).
	Metadata *actor.PID
	// ProduceCap caps the Produce version (0: none) until a produceCapNews changes it (sinks only).
	ProduceCap int16

	logger *slog.Logger // the producer's, set by newConnectionProps for the handshake goroutine
}

// Connection messages internal to the actor and its goroutines; gen names the link they belong to.
type (
	linkUp struct {
		gen     uint64
		conn    net.Conn
		apis    wire.BrokerAPIs
		session time.Duration // SASL session lifetime (0: none, or unlimited)
		// writerDone is the link's writer's (see requestFrame), set by the actor when it starts it.
		writerDone <-chan struct{}
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
	addr   string
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

// connState is the connection actor's state: the core (conncore.go) and what carries out its
// effects — the link and its goroutines, the timers, the re-authentication exchange.
type connState struct {
	cfg    connectionConfig
	shared *Shared
	core   *connCore

	link *link
	gen  uint64 // the current link's; messages of any other are stale

	timer     wakeTimer // the earliest request deadline
	idleTimer wakeTimer
	sinkTimer wakeTimer // the end of a throttle
	reauth    reauthState
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
	return shared.props(connectionInstances(shared, cfg))
}

// connectionInstances makes the connection actor's instances: the first, and one per restart (a
// broken link). Each has a new core; the Produce version cap the last one was told comes along
// (one cell for every instance, written by the core).
func connectionInstances(shared *Shared, cfg connectionConfig) actor.Producer {
	cfg.logger = shared.Logger
	produceCap := new(int16)
	*produceCap = cfg.ProduceCap
	return func() actor.Actor {
		core := newConnCore(shared, cfg)
		core.produceCap = produceCap
		return &connectionActor{st: &connState{cfg: cfg, shared: shared, core: core}}
	}
}

// Receive implements actor.Actor: it turns the message into the core's event, steps the core and
// applies what it decided.
func (a *connectionActor) Receive(c actor.Context) {
	s := a.st
	var msg any
	switch m := c.Message().(type) {
	case *messages.Call, *messages.Batch, *flushDue, *sinkAddress, *produceCapNews:
		msg = m
	case *timerFired:
		switch {
		case s.sinkTimer.fired(m):
			msg = wakeSink
		case s.reauth.timer.fired(m):
			msg = wakeReauth
		case s.timer.fired(m):
			msg = wakeDeadline
		case s.idleTimer.fired(m):
			msg = wakeIdle
		default:
			return // stale
		}
	case *linkUp:
		if m.gen != s.gen {
			return
		}
		s.startLink(m)
		msg = m
	case *linkFailed:
		if m.gen != s.gen {
			return
		}
		msg = m
	case *frameRead:
		if m.gen != s.gen {
			return
		}
		fx := s.core.step(nowNs(), m)
		free := fx.frameFree
		s.apply(c, fx, false)
		if free {
			frameReads.Put(m)
		}
		return
	case *frameWritten:
		if m.gen != s.gen {
			return
		}
		msg = m
	case *reauthDone:
		if m.gen != s.gen {
			return
		}
		s.reauth.frames, s.reauth.cancel = nil, nil
		msg = m
	case *actor.Restarting, *actor.Stopping:
		// First what the step that panicked decided before it did (or the rest of its effects if
		// applying them panicked), as if it had been carried out at once; then the core answers
		// what that step was handling and everything it holds.
		s.apply(c, &s.core.fx, true)
		msg = m
	case *actor.Started:
		_, supervised := c.(interface{ EscalateFailure(reason, message any) })
		s.core.unsupervised = !supervised
		return
	case *actor.Stopped, *actor.Restart:
		return
	default:
		s.shared.Logger.Warn("connection: unexpected message", "type", fmt.Sprintf("%T", m))
		return
	}
	s.apply(c, s.core.step(nowNs(), msg), false)
}

// apply carries out fx and empties it. leftover: fx is what a step that panicked left, on
// Restarting or Stopping; its failure report is not repeated then.
func (s *connState) apply(c actor.Context, fx *connEffects, leftover bool) {
	for fx.notesDone < len(fx.notes) {
		n := &fx.notes[fx.notesDone]
		fx.notesDone++
		s.note(n)
	}
	for fx.writesDone < len(fx.writes) {
		w := &fx.writes[fx.writesDone]
		fx.writesDone++
		if l := s.link; l != nil {
			l.writes.push(outFrame{frame: encodeFrame(w.req, w.version, w.corr, s.cfg.ClientID, l.vectored), corr: w.corr, notify: w.notify})
		}
	}
	if fx.close {
		fx.close = false
		s.closeLink()
	}
	if fx.dial != "" {
		addr := fx.dial
		fx.dial = ""
		s.dial(c, addr)
	}
	unexpected := false
	if fx.reauthFrame != nil {
		frame := fx.reauthFrame
		fx.reauthFrame = nil
		select {
		case s.reauth.frames <- frame:
		default:
			unexpected = true
		}
	}
	if fx.reauthStart {
		fx.reauthStart = false
		s.startReauth()
	}
	for fx.sendsDone < len(fx.sends) {
		m := &fx.sends[fx.sendsDone]
		fx.sendsDone++
		to := m.to
		if to == nil {
			to = c.Self()
		}
		c.Send(to, m.msg)
	}
	now := s.core.now
	setTimer(c, &s.timer, fx.deadline, now)
	setTimer(c, &s.idleTimer, fx.idle, now)
	setTimer(c, &s.sinkTimer, fx.sink, now)
	setTimer(c, &s.reauth.timer, fx.reauth, now)
	if f := fx.escalate; f != nil && !leftover {
		fx.escalate = nil
		c.(interface{ EscalateFailure(reason, message any) }).EscalateFailure(f, nil)
	}
	for _, r := range fx.released {
		s.core.sink.recycle(r)
	}
	fx.reset()
	if unexpected {
		// The exchange still held the response before: the broker sent one it was not asked for.
		s.apply(c, s.core.step(nowNs(), reauthUnexpected), false)
	}
}

func setTimer(c actor.Context, w *wakeTimer, op timerOp, now int64) {
	switch {
	case !op.set:
	case op.at == 0:
		w.stop()
	default:
		w.arm(c, time.Duration(op.at-now))
	}
}

// note records a metric or logs a line the core asked for.
func (s *connState) note(n *connNote) {
	sh, node, addr := s.shared, s.cfg.Node, n.addr
	switch n.kind {
	case noteOpened:
		sh.Metrics.ConnectionOpened()
		sh.logConnUp(node, addr)
	case noteClosed:
		sh.Metrics.ConnectionClosed(n.up)
	case noteClosing:
		sh.logConnClosed(node, addr, n.reason)
	case noteFailed:
		sh.Metrics.ConnectionFailed(n.err)
		sh.logConnDown(node, addr, n.up, n.err)
	case noteRequestSent:
		n.req.sentNs = sh.Metrics.RequestSent(n.req.batches)
	case noteRequestDone:
		sh.Metrics.RequestDone(n.req.sentNs, n.req.batches, n.resp, n.err)
	case noteThrottled:
		sh.Logger.Debug("broker throttled us", "broker", node, "throttle_ms", n.n)
	case noteReauthenticated:
		sh.Logger.Debug("re-authenticated", "broker", node, "addr", addr, "session", time.Duration(n.n))
	case noteTrailing:
		logTrailingBytes(sh.Logger, addr, n.key, n.version, int(n.n))
	}
}

// linkGens numbers links across all connections and restarts, so a message from an old link can
// never match a newer one.
var linkGens atomic.Uint64

// dial starts a link to addr: the handshake runs on a goroutine, which reports linkUp or
// linkFailed.
func (s *connState) dial(c actor.Context, addr string) {
	s.gen = linkGens.Add(1)
	cfg := s.cfg
	cfg.Addr = addr
	ctx, cancel := context.WithTimeout(context.Background(), cfg.SetupTimeout)
	l := &link{gen: s.gen, addr: addr, self: c.Self(), root: c.ActorSystem().Root, cancel: cancel, writes: newWriteQueue()}
	s.link = l
	s.shared.Goroutines.Add(1)
	go func() {
		defer s.shared.Goroutines.Done()
		defer cancel()
		conn, apis, session, err := handshake(ctx, cfg, s.shared.Settings.Security, l)
		if !errors.Is(ctx.Err(), context.Canceled) && cfg.Metadata != nil { // canceled: closed, not failed
			l.root.Send(cfg.Metadata, &setupNoted{err: err})
		}
		if err != nil {
			l.send(&linkFailed{gen: l.gen, err: err})
			return
		}
		l.send(&linkUp{gen: l.gen, conn: conn, apis: apis, session: session})
	}()
}

// closeLink closes the link, if any, and makes anything still in the mailbox from it stale.
func (s *connState) closeLink() {
	s.stopReauth()
	if s.link != nil {
		s.link.close()
		s.link = nil
	}
	s.gen = linkGens.Add(1)
}

// startLink starts the reader and writer goroutines of a link that is up.
func (s *connState) startLink(m *linkUp) {
	l := s.link
	_, l.vectored = m.conn.(*net.TCPConn)
	l.writerDone = make(chan struct{})
	m.writerDone = l.writerDone
	addr, requestTimeout := l.addr, s.cfg.RequestTimeout
	s.shared.Goroutines.Add(2)
	go func() { // reader
		defer s.shared.Goroutines.Done()
		// Buffered: a frame costs one read system call or less, not two (size, then body).
		br := bufio.NewReaderSize(m.conn, readBufferSize)
		for {
			m, _ := frameReads.Get().(*frameRead)
			if m == nil {
				m = &frameRead{}
			}
			var err error
			if m.frame, err = readFrameInto(br, m.frame); err != nil {
				l.send(&linkFailed{gen: l.gen, err: fmt.Errorf("%w: read from %s: %v", messages.ErrConnection, addr, err)})
				return
			}
			m.gen = l.gen
			l.send(m)
		}
	}()
	go func() { // writer
		defer s.shared.Goroutines.Done()
		defer close(l.writerDone)
		var batch []outFrame
		// bufs keeps the array across writes; pending is what WriteTo consumes. Declared once:
		// WriteTo takes its address through an interface, so a variable declared in the loop
		// would be a new allocation for every write.
		var bufs, pending net.Buffers
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
			m.conn.SetWriteDeadline(time.Now().Add(requestTimeout))
			pending = bufs
			if _, err := pending.WriteTo(m.conn); err != nil {
				l.send(&linkFailed{gen: l.gen, err: fmt.Errorf("%w: write to %s: %v", messages.ErrConnection, addr, err)})
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

func readFrame(r io.Reader) ([]byte, error) { return readFrameInto(r, nil) }

// frameReads: read produce answers, reused once their step was carried out (connEffects.frameFree)
// with their frame's storage. Frames of other answers are not: their decoders may keep slices of
// them.
var frameReads sync.Pool

// readFrameInto reads one response frame into buf's storage when it is large enough (and not
// larger than maxPooledFrame, so a rare huge answer does not stay in the pool).
func readFrameInto(r io.Reader, buf []byte) ([]byte, error) {
	var size []byte
	if cap(buf) >= 4 {
		size = buf[:4] // the frame is read over it afterwards: a size array would escape to the heap
	} else {
		size = make([]byte, 4)
	}
	if _, err := io.ReadFull(r, size); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size))
	if n < 4 || n > maxResponseSize {
		return nil, fmt.Errorf("corrupt response: frame size %d", n)
	}
	var frame []byte
	if int(n) <= cap(buf) && cap(buf) <= maxPooledFrame {
		frame = buf[:n]
	} else {
		frame = make([]byte, n)
	}
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, err
	}
	return frame, nil
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
