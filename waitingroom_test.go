package kastor

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/messages"
)

// fakeEnv plays the producer for waitingRoom: topics and their partition counts, a byte budget, a
// manual clock and timers; it records what was delivered, refused and replied.
type fakeEnv struct {
	t          *testing.T
	partitions map[string]int32 // known topics
	free       int
	clock      time.Time
	timers     []fakeTimer

	lane      []laneItem
	delivered []string
	refused   map[string]error
	replies   []any
	flushes   []func()
	diverted  int64
	waiting   map[string]struct{}
	memWait   bool
	refreshes int
	closedNow bool
	stopped   bool
}

type fakeTimer struct {
	at      time.Time
	msg     any
	stopped bool
}

func newFakeEnv(t *testing.T) *fakeEnv {
	return &fakeEnv{t: t, partitions: map[string]int32{}, refused: map[string]error{}, clock: time.Unix(1000, 0)}
}

func name(e *sendEntry) string { return string(e.rec.Value) }

func (f *fakeEnv) choosePartition(e *sendEntry) (bool, error) {
	n, ok := f.partitions[e.rec.Topic]
	if !ok || e.want >= n {
		return false, nil
	}
	e.part = max(e.want, 0)
	return true, nil
}
func (f *fakeEnv) topicKnown(topic string) bool { _, ok := f.partitions[topic]; return ok }
func (f *fakeEnv) reserve(e *sendEntry) bool {
	if f.free < e.size {
		return false
	}
	f.free -= e.size
	e.reserved = true
	return true
}
func (f *fakeEnv) deliver(e *sendEntry) error {
	if !e.reserved || e.part < 0 {
		f.t.Fatalf("%s delivered without partition or memory", name(e))
	}
	f.delivered = append(f.delivered, name(e))
	return nil
}
func (f *fakeEnv) refuse(e *sendEntry, err error) {
	if e.reserved {
		f.free += e.size
		e.reserved = false
	}
	if _, dup := f.refused[name(e)]; dup {
		f.t.Fatalf("%s refused twice", name(e))
	}
	f.refused[name(e)] = err
}
func (f *fakeEnv) topicTimeout(topic string, _ int32) error {
	return fmt.Errorf("%w: topic %s", ErrTimeout, topic)
}
func (f *fakeEnv) memoryTimeout(int) error                { return fmt.Errorf("%w: memory", ErrTimeout) }
func (f *fakeEnv) divert(n int64)                         { f.diverted += n }
func (f *fakeEnv) setWaitingTopics(m map[string]struct{}) { f.waiting = m }
func (f *fakeEnv) setMemoryWaiting(b bool)                { f.memWait = b }
func (f *fakeEnv) rearmMemory()                           {}
func (f *fakeEnv) refreshMetadata([]string)               { f.refreshes++ }
func (f *fakeEnv) flushAll(done func())                   { f.flushes = append(f.flushes, done) }
func (f *fakeEnv) post(msg any)                           { f.replies = append(f.replies, msg) }
func (f *fakeEnv) abortTransaction(then func())           { then() }
func (f *fakeEnv) reply(_ *actor.PID, msg any)            { f.replies = append(f.replies, msg) }
func (f *fakeEnv) now() time.Time                         { return f.clock }
func (f *fakeEnv) closed() bool                           { return f.closedNow }
func (f *fakeEnv) beginClose()                            { f.closedNow = true }
func (f *fakeEnv) stopSelf()                              { f.stopped = true }
func (f *fakeEnv) closeLane() []laneItem                  { return f.takeLane(nil) }
func (f *fakeEnv) unanswered() uint64                     { return 0 }
func (f *fakeEnv) cleanup()                               {}
func (f *fakeEnv) takeLane(spare []laneItem) []laneItem {
	items := f.lane
	f.lane = spare[:0]
	return items
}
func (f *fakeEnv) after(d time.Duration, msg any) func() bool {
	f.timers = append(f.timers, fakeTimer{at: f.clock.Add(d), msg: msg})
	i := len(f.timers) - 1
	return func() bool { f.timers[i].stopped = true; return true }
}

// fire advances the clock to d later and delivers the timers due.
func (f *fakeEnv) fire(s *waitingRoom, d time.Duration) {
	f.clock = f.clock.Add(d)
	for i := range f.timers {
		if tm := &f.timers[i]; !tm.stopped && !tm.at.After(f.clock) {
			tm.stopped = true
			s.receive(tm.msg)
		}
	}
}

// send puts a record (named by its value) in the lane, as a Produce the gate held back does.
func (f *fakeEnv) send(s *waitingRoom, topic string, value string, want int32) {
	f.diverted++
	f.lane = append(f.lane, laneItem{kind: itemRecord, entry: sendEntry{
		rec: &Record{Topic: topic, Value: []byte(value)}, now: f.clock, size: 10, want: want, part: -1}})
	s.receive(lanePoke)
}

func (f *fakeEnv) flush(s *waitingRoom, corr uint64) {
	f.diverted++
	f.lane = append(f.lane, laneItem{kind: itemFlush, replyTo: actor.NewPID("x", "y"), corr: corr})
	s.receive(lanePoke)
}

func newTestPath(t *testing.T, maxBlock time.Duration) (*waitingRoom, *fakeEnv) {
	f := newFakeEnv(t)
	s := newWaitingRoom(maxBlock)
	s.env = f
	return s, f
}

func expectDelivered(t *testing.T, f *fakeEnv, want ...string) {
	t.Helper()
	if fmt.Sprint(f.delivered) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", f.delivered, want)
	}
}

