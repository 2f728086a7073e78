package actors

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/sasl"
	"github.com/kastor-go/kastor/wire"
)

// The connection's core, driven as its actor drives it, with no actor system, no socket and a
// clock that is just a number: each step's effects are checked, and the link's events (linkUp,
// frameRead, linkFailed) and the timers' fires are fed in by hand.

var connCaller = actor.NewPID("nonhost", "caller")

// connTestAPIs is what the test broker speaks: Produce v3–9, Metadata v1–12.
var connTestAPIs = wire.BrokerAPIs{wire.KeyProduce: {Min: 3, Max: 9}, wire.KeyMetadata: {Min: 1, Max: 12}}

const connTestTimeout = 5 * time.Second

type connScript struct {
	t   *testing.T
	k   *connCore
	now int64
	fx  *connEffects // the last step's
	// answered counts every CallDone and BatchDone sent over the script, by Call tag or batch id.
	calls   map[any]int
	batches map[uint64]int
}

func newConnScript(t *testing.T, produce bool, mutate func(*Settings)) *connScript {
	set := testSettings()
	if mutate != nil {
		mutate(&set)
	}
	k := &connCore{node: 1, addr: "b1:9092", requestTimeout: connTestTimeout, maxIdle: set.ConnectionsMaxIdle,
		metadata: actor.NewPID("nonhost", "metadata"), reauth: set.Security.SASL != nil,
		topics:     func() map[string]*TopicInfo { return sinkTopics },
		random:     func() float64 { return 0.5 },
		produceCap: new(int16),
	}
	if produce {
		k.sink = newSinkCore(set)
	}
	return &connScript{t: t, k: k, now: 1_700_000_000 * int64(time.Second), calls: map[any]int{}, batches: map[uint64]int{}}
}

func (s *connScript) step(msg any) *connEffects {
	s.t.Helper()
	s.fx = s.k.step(s.now, msg)
	for _, m := range s.fx.sends {
		switch d := m.msg.(type) {
		case *messages.CallDone:
			s.calls[d.Tag]++
		case *messages.BatchDone:
			s.batches[d.BatchID]++
		}
	}
	return s.fx
}

func (s *connScript) advance(d time.Duration) { s.now += int64(d) }

// call steps a metadata Call tagged tag, answered to connCaller.
func (s *connScript) call(tag string) *connEffects {
	s.t.Helper()
	return s.step(&messages.Call{Req: metadataCallFor("t"), ReplyTo: connCaller, Tag: tag})
}

func (s *connScript) linkUp(session time.Duration) *connEffects {
	s.t.Helper()
	return s.step(&linkUp{apis: connTestAPIs, session: session, writerDone: s.writer()})
}

var connTestWriter = make(chan struct{})

func (s *connScript) writer() <-chan struct{} { return connTestWriter }

// callDones returns the CallDones the last step sent, in order.
func (s *connScript) callDones() []*messages.CallDone {
	var out []*messages.CallDone
	for _, m := range s.fx.sends {
		if d, ok := m.msg.(*messages.CallDone); ok {
			if m.to != connCaller {
				s.t.Fatalf("CallDone %v sent to %v, want the caller", d.Tag, m.to)
			}
			out = append(out, d)
		}
	}
	return out
}

func (s *connScript) batchDones() map[uint64]*messages.BatchDone {
	out := map[uint64]*messages.BatchDone{}
	for _, m := range s.fx.sends {
		if d, ok := m.msg.(*messages.BatchDone); ok {
			if m.to != sinkAcc {
				s.t.Fatalf("BatchDone %d sent to %v, want its accumulator", d.BatchID, m.to)
			}
			out[d.BatchID] = d
		}
	}
	return out
}

func tags(dones []*messages.CallDone) []any {
	var out []any
	for _, d := range dones {
		out = append(out, d.Tag)
	}
	return out
}

func corrs(fx *connEffects) []int32 {
	var out []int32
	for _, w := range fx.writes {
		out = append(out, w.corr)
	}
	return out
}

func (s *connScript) hasNote(kind connNoteKind) bool {
	return slices.ContainsFunc(s.fx.notes, func(n connNote) bool { return n.kind == kind })
}

