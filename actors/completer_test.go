package actors

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kastor-go/kastor/messages"
)

// lockedBuffer is a log sink safe for the completer goroutine and the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// journal is an ordered log of what the completer ran.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.entries = append(j.entries, s)
	j.mu.Unlock()
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

// TestCompleterOrderAndMetadata: items run in push order; within one, OnRecord runs before each
// record's callback, offsets are base + index, Release runs once after the callbacks, and After
// runs after everything pushed before it.
func TestCompleterOrderAndMetadata(t *testing.T) {
	var j journal
	var mds []messages.RecordMetadata
	var errs []error
	c := NewCompleter(
		func(md messages.RecordMetadata, err error) { j.add("on " + md.Topic) },
		func(n int64) { j.add("release " + strconv.FormatInt(n, 10)) },
		discardLogger)
	rec := func(name string, ts int64, ks, vs int32) pendingRecord {
		return pendingRecord{timestampMs: ts, keySize: ks, valueSize: vs,
			done: func(md messages.RecordMetadata, err error) {
				j.add("done " + name)
				mds = append(mds, md)
				errs = append(errs, err)
			}}
	}
	c.push(completion{tp: tp("a", 1), baseOffset: 10, logAppendTime: -1, reserved: 11,
		records: []pendingRecord{rec("a0", 100, 1, 2), rec("a1", 101, -1, 3)}})
	c.After(func() { j.add("after a") })
	c.push(completion{tp: tp("b", 2), baseOffset: 20, logAppendTime: 999,
		records: []pendingRecord{rec("b0", 200, 4, -1)}})
	failure := messages.ErrProducerClosed
	c.push(completion{tp: tp("c", 3), err: failure, baseOffset: 30, logAppendTime: 999, reserved: 7,
		records: []pendingRecord{rec("c0", 300, 0, 0)}})
	c.push(completion{tp: tp("d", 4), baseOffset: -1, logAppendTime: -1, // acks=0
		records: []pendingRecord{rec("d0", 400, 0, 0)}})
	c.Stop()

	want := []string{"on a", "done a0", "on a", "done a1", "release 11", "after a",
		"on b", "done b0", "on c", "done c0", "release 7", "on d", "done d0"}
	if got := j.get(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ran %v\nwant %v", got, want)
	}
	wantMD := []messages.RecordMetadata{
		{Topic: "a", Partition: 1, Offset: 10, Timestamp: time.UnixMilli(100), SerializedKeySize: 1, SerializedValueSize: 2},
		{Topic: "a", Partition: 1, Offset: 11, Timestamp: time.UnixMilli(101), SerializedKeySize: -1, SerializedValueSize: 3},
		{Topic: "b", Partition: 2, Offset: 20, Timestamp: time.UnixMilli(999), SerializedKeySize: 4, SerializedValueSize: -1},
		{Topic: "c", Partition: 3, Offset: -1, Timestamp: time.UnixMilli(300)},
		{Topic: "d", Partition: 4, Offset: -1, Timestamp: time.UnixMilli(400)},
	}
	for i, w := range wantMD {
		if g := mds[i]; g.Topic != w.Topic || g.Partition != w.Partition || g.Offset != w.Offset || !g.Timestamp.Equal(w.Timestamp) ||
			g.SerializedKeySize != w.SerializedKeySize || g.SerializedValueSize != w.SerializedValueSize {
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
	}
	for i, err := range errs {
		if (i == 3) != (err == failure) || i != 3 && err != nil {
			t.Errorf("record %d: error %v", i, err)
		}
	}
}

// TestCompleterRecoversPanics: a panicking callback is logged and the records and items after it
// still run.
func TestCompleterRecoversPanics(t *testing.T) {
	var logs lockedBuffer
	var j journal
	c := NewCompleter(nil, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	c.push(completion{tp: tp("t", 0), baseOffset: 0, logAppendTime: -1, records: []pendingRecord{
		{done: func(messages.RecordMetadata, error) { j.add("r0") }},
		{done: func(messages.RecordMetadata, error) { panic("boom") }},
		{done: func(md messages.RecordMetadata, _ error) { j.add(fmt.Sprintf("r2@%d", md.Offset)) }},
	}})
	c.After(func() { j.add("after") })
	c.Stop()
	if got := strings.Join(j.get(), ","); got != "r0,r2@2,after" {
		t.Fatalf("ran %s, want r0,r2@2,after", got)
	}
	if l := logs.String(); !strings.Contains(l, "panicked") || !strings.Contains(l, "boom") {
		t.Errorf("panic not logged: %q", l)
	}
}

// TestCompleterStopDrains: Stop returns only after everything pushed before it ran, whoever
// pushed it.
func TestCompleterStopDrains(t *testing.T) {
	var mu sync.Mutex
	ran := 0
	c := NewCompleter(nil, nil, discardLogger)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				c.push(completion{tp: tp("t", int32(g)), baseOffset: int64(i), logAppendTime: -1, records: []pendingRecord{{
					done: func(messages.RecordMetadata, error) { mu.Lock(); ran++; mu.Unlock() },
				}}})
			}
		}()
	}
	wg.Wait()
	c.Stop()
	mu.Lock()
	defer mu.Unlock()
	if ran != 1000 {
		t.Fatalf("%d of 1000 completions ran before Stop returned", ran)
	}
}

