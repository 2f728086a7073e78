package queue

import (
	"slices"
	"sync"
	"testing"
)

func TestQueuePushTakeClose(t *testing.T) {
	var q Queue[int]
	if ok, first := q.Push(1); !ok || !first {
		t.Fatalf("first push: ok %v first %v, want true true", ok, first)
	}
	if ok, first := q.Push(2); !ok || first {
		t.Fatalf("second push: ok %v first %v, want true false", ok, first)
	}
	spare := make([]int, 0, 8)
	got := q.Take(spare)
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("take = %v, want [1 2]", got)
	}
	if _, first := q.Push(3); !first {
		t.Fatal("a push after a take that emptied the queue must report first")
	}
	if got, open := q.TakeOpen(got[:0]); !open || !slices.Equal(got, []int{3}) {
		t.Fatalf("TakeOpen = %v %v, want [3] true", got, open)
	}
	q.Push(4)
	var failed []int
	q.CloseWith(func(items []int) { failed = append(failed, items...) })
	q.CloseWith(func([]int) { t.Fatal("a second close ran fail again") })
	if !slices.Equal(failed, []int{4}) {
		t.Fatalf("close handed over %v, want [4]", failed)
	}
	if ok, first := q.Push(5); ok || first {
		t.Fatalf("push after close: ok %v first %v, want false false", ok, first)
	}
	if _, open := q.TakeOpen(nil); open {
		t.Fatal("TakeOpen reports a closed queue open")
	}
	if left := q.Close(); len(left) != 0 {
		t.Fatalf("closing again returned %v", left)
	}
}

// Concurrent pushers: every item pushed before the close is taken or handed to the close exactly
// once, in each pusher's order, and exactly one push per empty→non-empty turn reports first.
func TestQueueConcurrentPushers(t *testing.T) {
	var q Queue[[2]int]
	const pushers, each = 4, 2000
	var wg sync.WaitGroup
	var firsts, refused [pushers]int
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ok, first := q.Push([2]int{p, i})
				if first {
					firsts[p]++
				}
				if !ok {
					refused[p]++
				}
			}
		}()
	}
	var seen [][2]int
	takes := 0
	var spare [][2]int
	for len(seen) < pushers*each/2 {
		got := q.Take(spare)
		if len(got) > 0 {
			takes++
		}
		seen = append(seen, got...)
		spare = got[:0]
	}
	seen = append(seen, q.Close()...)
	wg.Wait()
	total := 0
	for p := range pushers {
		total += each - refused[p]
	}
	if len(seen) != total {
		t.Fatalf("%d items taken or closed, %d pushed and accepted", len(seen), total)
	}
	next := [pushers]int{}
	for _, it := range seen {
		if it[1] < next[it[0]] {
			t.Fatalf("pusher %d: item %d after %d", it[0], it[1], next[it[0]]-1)
		}
		next[it[0]] = it[1] + 1
	}
	sumFirst := 0
	for _, f := range firsts {
		sumFirst += f
	}
	// Every take that found items ended one turn; the close may end the last one.
	if sumFirst < takes || sumFirst > takes+1 {
		t.Fatalf("%d pushes reported first for %d non-empty takes", sumFirst, takes)
	}
}

func TestQueueCloseIfEmpty(t *testing.T) {
	var q Queue[int]
	q.Push(1)
	if q.CloseIfEmpty() {
		t.Fatal("closed a queue holding an item")
	}
	if got := q.Take(nil); len(got) != 1 || got[0] != 1 {
		t.Fatalf("took %v, want [1]", got)
	}
	if !q.CloseIfEmpty() {
		t.Fatal("did not close an empty queue")
	}
	if ok, _ := q.Push(2); ok {
		t.Fatal("a closed queue took an item")
	}
	if !q.CloseIfEmpty() {
		t.Fatal("a closed queue reported open")
	}
}

// A burst's large buffer handed back as spare is dropped once takes are small again, so the
// queue does not keep its peak for good; a spare that fits the traffic is reused.
func TestQueueDropsABurstsBuffer(t *testing.T) {
	var q Queue[int]
	for i := range 10 * keepMin {
		q.Push(i)
	}
	burst := q.Take(nil)
	q.Push(1)
	small := q.Take(burst[:0]) // hands back the burst's buffer after a take of 1
	q.Push(2)
	if got := q.Take(small[:0]); cap(got) >= 10*keepMin {
		t.Fatalf("after small takes the queue still fills the burst's buffer (cap %d)", cap(got))
	}

	steady := make([]int, 0, 4*keepMin)
	for i := range 3 * keepMin {
		q.Push(i)
	}
	got := q.Take(steady)
	q.Push(0)
	if again := q.Take(got[:0]); &again[:1][0] != &steady[:1][0] {
		t.Fatal("a spare that fits the traffic was not reused")
	}
}