// exactlyOnce fails unless every tag and batch id was answered once over the whole script.
func (s *connScript) exactlyOnce(tags []string, batches []uint64) {
	s.t.Helper()
	for _, tag := range tags {
		if n := s.calls[tag]; n != 1 {
			s.t.Errorf("call %q answered %d times, want once", tag, n)
		}
	}
	for _, id := range batches {
		if n := s.batches[id]; n != 1 {
			s.t.Errorf("batch %d answered %d times, want once", id, n)
		}
	}
	if len(s.calls) != len(tags) || len(s.batches) != len(batches) {
		s.t.Errorf("answered calls %v and batches %v, want exactly %v and %v", s.calls, s.batches, tags, batches)
	}
}

// responseFrame is the broker's response frame (no size prefix) with correlation id corr.
func responseFrame(corr int32, version int16, resp kmsg.Response) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(corr))
	resp.SetVersion(version)
	if resp.IsFlexible() {
		out = append(out, 0) // no tagged fields in the header
	}
	return resp.AppendTo(out)
}

func metadataFrame(corr int32) []byte {
	return responseFrame(corr, 12, metadataAnswer(&kmsg.MetadataRequest{Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}}, nil))
}

// produceFrame answers every batch of the request with offset 100.
func produceFrame(corr int32, req *wire.ProduceRequest) []byte {
	return responseFrame(corr, 9, produceAnswer(100, func(add func(string, int32)) {
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				add(rt.Name, rp.Partition)
			}
		}
	}))
}

// TestConnCoreQueuesWhileDialing: the first Call dials, Calls wait while it does, and once the
// link is up they are written in order with correlation ids 1, 2, 3 and the negotiated version;
// responses answer them in that order.
func TestConnCoreQueuesWhileDialing(t *testing.T) {
	s := newConnScript(t, false, nil)
	if fx := s.call("a"); fx.dial != "b1:9092" || len(fx.writes) != 0 || len(fx.sends) != 0 {
		t.Fatalf("the first Call: %+v, want a dial and nothing written", fx)
	}
	for _, tag := range []string{"b", "c"} {
		if fx := s.call(tag); fx.dial != "" || len(fx.writes) != 0 {
			t.Fatalf("Call %s while dialing: %+v, want it queued", tag, fx)
		}
	}
	s.advance(time.Second)
	fx := s.linkUp(0)
	if !slices.Equal(corrs(fx), []int32{1, 2, 3}) || !s.hasNote(noteOpened) {
		t.Fatalf("link up: wrote %v (notes %v), want correlation ids 1, 2, 3", corrs(fx), fx.notes)
	}
	for i, w := range fx.writes {
		if w.version != 12 || w.notify || w.req.Key() != wire.KeyMetadata {
			t.Fatalf("write %d: %+v, want Metadata v12 with a response", i, w)
		}
	}
	if fx.deadline != (timerOp{set: true, at: s.now + int64(connTestTimeout)}) {
		t.Fatalf("deadline timer %+v, want the first request's deadline", fx.deadline)
	}
	// A Call while the link is up is written at once.
	if fx := s.call("d"); !slices.Equal(corrs(fx), []int32{4}) {
		t.Fatalf("Call on a ready link wrote %v, want correlation id 4", corrs(fx))
	}
	for i, tag := range []string{"a", "b", "c", "d"} {
		s.step(&frameRead{frame: metadataFrame(int32(i + 1))})
		dones := s.callDones()
		if len(dones) != 1 || dones[0].Tag != tag || dones[0].Err != nil || dones[0].Version != 12 || dones[0].Node != 1 {
			t.Fatalf("response %d answered %+v, want %q", i+1, dones, tag)
		}
		if resp, ok := dones[0].Resp.(*wire.MetadataResponse); !ok || len(resp.Topics) != 1 || resp.Topics[0].Name == nil || *resp.Topics[0].Name != "t" {
			t.Fatalf("response %d: %+v", i+1, dones[0].Resp)
		}
	}
	if s.fx.deadline != (timerOp{set: true}) {
		t.Fatalf("nothing in flight, deadline timer %+v, want stopped", s.fx.deadline)
	}
	s.exactlyOnce([]string{"a", "b", "c", "d"}, nil)
}

