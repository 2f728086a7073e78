//go:build kastor_faultinject

package tests

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/internal/faultinject"
	"github.com/kastor-go/kastor/messages"
)

// A bug in an accumulator (a panic while appending) is caught by supervision: the record being
// appended fails with ErrInternal, every other record the accumulator held survives the restart
// and arrives once, in order.
func TestPanicInAccumulatorLosesNothing(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var appends atomic.Int32
	faultinject.OnAccumulatorAppend(func(messages.TopicPartition) {
		if appends.Add(1) == 500 {
			panic("injected accumulator bug")
		}
	})
	t.Cleanup(func() { faultinject.OnAccumulatorAppend(nil) })
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Linger = 20 * time.Millisecond })
	const n = 2000
	comp := sendN(t, p, "t", n, 0)
	for i := 0; i < n; i++ {
		err := comp.get(i).err
		if i == 499 {
			if !errors.Is(err, kastor.ErrInternal) {
				t.Fatalf("the record being appended during the panic: got %v, want ErrInternal", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", n, comp, true)
	checkStatsSettled(t, p, n, 1)
}

// A bug in a connection actor (a panic while handling a request) restarts it; the request it was
// handling and those in flight are answered, retried, and every record arrives once, in order.
func TestPanicInConnectionLosesNothing(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	var calls atomic.Int32
	faultinject.OnConnectionCall(func(node int32) {
		if node >= 0 && calls.Add(1)%7 == 3 { // produce connections only, several times
			panic("injected connection bug")
		}
	})
	t.Cleanup(func() { faultinject.OnConnectionCall(nil) })
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.MaxInFlightRequestsPerConnection = 1
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.Logger = discardLogger()
	})
	const n = 3000
	comp := sendN(t, p, "t", n, time.Millisecond)
	if calls.Load() < 7 {
		t.Fatalf("only %d produce calls: the fault never fired", calls.Load())
	}
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", n, comp, true)
	checkStatsSettled(t, p, n, 0)
}

// A bug in the sender restarts it (after a backoff) with empty state and new sinks: every
// accumulator asks for its route again, batches the old sinks dropped are retried, nothing is lost.
func TestPanicInSenderLosesNothing(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
	var routes atomic.Int32
	faultinject.OnSenderRoute(func() {
		// The first ask panics; the restarted sender tells every partition its route is lost, so
		// the next ask comes from a partition with a batch waiting, and panics too.
		if n := routes.Add(1); n <= 2 {
			panic("injected sender bug")
		}
	})
	t.Cleanup(func() { faultinject.OnSenderRoute(nil) })
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.ReconnectBackoff = 5 * time.Millisecond
		cfg.RequestTimeout = 5 * time.Second
		cfg.DeliveryTimeout = 10 * time.Second // a stuck batch fails the test in seconds, not minutes
		cfg.Logger = discardLogger()
	})
	const n = 3000
	comp := sendN(t, p, "t", n, time.Millisecond)
	if routes.Load() < 3 {
		t.Fatalf("only %d routes asked: the fault did not fire twice", routes.Load())
	}
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", n, comp, true)
	checkStatsSettled(t, p, n, 0)
}

// A panic after the record joined its batch: the record is not failed by the recovery (that would
// complete it twice); it is written and completed once, with its batch.
func TestPanicAfterAppendCompletesTheRecordOnce(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var appends atomic.Int32
	faultinject.OnAccumulatorAppended(func(messages.TopicPartition) {
		if appends.Add(1) == 500 {
			panic("injected accumulator bug after the append")
		}
	})
	t.Cleanup(func() { faultinject.OnAccumulatorAppended(nil) })
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 20 * time.Millisecond
		cfg.Logger = discardLogger()
	})
	const n = 2000
	comp := sendN(t, p, "t", n, 0) // fails the test if any callback runs twice
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", n, comp, true)
	checkStatsSettled(t, p, n, 0)
}
