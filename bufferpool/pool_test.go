package bufferpool

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// acquireAsync starts Acquire on a goroutine and returns the channel its result arrives on. It
// waits until the call is queued (Waiters reaches wantWaiters), so calls queue in start order.
func acquireAsync(t *testing.T, p *Budget, ctx context.Context, n int64, maxWait time.Duration, wantWaiters int) <-chan error {
	t.Helper()
	res := make(chan error, 1)
	go func() { res <- p.Acquire(ctx, n, maxWait) }()
	waitFor(t, func() bool { return p.Waiters() == wantWaiters })
	return res
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire did not return within 5s")
		return nil
	}
}

func notYet(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Acquire returned %v, want it still blocked", err)
	default:
	}
}

func TestBudgetAcquireRelease(t *testing.T) {
	p := NewBudget(100)
	ctx := context.Background()
	if p.Limit() != 100 || p.Used() != 0 || p.Waiters() != 0 {
		t.Fatalf("new pool: limit %d used %d waiters %d", p.Limit(), p.Used(), p.Waiters())
	}
	if err := p.Acquire(ctx, 60, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Acquire(ctx, 40, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Acquire(ctx, 0, 0); err != nil {
		t.Fatalf("acquiring 0 bytes: %v", err)
	}
	if p.Used() != 100 {
		t.Fatalf("used %d, want 100", p.Used())
	}
	if p.TryAcquire(1) {
		t.Fatal("TryAcquire succeeded on a full pool")
	}
	p.Release(50)
	if !p.TryAcquire(50) {
		t.Fatal("TryAcquire failed with room")
	}
	p.Release(100)
	if p.Used() != 0 {
		t.Fatalf("used %d, want 0", p.Used())
	}
}

func TestBudgetTooLarge(t *testing.T) {
	p := NewBudget(100)
	start := time.Now()
	err := p.Acquire(context.Background(), 101, time.Hour)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("ErrTooLarge was not immediate")
	}
	if !strings.Contains(err.Error(), "101") || !strings.Contains(err.Error(), "100") {
		t.Errorf("message %q should name the request and the limit", err)
	}
	if p.TryAcquire(101) {
		t.Fatal("TryAcquire of more than the pool succeeded")
	}
	if err := NewBudget(0).Acquire(context.Background(), 1, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("empty pool: got %v, want ErrTooLarge", err)
	}
	if p.Used() != 0 || p.Waiters() != 0 {
		t.Fatal("a failed request left state behind")
	}
}

func TestBudgetNoWait(t *testing.T) {
	p := NewBudget(10)
	if err := p.Acquire(context.Background(), 8, 0); err != nil {
		t.Fatal(err)
	}
	err := p.Acquire(context.Background(), 5, 0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "failed to allocate 5 bytes within") {
		t.Errorf("message %q", err)
	}
	if p.Waiters() != 0 || p.Used() != 8 {
		t.Fatalf("waiters %d used %d", p.Waiters(), p.Used())
	}
	p.Release(8)
}

func TestBudgetTimeout(t *testing.T) {
	p := NewBudget(10)
	if err := p.Acquire(context.Background(), 10, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := p.Acquire(context.Background(), 1, 30*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("returned after %v, before maxWait", d)
	}
	if !strings.Contains(err.Error(), "failed to allocate 1 bytes within 30ms") {
		t.Errorf("message %q", err)
	}
	if p.Waiters() != 0 || p.Used() != 10 {
		t.Fatalf("waiters %d used %d after timeout", p.Waiters(), p.Used())
	}
	p.Release(10)
}

func TestBudgetContextCancel(t *testing.T) {
	p := NewBudget(10)
	if err := p.Acquire(context.Background(), 10, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := acquireAsync(t, p, ctx, 5, time.Hour, 1)
	notYet(t, res)
	cancel()
	if err := recv(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if p.Waiters() != 0 || p.Used() != 10 {
		t.Fatalf("waiters %d used %d after cancel", p.Waiters(), p.Used())
	}

	// A context already done fails at once, even with room.
	p.Release(10)
	if err := p.Acquire(ctx, 1, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: got %v", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	p.TryAcquire(10)
	if err := p.Acquire(dctx, 1, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: got %v", err)
	}
	p.Release(10)
	if p.Used() != 0 {
		t.Fatalf("used %d", p.Used())
	}
}

func TestBudgetFIFO(t *testing.T) {
	p := NewBudget(10)
	ctx := context.Background()
	if !p.TryAcquire(10) {
		t.Fatal("TryAcquire")
	}
	big := acquireAsync(t, p, ctx, 8, time.Hour, 1)
	small := acquireAsync(t, p, ctx, 1, time.Hour, 2)
	tiny := acquireAsync(t, p, ctx, 1, time.Hour, 3)

	// 2 bytes free: small and tiny would fit, but big is first in line. Grants happen inside
	// Release, so the state is settled when it returns.
	p.Release(2)
	if p.Waiters() != 3 || p.Used() != 8 {
		t.Fatalf("waiters %d used %d: a small request overtook the big one", p.Waiters(), p.Used())
	}
	// Newcomers queue behind the waiters too, even when they would fit.
	if p.TryAcquire(1) {
		t.Fatal("TryAcquire jumped the queue")
	}
	if err := p.Acquire(ctx, 1, 0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("no-wait Acquire jumped the queue: %v", err)
	}
	if err := p.Acquire(ctx, 0, 0); err != nil || !p.TryAcquire(0) {
		t.Fatalf("0 bytes should always be granted: %v", err)
	}

	p.Release(8) // used 0: big (8) then small (1) fit, tiny would make 10: fits too
	for _, ch := range []<-chan error{big, small, tiny} {
		if err := recv(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	if p.Used() != 10 || p.Waiters() != 0 {
		t.Fatalf("used %d waiters %d", p.Used(), p.Waiters())
	}

	// Served strictly in order, one at a time.
	a := acquireAsync(t, p, ctx, 6, time.Hour, 1)
	b := acquireAsync(t, p, ctx, 4, time.Hour, 2)
	p.Release(6) // used 4: a (6) fits, b (4) does not
	if err := recv(t, a); err != nil {
		t.Fatal(err)
	}
	notYet(t, b)
	if p.Waiters() != 1 {
		t.Fatalf("waiters %d", p.Waiters())
	}
	p.Release(4)
	if err := recv(t, b); err != nil {
		t.Fatal(err)
	}
	p.Release(10)
}

// A cancelled waiter at the head of the queue must let the ones behind it through.
func TestBudgetCancelledHeadUnblocksQueue(t *testing.T) {
	for _, how := range []string{"cancel", "timeout"} {
		t.Run(how, func(t *testing.T) {
			p := NewBudget(10)
			p.TryAcquire(9)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wait := time.Hour
			if how == "timeout" {
				wait = 300 * time.Millisecond // long enough for small to queue behind big
			}
			big := acquireAsync(t, p, ctx, 5, wait, 1)
			small := acquireAsync(t, p, context.Background(), 1, time.Hour, 2)
			notYet(t, small)
			if how == "cancel" {
				cancel()
			}
			if err := recv(t, big); err == nil {
				t.Fatal("big request succeeded")
			}
			if err := recv(t, small); err != nil {
				t.Fatalf("small request behind the cancelled head: %v", err)
			}
			if p.Used() != 10 || p.Waiters() != 0 {
				t.Fatalf("used %d waiters %d", p.Used(), p.Waiters())
			}
			p.Release(10)
		})
	}
}

func TestBudgetClose(t *testing.T) {
	p := NewBudget(10)
	p.TryAcquire(10)
	w1 := acquireAsync(t, p, context.Background(), 5, time.Hour, 1)
	w2 := acquireAsync(t, p, context.Background(), 1, time.Hour, 2)
	p.Close()
	for _, ch := range []<-chan error{w1, w2} {
		if err := recv(t, ch); !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter got %v, want ErrClosed", err)
		}
	}
	if err := p.Acquire(context.Background(), 1, time.Hour); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
	if p.TryAcquire(0) || p.TryAcquire(1) {
		t.Fatal("TryAcquire after Close succeeded")
	}
	p.Close() // idempotent
	p.Release(10)
	if p.Used() != 0 || p.Waiters() != 0 {
		t.Fatalf("used %d waiters %d", p.Used(), p.Waiters())
	}
}

func TestBudgetReleaseTooMuchPanics(t *testing.T) {
	p := NewBudget(10)
	p.TryAcquire(3)
	defer func() {
		if recover() == nil {
			t.Fatal("releasing more than in use did not panic")
		}
	}()
	p.Release(4)
}

// grantingCtx is a context whose Done, the first time it is called, runs grant and then reports
// the context as cancelled. Acquire calls Done while evaluating its select, after the waiter is
// queued, so grant's Release serves the waiter at the very moment the context ends: select then
// sees both ready and picks either at random. Both outcomes must leave the books balanced.
type grantingCtx struct {
	context.Context
	grant func()
	fired bool
	done  chan struct{}
}

func (c *grantingCtx) Done() <-chan struct{} {
	if !c.fired {
		c.fired = true
		c.grant()
		close(c.done)
	}
	return c.done
}

func (c *grantingCtx) Err() error {
	if c.fired {
		return context.Canceled
	}
	return nil
}

func TestBudgetGrantDuringCancel(t *testing.T) {
	p := NewBudget(10)
	var won, lost int
	for i := 0; i < 400 && (won == 0 || lost == 0 || i < 50); i++ {
		p.TryAcquire(10)
		ctx := &grantingCtx{Context: context.Background(), grant: func() { p.Release(10) }, done: make(chan struct{})}
		err := p.Acquire(ctx, 7, time.Hour)
		switch {
		case err == nil: // the grant won: we own the 7 bytes
			won++
			if p.Used() != 7 {
				t.Fatalf("granted: used %d, want 7", p.Used())
			}
			p.Release(7)
		case errors.Is(err, context.Canceled): // the cancel won: the granted bytes went back
			lost++
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if p.Used() != 0 || p.Waiters() != 0 {
			t.Fatalf("iteration %d: used %d waiters %d: bytes leaked", i, p.Used(), p.Waiters())
		}
	}
	if won == 0 || lost == 0 {
		t.Fatalf("both outcomes should occur: won %d lost %d", won, lost)
	}
}

// TestBudgetCancelReleaseStress runs many goroutines that acquire with short, random deadlines and
// cancellations while others release, so grants and give-ups race. Run it with -race.
func TestBudgetCancelReleaseStress(t *testing.T) {
	const (
		workers = 32
		rounds  = 150
		limit   = 100
	)
	p := NewBudget(limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, failed int
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for r := 0; r < rounds; r++ {
				n := 1 + rng.Int64N(limit/2)
				ctx, cancel := context.WithCancel(context.Background())
				switch rng.IntN(3) {
				case 0: // cancel from another goroutine at a random moment
					go func(d time.Duration) { time.Sleep(d); cancel() }(time.Duration(rng.IntN(200)) * time.Microsecond)
				case 1: // already cancelled half the time the grant comes
					cancel()
				}
				wait := time.Duration(rng.IntN(500)) * time.Microsecond
				err := p.Acquire(ctx, n, wait)
				cancel()
				mu.Lock()
				if err == nil {
					ok++
				} else {
					failed++
				}
				mu.Unlock()
				if err == nil {
					if rng.IntN(2) == 0 {
						time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
					}
					p.Release(n)
				} else if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrTimeout) {
					t.Errorf("unexpected error %v", err)
					return
				}
			}
		}(uint64(w))
	}
	wg.Wait()
	if p.Used() != 0 || p.Waiters() != 0 {
		t.Fatalf("after the storm: used %d waiters %d", p.Used(), p.Waiters())
	}
	if ok == 0 || failed == 0 {
		t.Logf("ok %d failed %d: the stress did not exercise both paths", ok, failed)
	}
}

// TestBudgetNoLostWakeUp: a send that finds the budget spent and queues while the last holder
// releases must still be granted: a release that misses the waiter arriving would leave it asleep
// with the bytes free (here until its 5 s deadline fails the test). Thousands of tries with the
// release at random moments of the waiter's arrival; run it with -race.
func TestBudgetNoLostWakeUp(t *testing.T) {
	p := NewBudget(10)
	rng := rand.New(rand.NewPCG(3, 5))
	res := make(chan error, 1)
	for i := 0; i < 20000; i++ {
		if !p.TryAcquire(10) {
			t.Fatalf("try %d: the budget is not free: used %d waiters %d", i, p.Used(), p.Waiters())
		}
		go func() { res <- p.Acquire(context.Background(), 5, 5*time.Second) }()
		for spin := rng.IntN(2000); spin > 0; spin-- {
			if spin%64 == 0 {
				runtime.Gosched()
			}
		}
		p.Release(10)
		if err := <-res; err != nil {
			t.Fatalf("try %d: the waiter was not woken: %v", i, err)
		}
		p.Release(5)
	}
}