// TestConnCoreUnexpectedResponse: a response whose correlation id is not the oldest request's,
// or one with nothing in flight, fails the link: everything is answered with ErrConnection once,
// the link closes and the supervisor hears of it.
func TestConnCoreUnexpectedResponse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls []string
		corr  int32
	}{
		{"out of order", []string{"a", "b"}, 2},
		{"unknown id", []string{"a"}, 7},
		{"nothing in flight", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newConnScript(t, false, nil)
			s.step(&sinkAddress{addr: "b1:9092"}) // the same address: nothing to do
			s.call("first")
			s.linkUp(0)
			s.step(&frameRead{frame: metadataFrame(1)})
			for _, tag := range tc.calls {
				s.call(tag)
			}
			fx := s.step(&frameRead{frame: metadataFrame(tc.corr + 1)})
			got := tags(s.callDones())
			if !slices.Equal(got, anySlice(tc.calls)) {
				t.Fatalf("answered %v, want %v", got, tc.calls)
			}
			for _, d := range s.callDones() {
				if !errors.Is(d.Err, messages.ErrConnection) || !classify(d.Err).retry {
					t.Fatalf("answer %v: %v, want a retriable ErrConnection", d.Tag, d.Err)
				}
			}
			if !fx.close || fx.escalate == nil || !fx.escalate.WasUp || !errors.Is(fx.escalate, messages.ErrConnection) || !s.hasNote(noteFailed) {
				t.Fatalf("effects %+v, want the link closed and the failure reported", fx)
			}
			if fx.deadline != (timerOp{set: true}) || fx.idle != (timerOp{set: true}) {
				t.Fatalf("timers left armed: deadline %+v, idle %+v", fx.deadline, fx.idle)
			}
			s.exactlyOnce(append([]string{"first"}, tc.calls...), nil)
		})
	}
}

func anySlice(tags []string) []any {
	var out []any
	for _, t := range tags {
		out = append(out, t)
	}
	return out
}

// TestConnCoreRequestTimeout: the deadline timer follows the oldest request; a wake before any
// deadline re-arms it; once one passes, the link fails and every request in flight is answered
// once with ErrRequestTimeout (retriable).
func TestConnCoreRequestTimeout(t *testing.T) {
	s := newConnScript(t, false, nil)
	s.call("a")
	s.linkUp(0)
	t0 := s.now
	s.advance(2 * time.Second)
	if fx := s.call("b"); fx.deadline.set {
		t.Fatalf("a second request re-armed the deadline timer: %+v", fx.deadline)
	}
	s.step(&frameRead{frame: metadataFrame(1)}) // answers a: b's deadline is next
	if s.fx.deadline != (timerOp{set: true, at: s.now + int64(connTestTimeout)}) {
		t.Fatalf("after a's answer the deadline timer is %+v, want b's deadline", s.fx.deadline)
	}
	s.call("c")
	s.advance(connTestTimeout - time.Millisecond)
	if fx := s.step(wakeDeadline); fx.escalate != nil || len(fx.sends) != 0 || fx.deadline.at != t0+int64(2*time.Second+connTestTimeout) {
		t.Fatalf("early wake: %+v, want the timer re-armed at b's deadline", fx)
	}
	s.advance(time.Millisecond)
	fx := s.step(wakeDeadline)
	if got := tags(s.callDones()); !slices.Equal(got, []any{"b", "c"}) {
		t.Fatalf("answered %v, want b and c", got)
	}
	for _, d := range s.callDones() {
		if !errors.Is(d.Err, messages.ErrRequestTimeout) || !classify(d.Err).retry || d.Version != 12 {
			t.Fatalf("answer %v: %v (v%d), want a retriable ErrRequestTimeout at v12", d.Tag, d.Err, d.Version)
		}
	}
	if !fx.close || fx.escalate == nil || !errors.Is(fx.escalate, messages.ErrRequestTimeout) {
		t.Fatalf("effects %+v, want the link closed and the failure reported", fx)
	}
	s.exactlyOnce([]string{"a", "b", "c"}, nil)
}

