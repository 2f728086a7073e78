package bufferpool

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

func TestBuffersGetPut(t *testing.T) {
	b := NewBuffers(1024, 0)
	defer b.Close()
	if b.Size() != 1024 {
		t.Fatalf("size %d", b.Size())
	}
	buf := b.Get()
	if len(buf) != 0 || cap(buf) != 1024 {
		t.Fatalf("Get: len %d cap %d", len(buf), cap(buf))
	}
	other := b.Get()
	if unsafe.SliceData(other) == unsafe.SliceData(buf) {
		t.Fatal("two Gets returned the same buffer")
	}
	buf = append(buf, "hello"...)
	b.Put(buf)
	got := b.Get()
	if len(got) != 0 || unsafe.SliceData(got) != unsafe.SliceData(buf) {
		t.Fatal("the buffer put back was not the one reused")
	}
	if slots, free, deferred := b.Stats(); slots != 2 || free != 0 || deferred != 0 {
		t.Fatalf("stats %d slots, %d free, %d deferred; want 2, 0, 0", slots, free, deferred)
	}
}

// Appending beyond a buffer's capacity moves the slice to the heap; the neighbouring buffer of the
// chunk is untouched, and Put takes only buffers of the size class.
func TestBuffersBoundsAndWrongSizes(t *testing.T) {
	b := NewBuffers(100, 0)
	defer b.Close()
	first, second := b.Get(), b.Get()
	second = append(second, make([]byte, 100)...)
	for i := range second {
		second[i] = 7
	}
	first = append(first, make([]byte, 150)...) // grows past its slot: a heap copy now
	for i := range first {
		first[i] = 9
	}
	for _, c := range second {
		if c != 7 {
			t.Fatal("growing one buffer wrote into its neighbour")
		}
	}
	for _, odd := range [][]byte{nil, make([]byte, 0, 99), make([]byte, 0, 101), first} {
		b.Put(odd)
	}
	if _, free, _ := b.Stats(); free != 0 {
		t.Fatalf("%d buffers of another capacity were kept", free)
	}
}

// PutAfter keeps a buffer out of reuse until every channel is closed.
func TestBuffersPutAfter(t *testing.T) {
	b := NewBuffers(64, 0)
	defer b.Close()
	buf := b.Get()
	w1, w2 := make(chan struct{}), make(chan struct{})
	b.PutAfter(buf, w1, w2)
	if got := b.Get(); unsafe.SliceData(got) == unsafe.SliceData(buf) {
		t.Fatal("a buffer was reused while its readers may still read it")
	}
	close(w1)
	if got := b.Get(); unsafe.SliceData(got) == unsafe.SliceData(buf) {
		t.Fatal("a buffer was reused while one of its readers may still read it")
	}
	close(w2)
	if got := b.Get(); unsafe.SliceData(got) != unsafe.SliceData(buf) {
		t.Fatal("a buffer whose readers are gone was not reused")
	}
	done := make(chan struct{})
	close(done)
	again := b.Get()
	b.PutAfter(again, done) // already closed: free at once
	if _, free, deferred := b.Stats(); free != 1 || deferred != 0 {
		t.Fatalf("%d free, %d deferred after PutAfter with closed channels; want 1, 0", free, deferred)
	}
}

// A full set of buffers is memory outside the heap: the collector's heap does not grow with it.
func TestBuffersLiveOutsideTheHeap(t *testing.T) {
	const size, n = 16 << 10, 512 // 8 MiB in use
	b := NewBuffers(size, 0)
	defer b.Close()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	held := make([][]byte, n)
	for i := range held {
		held[i] = append(b.Get(), make([]byte, size)...)[:0]
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); onHeapPlatform {
		t.Logf("buffers are heap memory on this platform (heap grew %d bytes)", grew)
	} else if grew > size*n/4 {
		t.Fatalf("the heap grew %d bytes for %d bytes of buffers", grew, size*n)
	}
	for _, buf := range held {
		b.Put(buf)
	}
}