// Records waiting for memory hold every later record (the gate stays shut) and go, in arrival
// order, as memory is released.
func TestPathMemoryInOrder(t *testing.T) {
	s, f := newTestPath(t, time.Minute)
	f.partitions["t"] = 2
	for i := range 3 {
		f.send(s, "t", strconv.Itoa(i), -1)
	}
	if len(f.delivered) != 0 || f.diverted != 3 || !f.memWait {
		t.Fatalf("delivered %v, diverted %d, waiting for memory %v", f.delivered, f.diverted, f.memWait)
	}
	f.free = 20
	s.receive(memoryReleasedMsg)
	expectDelivered(t, f, "0", "1")
	if f.diverted != 1 {
		t.Fatalf("diverted %d, want 1", f.diverted)
	}
	f.free = 100
	s.receive(memoryReleasedMsg)
	expectDelivered(t, f, "0", "1", "2")
	if f.diverted != 0 || f.memWait {
		t.Fatalf("diverted %d, waiting for memory %v", f.diverted, f.memWait)
	}
}

// A topic without metadata holds only its own records; they go in order once it is known. A
// record naming a partition its (known) topic lacks holds neither the topic nor other partitions.
func TestPathTopicWaitsAlone(t *testing.T) {
	s, f := newTestPath(t, time.Minute)
	f.free = 1000
	f.partitions["b"] = 1
	f.send(s, "a", "a1", -1)
	f.send(s, "b", "b1", -1)
	f.send(s, "a", "a2", -1)
	f.send(s, "b", "b2", 3) // b has 1 partition
	f.send(s, "b", "b3", -1)
	expectDelivered(t, f, "b1", "b3")
	if _, ok := f.waiting["a"]; !ok || f.diverted != 0 {
		t.Fatalf("waiting %v, diverted %d", f.waiting, f.diverted)
	}
	if _, ok := f.waiting["b"]; ok {
		t.Fatal("topic b is held by a record for one of its missing partitions")
	}
	f.partitions["a"] = 1
	s.receive(&messages.MetadataUpdated{})
	expectDelivered(t, f, "b1", "b3", "a1", "a2")
	f.partitions["b"] = 4
	s.receive(&messages.MetadataUpdated{})
	expectDelivered(t, f, "b1", "b3", "a1", "a2", "b2")
	if len(f.waiting) != 0 || s.parked != 0 {
		t.Fatalf("still waiting: %v (%d parked)", f.waiting, s.parked)
	}
}

// MaxBlock: what waits fails with ErrTimeout, its memory back; the records behind go on.
func TestPathMaxBlock(t *testing.T) {
	s, f := newTestPath(t, 100*time.Millisecond)
	f.partitions["t"] = 1
	f.send(s, "x", "x1", -1) // never known
	f.send(s, "t", "t1", -1) // no memory
	f.clock = f.clock.Add(50 * time.Millisecond)
	f.send(s, "t", "t2", -1)
	f.fire(s, 60*time.Millisecond)
	for _, n := range []string{"x1", "t1"} {
		if !errors.Is(f.refused[n], ErrTimeout) {
			t.Fatalf("%s: %v, want ErrTimeout", n, f.refused[n])
		}
	}
	if _, ok := f.refused["t2"]; ok {
		t.Fatal("t2 failed before its MaxBlock")
	}
	f.free = 10
	s.receive(memoryReleasedMsg)
	expectDelivered(t, f, "t2")
	if f.diverted != 0 || len(f.waiting) != 0 || s.parked != 0 {
		t.Fatalf("diverted %d, waiting %v, parked %d", f.diverted, f.waiting, s.parked)
	}
}

// A Flush waits for the records that waited when it came, then flushes every accumulator and is
// answered after them (from the completion of the accumulator flush).
func TestPathFlushWaitsForParkedRecords(t *testing.T) {
	s, f := newTestPath(t, time.Minute)
	f.free = 100
	f.send(s, "a", "a1", -1)
	f.flush(s, 7)
	if len(f.flushes) != 0 {
		t.Fatal("the flush started while a1 waits")
	}
	f.send(s, "a", "a2", -1) // after the flush: not waited for
	f.partitions["a"] = 1
	s.receive(&messages.MetadataUpdated{})
	expectDelivered(t, f, "a1", "a2")
	if len(f.flushes) != 1 {
		t.Fatalf("%d accumulator flushes, want 1", len(f.flushes))
	}
	f.flushes[0]()
	if len(f.replies) != 1 || f.replies[0].(*messages.Flushed).Correlation != 7 {
		t.Fatalf("replies %v", f.replies)
	}
	if f.diverted != 0 {
		t.Fatalf("diverted %d", f.diverted)
	}
}

// A restart fails what waits and what is still in the lane, and leaves the gate open.
func TestPathRestartFailsWhatWaits(t *testing.T) {
	s, f := newTestPath(t, time.Minute)
	f.partitions["t"] = 1
	f.send(s, "a", "a1", -1)
	f.send(s, "t", "t1", -1)
	f.diverted++
	f.lane = append(f.lane, laneItem{kind: itemRecord, entry: sendEntry{rec: &Record{Topic: "t", Value: []byte("t2")}, size: 10, want: -1, part: -1}})
	cause := errors.New("restarted")
	s.restarting(cause)
	for _, n := range []string{"a1", "t1", "t2"} {
		if !errors.Is(f.refused[n], cause) {
			t.Fatalf("%s: %v", n, f.refused[n])
		}
	}
	if f.diverted != 0 || len(f.waiting) != 0 || s.parked != 0 || f.memWait {
		t.Fatalf("diverted %d, waiting %v, parked %d, memory %v", f.diverted, f.waiting, s.parked, f.memWait)
	}
}