// TestConnCoreIdle: the idle check closes a link that carried nothing for MaxIdle, not one with
// a request in flight, and re-arms from the last use; the next Call dials again.
func TestConnCoreIdle(t *testing.T) {
	s := newConnScript(t, false, func(set *Settings) { set.ConnectionsMaxIdle = time.Minute })
	s.call("a")
	t0 := s.now
	if fx := s.linkUp(0); fx.idle != (timerOp{set: true, at: t0 + int64(time.Minute)}) {
		t.Fatalf("idle timer %+v, want MaxIdle after the link came up", fx.idle)
	}
	s.advance(time.Minute) // a is still in flight
	if fx := s.step(wakeIdle); fx.close || fx.idle != (timerOp{set: true, at: s.now + int64(time.Minute)}) {
		t.Fatalf("idle check with a request in flight: %+v, want the link kept and the check re-armed a MaxIdle later", fx)
	}
	s.advance(10 * time.Second)
	s.step(&frameRead{frame: metadataFrame(1)}) // last used now: t0+70s
	if s.fx.idle.set {
		t.Fatalf("an answer touched the idle timer: %+v", s.fx.idle)
	}
	s.advance(50 * time.Second)
	if fx := s.step(wakeIdle); fx.close || fx.idle != (timerOp{set: true, at: t0 + int64(130*time.Second)}) {
		t.Fatalf("idle check 50s after the last use: %+v, want the check re-armed at the last use + MaxIdle", fx)
	}
	s.advance(10 * time.Second)
	fx := s.step(wakeIdle)
	if !fx.close || fx.escalate != nil || len(fx.sends) != 0 || s.k.status != connIdle {
		t.Fatalf("idle check after MaxIdle: %+v, want the link closed quietly", fx)
	}
	if !slices.ContainsFunc(fx.notes, func(n connNote) bool { return n.kind == noteClosing && n.reason == "idle" }) {
		t.Fatalf("notes %+v, want the close logged as idle", fx.notes)
	}
	if fx := s.call("b"); fx.dial != "b1:9092" {
		t.Fatalf("a Call after the idle close: %+v, want a dial", fx)
	}
	s.exactlyOnce([]string{"a"}, nil)
}

// TestConnCoreFailAnswersEverything: a failed link answers every Call it held (written or
// queued) and every batch of the sink (in flight or pending), each once; batches that were
// written carry the old writer's done channel.
func TestConnCoreFailAnswersEverything(t *testing.T) {
	t.Run("up", func(t *testing.T) {
		s := newConnScript(t, true, func(set *Settings) { set.MaxInFlight = 1 })
		if fx := s.step(sinkBatch("t", 0, 1, 10)); len(fx.sends) != 1 || fx.sends[0].to != nil {
			t.Fatalf("a batch: %+v, want a flushDue to itself", fx)
		}
		if fx := s.step(&flushDue{}); fx.dial != "b1:9092" || len(fx.writes) != 0 {
			t.Fatalf("flush with the link down: %+v, want a dial", fx)
		}
		fx := s.linkUp(0)
		if len(fx.writes) != 1 || fx.writes[0].req.Key() != wire.KeyProduce || fx.writes[0].version != 9 || !s.hasNote(noteRequestSent) {
			t.Fatalf("link up: %+v, want the batch's Produce v9 written", fx)
		}
		s.step(sinkBatch("t", 1, 2, 10))
		if fx := s.step(&flushDue{}); len(fx.writes) != 0 {
			t.Fatalf("window full: wrote %v", corrs(fx))
		}
		s.call("meta") // a Call shares the link with the sink
		fx = s.step(&linkFailed{err: errors.New("read: connection reset")})
		if got := tags(s.callDones()); !slices.Equal(got, []any{"meta"}) {
			t.Fatalf("answered calls %v, want meta", got)
		}
		dones := s.batchDones()
		if d := dones[1]; d == nil || d.Err == nil || d.WriterDone != connTestWriter {
			t.Fatalf("the batch in flight: %+v, want failed with its writer's done channel", d)
		}
		if d := dones[2]; d == nil || !errors.Is(d.Err, messages.ErrConnection) || d.WriterDone != nil {
			t.Fatalf("the pending batch: %+v, want failed with ErrConnection, never written", d)
		}
		if !fx.close || fx.escalate == nil || !fx.escalate.WasUp || fx.sink != (timerOp{set: true}) || !s.hasNote(noteRequestDone) {
			t.Fatalf("effects %+v, want the link closed, the failure reported and the sink's timer stopped", fx)
		}
		s.exactlyOnce([]string{"meta"}, []uint64{1, 2})
	})
	t.Run("dialing", func(t *testing.T) {
		s := newConnScript(t, true, nil)
		s.call("q")
		s.step(sinkBatch("t", 0, 1, 10))
		s.step(&flushDue{})
		fx := s.step(&linkFailed{err: errors.New("dial: connection refused")})
		if got := tags(s.callDones()); !slices.Equal(got, []any{"q"}) || s.batchDones()[1] == nil {
			t.Fatalf("answered %v and %v, want q and batch 1", got, s.batchDones())
		}
		if fx.escalate == nil || fx.escalate.WasUp || s.hasNote(noteOpened) {
			t.Fatalf("effects %+v, want a failed attempt reported (not up)", fx)
		}
		s.exactlyOnce([]string{"q"}, []uint64{1})
	})
	t.Run("unsupervised", func(t *testing.T) {
		s := newConnScript(t, false, nil)
		s.k.unsupervised = true
		s.call("a")
		if fx := s.step(&linkFailed{err: errors.New("refused")}); fx.escalate != nil || s.k.status != connIdle {
			t.Fatalf("effects %+v (status %v), want no report and the next Call to dial", fx, s.k.status)
		}
		if fx := s.call("b"); fx.dial == "" {
			t.Fatal("no dial after an unsupervised failure")
		}
	})
}

