package freelist

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestListBoundAndOrder(t *testing.T) {
	l := New[int](2)
	if _, ok := l.Get(); ok {
		t.Fatal("an empty list gave a spare")
	}
	if !l.Put(1) || !l.Put(2) || l.Put(3) {
		t.Fatal("want the first two kept and the third refused")
	}
	if v, ok := l.Get(); !ok || v != 2 {
		t.Fatalf("Get = %d %v, want the last put (2)", v, ok)
	}
	if v, ok := l.Get(); !ok || v != 1 {
		t.Fatalf("Get = %d %v, want 1", v, ok)
	}
	var zero List[int]
	if zero.Put(1) {
		t.Fatal("the zero list kept a spare")
	}
}

// Concurrent puts and gets lose nothing and hand nothing out twice.
func TestListConcurrent(t *testing.T) {
	l := New[*int](1 << 20)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[*int]bool{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				l.Put(new(int))
				if v, ok := l.Get(); ok {
					mu.Lock()
					if seen[v] {
						t.Error("a spare handed out twice")
					}
					seen[v] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for {
		v, ok := l.Get()
		if !ok {
			break
		}
		if seen[v] {
			t.Fatal("a spare handed out twice")
		}
		seen[v] = true
	}
	if len(seen) != 4000 {
		t.Fatalf("%d spares came back, want 4000", len(seen))
	}
}
