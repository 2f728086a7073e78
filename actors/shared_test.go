package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/messages"
)

// TestBackoff: attempt n waits min·2^(n-1) capped at max, within ±20 % jitter, and the jitter
// actually varies.
func TestBackoff(t *testing.T) {
	minD, maxD := 100*time.Millisecond, 3*time.Second
	for n := 1; n <= 12; n++ {
		base := minD << (n - 1)
		if base > maxD {
			base = maxD
		}
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		seen := map[time.Duration]bool{}
		below, above := false, false
		for range 300 {
			d := backoff(minD, maxD, n)
			if d < lo || d > hi {
				t.Fatalf("Backoff(%v, %v, %d) = %v, want within [%v, %v]", minD, maxD, n, d, lo, hi)
			}
			seen[d] = true
			below = below || d < base
			above = above || d > base
		}
		if len(seen) < 10 || !below || !above {
			t.Errorf("attempt %d: %d distinct waits, below base %v, above %v: no real jitter", n, len(seen), below, above)
		}
	}
	if d := backoff(minD, maxD, 0); d < minD*8/10 || d > minD*12/10 {
		t.Errorf("Backoff for attempt 0 = %v, want about min", d)
	}
	if d := backoff(minD, maxD, 1000); d > maxD*12/10 || d < maxD*8/10 {
		t.Errorf("Backoff for attempt 1000 = %v, want about max", d)
	}
	if d := backoff(0, maxD, 5); d != 0 {
		t.Errorf("Backoff with min 0 = %v", d)
	}
}

// TestSharedPublish: Cluster never returns nil; publish swaps the snapshot and closes the old
// one's Updated channel.
func TestSharedPublish(t *testing.T) {
	sh := NewShared(testSettings(), discardLogger, bufferpool.NewBudget(1), nil)
	first := sh.Cluster()
	if first == nil || first.Topics == nil || first.Brokers == nil {
		t.Fatalf("initial snapshot %+v", first)
	}
	next := &Cluster{Brokers: map[int32]string{}, Topics: map[string]*TopicInfo{}}
	sh.publish(next)
	if sh.Cluster() != next {
		t.Fatalf("publish did not swap the snapshot")
	}
	select {
	case <-first.Updated():
	default:
		t.Fatalf("old snapshot not marked updated")
	}
	select {
	case <-next.Updated():
		t.Fatalf("new snapshot marked updated")
	default:
	}

	// Diagnostics replace the snapshot without waking its waiters; the next publish does.
	refused := errors.New("refused")
	sh.publishDiagnostics(nil, refused)
	if sh.SetupFailure() != refused || sh.MetadataErr() != nil || sh.Cluster().Brokers == nil {
		t.Fatalf("after publishDiagnostics: %+v", sh.Cluster())
	}
	select {
	case <-next.Updated():
		t.Fatalf("diagnostics woke the snapshot's waiters")
	default:
	}
	sh.publish(&Cluster{})
	select {
	case <-next.Updated():
	default:
		t.Fatalf("the publish after diagnostics left the waiters asleep")
	}
}

// TestSharedAccumulators: the registry finds what was registered, copy-on-write, and forgets
// everything on clear.
func TestSharedAccumulators(t *testing.T) {
	sh := NewShared(testSettings(), discardLogger, bufferpool.NewBudget(1), nil)
	a, b, c := actor.NewPID("x", "a"), actor.NewPID("x", "b"), actor.NewPID("x", "c")
	sh.registerInbox(tp("t", 2), &Inbox{pid: a})
	sh.registerInbox(tp("t", 0), &Inbox{pid: b})
	sh.registerInbox(tp("u", 0), &Inbox{pid: c})
	for _, tc := range []struct {
		tp   messages.TopicPartition
		want *actor.PID
	}{{tp("t", 2), a}, {tp("t", 0), b}, {tp("u", 0), c}, {tp("t", 1), nil}, {tp("t", 3), nil}, {tp("t", -1), nil}, {tp("v", 0), nil}} {
		got, ok := sh.Accumulator(tc.tp)
		if ok != (tc.want != nil) || ok && !got.Equal(tc.want) {
			t.Errorf("Accumulator(%v) = %v %v, want %v", tc.tp, got, ok, tc.want)
		}
	}
	seen := map[messages.TopicPartition]*actor.PID{}
	sh.RangeAccumulators(func(tp messages.TopicPartition, pid *actor.PID) { seen[tp] = pid })
	if len(seen) != 3 || seen[tp("t", 2)] != a || seen[tp("t", 0)] != b || seen[tp("u", 0)] != c {
		t.Errorf("RangeAccumulators saw %v", seen)
	}
	sh.clearAccumulators()
	if _, ok := sh.Accumulator(tp("t", 2)); ok {
		t.Errorf("an accumulator survived clearAccumulators")
	}
}

// TestReconnectBackoffStartsOverAfterAWorkingLink: the restart delay grows over consecutive failed
// attempts to connect, and starts over at the initial delay once a link had been set up before it
// broke (Java resets reconnect.backoff once a connection is ready); a panic counts as a failure.
func TestReconnectBackoffStartsOverAfterAWorkingLink(t *testing.T) {
	s := backoffStrategy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Window: time.Minute}
	rs := actor.NewRestartStatistics()
	within := func(d, base time.Duration) bool { return d >= base*8/10 && d <= base*12/10 }
	attempt := &connectionFailure{Addr: "b:9092", Err: messages.ErrConnection}
	for n, base := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		if d := s.delay(rs, attempt); !within(d, base) {
			t.Fatalf("failed attempt %d waits %v, want about %v", n+1, d, base)
		}
	}
	broken := &connectionFailure{Addr: "b:9092", Err: messages.ErrConnection, WasUp: true}
	if d := s.delay(rs, broken); !within(d, 100*time.Millisecond) {
		t.Fatalf("a link that had been up broke: waits %v, want the initial delay", d)
	}
	if d := s.delay(rs, attempt); !within(d, 200*time.Millisecond) {
		t.Fatalf("the next failed attempt waits %v, want about 200ms", d)
	}
	if d := s.delay(rs, "a panic"); !within(d, 400*time.Millisecond) {
		t.Fatalf("a panic after two failures waits %v, want about 400ms", d)
	}
}
