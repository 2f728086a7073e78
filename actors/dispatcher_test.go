package actors

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Every scheduled function runs exactly once, before and after Stop, however many are scheduled
// at once; idle workers are reused rather than multiplied, and all of them exit after Stop
// (goleak checks the last part at the end of the package).
func TestDispatcherRunsEverythingOnce(t *testing.T) {
	d := NewDispatcher(300)
	var ran atomic.Int64
	var wg sync.WaitGroup
	const n = 10000
	wg.Add(n)
	for i := 0; i < n; i++ {
		d.Schedule(func() { ran.Add(1); wg.Done() })
	}
	wg.Wait()
	// A function that blocks until another scheduled one runs: the second must not wait for
	// the first's worker.
	release := make(chan struct{})
	wg.Add(2)
	d.Schedule(func() { <-release; wg.Done() })
	d.Schedule(func() { close(release); wg.Done() })
	wg.Wait()
	d.Stop()
	d.Stop()
	wg.Add(1)
	d.Schedule(func() { ran.Add(1); wg.Done() })
	wg.Wait()
	if got := ran.Load(); got != n+1 {
		t.Fatalf("%d runs, want %d", got, n+1)
	}
	if d.Throughput() != 300 {
		t.Fatalf("throughput %d", d.Throughput())
	}
}