// TestConnCoreProduce: produce requests from the sink go out under the window and their
// responses go back to the batches' accumulators; acks=0 requests complete once written.
func TestConnCoreProduce(t *testing.T) {
	s := newConnScript(t, true, func(set *Settings) { set.MaxInFlight = 2 })
	s.call("warm")
	s.linkUp(0)
	if fx := s.step(&frameRead{frame: metadataFrame(1)}); fx.frameFree {
		t.Fatal("a metadata answer's frame may be reused: its decoder may keep slices of it")
	}
	s.step(sinkBatch("t", 0, 1, 10))
	fx := s.step(&flushDue{})
	if len(fx.writes) != 1 || fx.writes[0].corr != 2 {
		t.Fatalf("flush wrote %v, want correlation id 2", corrs(fx))
	}
	req := fx.writes[0].req.(*wire.ProduceRequest)
	fx = s.step(&frameRead{frame: produceFrame(2, req)})
	if d := s.batchDones()[1]; d == nil || d.Err != nil || d.BaseOffset != 100 {
		t.Fatalf("batch 1 answered %+v, want offset 100", d)
	}
	if !fx.frameFree {
		t.Fatal("a produce answer's frame is not reused")
	}
	// The answered request goes back to the sink only after the step's effects, whose metrics
	// note still reads its batches.
	if len(fx.released) != 1 || len(fx.released[0].batches) != 1 || fx.released[0].req != req || len(s.k.sink.spare) != 0 {
		t.Fatalf("released %v (sink spares %d), want the answered request intact and not yet reused", fx.released, len(s.k.sink.spare))
	}

	// A throttled answer holds the next request until the throttle ends: one timer, then a flush.
	s.step(sinkBatch("t", 0, 2, 10))
	s.step(&flushDue{})
	throttled := responseFrame(3, 9, &kmsg.ProduceResponse{ThrottleMillis: 100, Topics: []kmsg.ProduceResponseTopic{{Topic: "t",
		Partitions: []kmsg.ProduceResponseTopicPartition{{Partition: 0, BaseOffset: 101}}}}})
	if fx := s.step(&frameRead{frame: throttled}); !s.hasNote(noteThrottled) || s.batchDones()[2] == nil {
		t.Fatalf("throttled answer: %+v, want batch 2 answered and the throttle noted", fx)
	}
	s.step(sinkBatch("t", 0, 3, 10))
	if fx := s.step(&flushDue{}); len(fx.writes) != 0 || fx.sink != (timerOp{set: true, at: s.now + int64(100*time.Millisecond)}) {
		t.Fatalf("flush while throttled: %+v, want nothing written and a wake-up at the throttle's end", fx)
	}
	s.step(sinkBatch("t", 1, 4, 10))
	if fx := s.step(&flushDue{}); len(fx.writes) != 0 || fx.sink.set {
		t.Fatalf("second flush while throttled: %+v, want the armed wake-up kept", fx)
	}
	s.advance(100 * time.Millisecond)
	if fx := s.step(wakeSink); len(fx.writes) != 1 || len(fx.writes[0].req.(*wire.ProduceRequest).Topics[0].Partitions) != 2 {
		t.Fatalf("the throttle's end: %+v, want batches 3 and 4 in one request", fx)
	}
	throttled = responseFrame(4, 9, &kmsg.ProduceResponse{ThrottleMillis: 50, Topics: []kmsg.ProduceResponseTopic{{Topic: "t",
		Partitions: []kmsg.ProduceResponseTopicPartition{{Partition: 0, BaseOffset: 102}, {Partition: 1, BaseOffset: 7}}}}})
	s.step(&frameRead{frame: throttled})
	s.step(sinkBatch("t", 0, 5, 10))
	if fx := s.step(&flushDue{}); fx.sink != (timerOp{set: true, at: s.now + int64(50*time.Millisecond)}) {
		t.Fatalf("a second throttle: %+v, want the wake-up armed again", fx)
	}
	s.exactlyOnce([]string{"warm"}, []uint64{1, 2, 3, 4})

	acks0 := newConnScript(t, true, func(set *Settings) { set.Acks = 0 })
	acks0.step(sinkBatch("t", 0, 1, 10))
	acks0.step(&flushDue{})
	fx = acks0.linkUp(0)
	if len(fx.writes) != 1 || !fx.writes[0].notify || fx.deadline != (timerOp{set: true}) {
		t.Fatalf("acks=0: %+v, want a write reported once written and no deadline", fx)
	}
	acks0.step(&frameWritten{corr: fx.writes[0].corr})
	if d := acks0.batchDones()[1]; d == nil || d.Err != nil {
		t.Fatalf("acks=0 batch answered %+v, want done once written", d)
	}
	acks0.exactlyOnce(nil, []uint64{1})
}