// TestCompleterPerPartitionOrder: items pushed by one goroutine run in its order even while others
// push concurrently.
func TestCompleterPerPartitionOrder(t *testing.T) {
	const perProducer = 300
	var mu sync.Mutex
	last := map[int32]int64{}
	bad := 0
	c := NewCompleter(nil, nil, discardLogger)
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				c.push(completion{tp: tp("t", int32(g)), baseOffset: int64(i), logAppendTime: -1, records: []pendingRecord{{
					done: func(md messages.RecordMetadata, _ error) {
						mu.Lock()
						if prev, ok := last[md.Partition]; ok && md.Offset != prev+1 || !ok && md.Offset != 0 {
							bad++
						}
						last[md.Partition] = md.Offset
						mu.Unlock()
					},
				}}})
			}
		}()
	}
	wg.Wait()
	c.Stop()
	if bad != 0 {
		t.Fatalf("%d completions out of order", bad)
	}
	for g := range int32(3) {
		if last[g] != perProducer-1 {
			t.Errorf("partition %d ended at %d", g, last[g])
		}
	}
}

// TestCompleterStopIdle: Stop on an idle completer returns.
func TestCompleterStopIdle(t *testing.T) {
	c := NewCompleter(nil, nil, discardLogger)
	done := make(chan struct{})
	go func() { c.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Stop of an idle completer did not return")
	}
}

// TestCompleterRunsWaitersInline: a completion of waiting Sends only runs on the pusher's
// goroutine when nothing is ahead of it; behind an unfinished item, or with an interceptor, it
// keeps its place in the queue.
func TestCompleterRunsWaitersInline(t *testing.T) {
	onPusher := func(c *Completer, item completion) bool {
		ran := make(chan bool, 1)
		item.records = []pendingRecord{{done: func(messages.RecordMetadata, error) {
			ran <- !c.OnCompletionGoroutine()
		}}}
		item.waitersOnly = true
		c.push(item)
		return <-ran
	}

	c := NewCompleter(nil, nil, discardLogger)
	if !onPusher(c, completion{tp: tp("a", 0)}) {
		t.Fatal("an idle completer ran a waiters-only completion on its own goroutine")
	}
	// An item ahead of it (a callback still running): the waiter goes behind it, on the
	// completer's goroutine, after it.
	var j journal
	release := make(chan struct{})
	c.push(completion{tp: tp("a", 0), records: []pendingRecord{{done: func(messages.RecordMetadata, error) {
		<-release
		j.add("async")
	}}}})
	waiter := make(chan bool, 1)
	c.push(completion{tp: tp("a", 0), waitersOnly: true, records: []pendingRecord{{done: func(messages.RecordMetadata, error) {
		j.add("waiter")
		waiter <- c.OnCompletionGoroutine()
	}}}})
	close(release)
	if !<-waiter {
		t.Fatal("a waiter behind an unfinished completion ran off the completion goroutine")
	}
	if got := strings.Join(j.get(), ","); got != "async,waiter" {
		t.Fatalf("order %s, want async,waiter", got)
	}
	c.Stop()

	// With an interceptor, OnRecord is user code: never on the pusher's goroutine.
	c = NewCompleter(func(messages.RecordMetadata, error) {}, nil, discardLogger)
	if onPusher(c, completion{tp: tp("a", 0)}) {
		t.Fatal("a completion with an interceptor ran on the pusher's goroutine")
	}
	c.Stop()
}

// TestCompleterReusesRecordArrays: a completed batch's record array comes back from recordSlice,
// emptied and holding no callback; one the batch does not own (a split batch's half) never does.
func TestCompleterReusesRecordArrays(t *testing.T) {
	c := NewCompleter(nil, nil, discardLogger)
	defer c.Stop()
	complete := func(item completion) {
		done := make(chan struct{})
		c.push(item)
		c.After(func() { close(done) })
		<-done
	}
	cb := func(messages.RecordMetadata, error) {}

	rs := c.recordSlice(4)
	rs = append(rs, pendingRecord{done: cb}, pendingRecord{done: cb})
	complete(completion{tp: tp("a", 0), records: rs, ownsRecords: true})
	again := c.recordSlice(2)
	if cap(again) != cap(rs) || &again[:1][0] != &rs[0] || len(again) != 0 {
		t.Fatalf("recordSlice after a completion: cap %d len %d, want the completed array (cap %d) empty", cap(again), len(again), cap(rs))
	}
	if again[:2][0].done != nil || again[:2][1].done != nil {
		t.Fatal("a reused record array still holds the completed records' callbacks")
	}

	shared := make([]pendingRecord, 2, 2)
	shared[0].done, shared[1].done = cb, cb
	complete(completion{tp: tp("a", 0), records: shared[:1:1]}) // not owned
	if next := c.recordSlice(1); cap(next) > 0 && &next[:1][0] == &shared[0] {
		t.Fatal("a record array the batch did not own was reused")
	}
	if shared[1].done == nil {
		t.Fatal("completing half of a shared array cleared the other half")
	}
}
