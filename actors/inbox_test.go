package actors

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/kastor-go/kastor/messages"
)

// Records pushed while their accumulator stops (as when the producer actor restarts) are each
// either completed exactly once, failed with the stop cause, or refused to the pusher (who still
// owns them and sends them to the next accumulator): none is dropped. A flush marker pushed
// before the stop completes after them; one refused runs at once.
func TestInboxAcrossStop(t *testing.T) {
	e := newEnv(t, testSettings())
	sender := e.newProbe() // never drains: every record stays in its batch until the stop
	props, in := newAccumulator(e.shared, tp("t", 0), sender.pid, nil, e.sys.Root, nil)
	in.pid = e.sys.Root.Spawn(props)
	cause := errors.New("restarted")
	in.stopNotice.send(cause) // as the producer actor does before a restart stops it

	var mu sync.Mutex
	count := map[int]int{}
	errs := map[int]error{}
	done := func(i int) messages.Completion {
		return func(_ messages.RecordMetadata, err error) {
			mu.Lock()
			count[i]++
			errs[i] = err
			mu.Unlock()
		}
	}
	flushed := make(chan struct{})
	pushed := 0
	for ; ; pushed++ {
		r := rec("k", "v", 1)
		if !in.Push(messages.Append{Record: r.rec, TimestampMs: 1, Reserved: 10, EnqueuedNs: time.Now().UnixNano(), Done: done(pushed)}) {
			break
		}
		switch pushed {
		case 300:
			if !in.PushFlush(func() { close(flushed) }) {
				t.Fatal("flush refused before the stop")
			}
		case 500:
			go e.stop(in.pid)
		}
		if pushed > 500 {
			runtime.Gosched()
		}
	}
	if pushed <= 500 {
		t.Fatalf("refused after %d records, before the stop", pushed)
	}
	ran := make(chan struct{})
	if in.PushFlush(func() {}) {
		t.Fatal("a flush was taken after the stop")
	}
	e.shared.Completer.After(func() { close(ran) })
	<-ran
	<-flushed
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < pushed; i++ {
		if count[i] != 1 {
			t.Fatalf("record %d completed %d times (of %d pushed)", i, count[i], pushed)
		}
		if !errors.Is(errs[i], cause) {
			t.Fatalf("record %d: %v, want the stop cause", i, errs[i])
		}
	}
	if len(count) != pushed {
		t.Fatalf("%d completions for %d records", len(count), pushed)
	}
}