// TestConnCoreMove: a new address answers what was written on the old link (it may have been
// written) and dials the new one for what still waits; a move while dialing keeps the queued
// Calls for the new link.
func TestConnCoreMove(t *testing.T) {
	s := newConnScript(t, false, nil)
	s.call("a")
	s.linkUp(0)
	fx := s.step(&sinkAddress{addr: "b9:9092"})
	if d := s.callDones(); len(d) != 1 || d[0].Tag != "a" || !errors.Is(d[0].Err, messages.ErrConnection) {
		t.Fatalf("answered %+v, want a failed with ErrConnection", d)
	}
	if !fx.close || fx.dial != "" || fx.escalate != nil {
		t.Fatalf("effects %+v, want the old link closed, no dial (nothing waits), no failure", fx)
	}
	if fx := s.call("b"); fx.dial != "b9:9092" {
		t.Fatalf("next Call dials %q, want the new address", fx.dial)
	}
	fx = s.step(&sinkAddress{addr: "b7:9092"})
	if !fx.close || fx.dial != "b7:9092" || len(fx.sends) != 0 || s.hasNote(noteClosing) {
		t.Fatalf("move while dialing: %+v, want the dial restarted at the new address with b still queued", fx)
	}
	if fx := s.linkUp(0); !slices.Equal(corrs(fx), []int32{2}) {
		t.Fatalf("link up at the new address wrote %v, want b", corrs(fx))
	}
	s.exactlyOnce([]string{"a"}, nil)
}

// TestConnCoreReauth: with a SASL session the next login is due at 85–95% of it; once due, new
// Calls wait, the requests in flight complete, the exchange runs with the link to itself, and what
// waited is written after it.
func TestConnCoreReauth(t *testing.T) {
	s := newConnScript(t, false, func(set *Settings) { set.Security.SASL = sasl.Plain{User: "u", Pass: "p"} })
	s.call("a")
	t0 := s.now
	if fx := s.linkUp(10 * time.Second); fx.reauth != (timerOp{set: true, at: t0 + int64(9*time.Second)}) {
		t.Fatalf("re-auth timer %+v, want 90%% of the session (random 0.5)", fx.reauth)
	}
	s.advance(9 * time.Second)
	if fx := s.step(wakeReauth); fx.reauthStart {
		t.Fatal("the exchange started with a request in flight")
	}
	if fx := s.call("b"); len(fx.writes) != 0 {
		t.Fatal("a Call was written while a re-authentication was due")
	}
	if fx := s.step(&frameRead{frame: metadataFrame(1)}); !fx.reauthStart || tags(s.callDones())[0] != "a" {
		t.Fatalf("a's answer: %+v, want a answered and the exchange started", fx)
	}
	resp := []byte{1, 2, 3}
	if fx := s.step(&frameRead{frame: resp}); !slices.Equal(fx.reauthFrame, resp) || len(fx.sends) != 0 {
		t.Fatalf("a frame during the exchange: %+v, want it handed to the exchange", fx)
	}
	s.advance(time.Second)
	fx := s.step(&reauthDone{session: 20 * time.Second})
	if !slices.Equal(corrs(fx), []int32{2}) || fx.reauth != (timerOp{set: true, at: s.now + int64(18*time.Second)}) || !s.hasNote(noteReauthenticated) {
		t.Fatalf("after the exchange: %+v, want b written and the next login at 90%% of the new session", fx)
	}
	s.advance(18 * time.Second)
	s.step(wakeReauth)
	s.step(&frameRead{frame: metadataFrame(2)})
	fx = s.step(&reauthDone{err: errors.New("re-authenticating: rejected")})
	if !fx.close || fx.escalate == nil || fx.reauth != (timerOp{set: true}) {
		t.Fatalf("a failed exchange: %+v, want the link failed", fx)
	}
	s.exactlyOnce([]string{"a", "b"}, nil)

	plain := newConnScript(t, false, nil)
	plain.call("a")
	if fx := plain.linkUp(10 * time.Second); fx.reauth.set {
		t.Fatalf("without SASL the re-auth timer is %+v, want untouched", fx.reauth)
	}
}