func TestBuffersNoAllocs(t *testing.T) {
	b := NewBuffers(4096, 0)
	defer b.Close()
	b.Put(b.Get()) // warm up: one buffer and room in the free list
	allocs := testing.AllocsPerRun(1000, func() {
		buf := b.Get()
		buf = append(buf, "some record bytes"...)
		b.Put(buf)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Get/Put, want 0", allocs)
	}
}

func TestBuffersConcurrent(t *testing.T) {
	b := NewBuffers(256, 0)
	defer b.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g byte) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				buf := b.Get()
				if len(buf) != 0 {
					t.Errorf("len %d", len(buf))
					return
				}
				for j := 0; j < 64; j++ {
					buf = append(buf, g)
				}
				runtime.Gosched()
				for _, c := range buf {
					if c != g {
						t.Errorf("buffer shared between goroutines")
						return
					}
				}
				b.Put(buf)
			}
		}(byte(g))
	}
	wg.Wait()
}

// After Close, Get hands out heap memory and Put ignores what it gets.
func TestBuffersAfterClose(t *testing.T) {
	b := NewBuffers(32, 0)
	b.Put(b.Get())
	b.Close()
	b.Close()
	buf := append(b.Get(), "still usable"...)
	b.Put(buf)
	if slots, free, _ := b.Stats(); slots != 1 || free != 0 {
		t.Fatalf("after Close: %d slots, %d free", slots, free)
	}
}

// A closed pool's memory is not unmapped (a stray read must not fault) but given back to the
// system and reused by the next pool of the process: the repeated producers of a long-running
// process do not pile up mappings.
func TestBuffersReuseClosedMemory(t *testing.T) {
	if onHeapPlatform {
		t.Skip("buffers are heap memory on this platform")
	}
	const size = 4096
	b := NewBuffers(size, 0)
	first := append(b.Get(), "secret bytes"...)
	b.Put(first)
	b.Close()
	stray := first[:len("secret bytes")] // reading after Close must not fault
	_ = stray[0]

	next := NewBuffers(size, 0)
	defer next.Close()
	got := next.Get()
	if unsafe.SliceData(got) != unsafe.SliceData(first) {
		t.Fatal("a new pool mapped new memory instead of reusing the closed pool's")
	}
	if runtime.GOOS == "linux" {
		for _, c := range got[:size] {
			if c != 0 {
				t.Fatal("reused memory still holds the closed pool's bytes")
			}
		}
	}
}

// Beyond keep free buffers, a buffer given back returns its pages to the system (a burst does not
// hold its peak until Close); it is reused all the same, before any new memory is carved.
func TestBuffersBeyondKeepGiveTheirPagesBack(t *testing.T) {
	const size = 3 * 4096
	b := NewBuffers(size, 2)
	defer b.Close()
	held := make([][]byte, 4)
	for i := range held {
		held[i] = append(b.Get(), bytes.Repeat([]byte{0xAB}, size)...)
	}
	for _, buf := range held {
		b.Put(buf)
	}
	if slots, free, _ := b.Stats(); slots != 4 || free != 4 {
		t.Fatalf("%d slots, %d free; want 4 and 4", slots, free)
	}
	if runtime.GOOS == "linux" && !onHeapPlatform {
		// The last two went back beyond keep: the pages wholly inside them read as zeros now.
		for _, buf := range held[2:] {
			if bytes.Count(buf[4096:2*4096], []byte{0}) != 4096 {
				t.Fatal("a buffer given back beyond keep still holds its pages")
			}
		}
		if bytes.Count(held[0], []byte{0xAB}) != size {
			t.Fatal("a buffer kept with its memory lost its bytes")
		}
	}
	seen := map[*byte]bool{}
	for range 4 {
		seen[unsafe.SliceData(b.Get())] = true
	}
	if slots, _, _ := b.Stats(); slots != 4 || len(seen) != 4 {
		t.Fatalf("%d slots carved, %d distinct buffers: the cold ones were not reused", slots, len(seen))
	}
}
