package clock

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNowStaysCloseToTheSystemClock(t *testing.T) {
	c := New()
	defer c.Close()
	for i := 0; i < 200; i++ {
		got, want := c.Now(), time.Now()
		if d := want.Sub(got); d < -time.Millisecond || d > 20*time.Millisecond {
			t.Fatalf("read %d: %v behind the system clock", i, d)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// With no reads the goroutine stops by itself; the next read restarts it and is fresh at once.
func TestStopsWhenIdleAndRestarts(t *testing.T) {
	c := New()
	defer c.Close()
	c.Now()
	deadline := time.Now().Add(2 * time.Second)
	for c.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the clock goroutine kept running with no reads")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if d := time.Since(c.Now()); d > 5*time.Millisecond {
		t.Fatalf("first read after idling is %v old", d)
	}
}

func TestConcurrentReadsAndClose(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				c.Now()
			}
		}()
	}
	wg.Wait()
	c.Close()
	if d := time.Since(c.Now()); d > time.Second {
		t.Fatalf("read after Close is %v old", d)
	}
}