// TestConnCoreRestarting: a step that panicked is settled on Restarting: its Call is answered
// with ErrInternal unless the connection already held it (then it is answered as stopped, once),
// as is a batch the sink had not taken; everything held is answered.
func TestConnCoreRestarting(t *testing.T) {
	s := newConnScript(t, true, nil)
	s.call("held")
	s.step(sinkBatch("t", 0, 1, 10))
	s.k.current = &messages.Call{Req: metadataCallFor("t"), ReplyTo: connCaller, Tag: "panicked"}
	s.k.batch = sinkBatch("t", 1, 2, 10)
	fx := s.step(&actor.Restarting{})
	for _, d := range s.callDones() {
		want := messages.ErrInternal
		if d.Tag == "held" {
			want = messages.ErrConnection
		}
		if !errors.Is(d.Err, want) || (d.Tag == "held") == errors.Is(d.Err, messages.ErrInternal) {
			t.Fatalf("%v answered %v", d.Tag, d.Err)
		}
	}
	if d := s.batchDones()[2]; d == nil || !errors.Is(d.Err, messages.ErrInternal) {
		t.Fatalf("the batch being taken: %+v, want ErrInternal", d)
	}
	if !fx.close || fx.escalate != nil {
		t.Fatalf("effects %+v, want the link closed and no failure reported", fx)
	}
	s.exactlyOnce([]string{"held", "panicked"}, []uint64{1, 2})
	if fx := s.step(&actor.Stopping{}); len(fx.sends) != 0 {
		t.Fatalf("stopping after the restart answered again: %+v", fx.sends)
	}

	// The Call that panicked was written already: shutdown answers it, once.
	s = newConnScript(t, false, nil)
	s.call("a")
	s.linkUp(0)
	s.k.current = s.k.inflight[0].call
	s.step(&actor.Restarting{})
	if d := s.callDones(); len(d) != 1 || !errors.Is(d[0].Err, messages.ErrConnection) || errors.Is(d[0].Err, messages.ErrInternal) {
		t.Fatalf("answered %+v, want a once, as stopped", d)
	}
	s.exactlyOnce([]string{"a"}, nil)
}

// TestConnCoreProduceCap: the Produce version cap the sender passes on (produceCapNews) caps the
// sink's requests from then on.
func TestConnCoreProduceCap(t *testing.T) {
	s := newConnScript(t, true, nil)
	s.linkUp(0)
	s.step(&produceCapNews{cap: 7})
	s.step(sinkBatch("t", 0, 1, 10))
	if fx := s.step(&flushDue{}); len(fx.writes) != 1 || fx.writes[0].version != 7 {
		t.Fatalf("capped at 7: %+v, want one Produce v7", fx.writes)
	}
}

// A restarted connection actor (a new instance, a new core) keeps the cap its predecessor was told.
func TestConnectionKeepsProduceCapAcrossRestarts(t *testing.T) {
	e := newEnv(t, testSettings())
	cfg := connectionTo(e.shared.Settings, 1, "b1:9092")
	cfg.Produce = true
	instances := connectionInstances(e.shared, cfg)
	first := instances().(*connectionActor).st.core
	first.step(0, &produceCapNews{cap: 7})
	if got := *instances().(*connectionActor).st.core.produceCap; got != 7 {
		t.Fatalf("the next instance's cap: %d, want 7", got)
	}
}
