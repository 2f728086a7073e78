package bufferpool

import (
	"sync"
	"unsafe"
)

// Buffers hands out byte buffers of one size, carved from chunks of memory it maps outside the Go
// heap where the platform allows (mmap), and takes them back for reuse. The garbage collector
// neither scans that memory nor counts it towards its heap goal, so buffers that are full of
// records waiting to be sent cost their size in the process's memory once, not the twice that a
// heap-allocated buffer costs once the collector paces itself by it (GOGC). Java's BufferPool is
// the model: buffers are reused, not garbage.
//
// A buffer must be given back exactly once (Put, or PutAfter when someone may still read it) and
// not written afterwards. Close gives the memory back to the system (see mapChunk): it must come
// after the last write to a buffer. All methods are safe for concurrent use.
type Buffers struct {
	size int

	mu       sync.Mutex
	keep     int        // free buffers kept with their memory; more give their pages back (0: all)
	free     [][]byte   // given back, ready for Get
	cold     [][]byte   // given back beyond keep, their pages returned to the system
	rest     []byte     // the part of the newest chunk not carved yet
	chunks   [][]byte   // every chunk mapped (not the heap's), for Close
	deferred []deferred // given back with a condition (PutAfter)
	slots    int        // buffers carved so far
	closed   bool
}

// deferred is a buffer that returns to free once every channel in until is closed.
type deferred struct {
	buf   []byte
	until []<-chan struct{}
}

// chunkBytes is about how much memory one mapping holds (at least one buffer).
const chunkBytes = 1 << 20

// NewBuffers returns a pool of buffers of capacity size. size must be positive. Up to keep free
// buffers keep their memory for the next Get; beyond that a buffer given back returns its pages to
// the system (0: every free buffer keeps its memory).
func NewBuffers(size, keep int) *Buffers {
	if size <= 0 {
		panic("bufferpool: NewBuffers with a size ≤ 0")
	}
	return &Buffers{size: size, keep: max(keep, 0)}
}

// Size returns the capacity of every buffer Get returns.
func (b *Buffers) Size() int { return b.size }

// Get returns an empty buffer (len 0, cap Size()). Appending beyond its capacity moves the
// slice to the Go heap as usual; Put still takes the original buffer. After Close it returns heap
// memory.
func (b *Buffers) Get() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return make([]byte, 0, b.size)
	}
	if len(b.deferred) > 0 {
		b.reapLocked()
	}
	if n := len(b.free); n > 0 {
		buf := b.free[n-1]
		b.free[n-1] = nil
		b.free = b.free[:n-1]
		return buf
	}
	if n := len(b.cold); n > 0 { // its pages come back as it is written
		buf := b.cold[n-1]
		b.cold[n-1] = nil
		b.cold = b.cold[:n-1]
		return buf
	}
	if len(b.rest) < b.size {
		chunk, mapped := mapChunk(max(1, chunkBytes/b.size) * b.size)
		if mapped {
			b.chunks = append(b.chunks, chunk)
		}
		b.rest = chunk
	}
	buf := b.rest[:0:b.size]
	b.rest = b.rest[b.size:]
	b.slots++
	return buf
}

// Put gives buf, a buffer from Get, back for reuse. Anything else (a nil slice, a buffer of
// another capacity) is ignored.
func (b *Buffers) Put(buf []byte) {
	if cap(buf) != b.size {
		return
	}
	b.mu.Lock()
	if !b.closed {
		b.putLocked(buf[:0])
	}
	b.mu.Unlock()
}

// putLocked keeps buf for reuse: with its memory while fewer than keep are free, otherwise with its
// pages given back to the system, so a burst (thousands of partitions with a batch open at once)
// does not hold its peak until Close.
func (b *Buffers) putLocked(buf []byte) {
	if b.keep <= 0 || len(b.free) < b.keep {
		b.free = append(b.free, buf)
		return
	}
	if b.mappedLocked(buf) {
		releasePages(buf[:cap(buf)])
	}
	b.cold = append(b.cold, buf)
}

// mappedLocked reports whether buf lies in one of the chunks this pool mapped (not the heap's).
func (b *Buffers) mappedLocked(buf []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	for _, c := range b.chunks {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
		if p >= start && p < start+uintptr(len(c)) {
			return true
		}
	}
	return false
}

// PutAfter gives buf back once every channel in until is closed: until then something (a
// connection's writer) may still read it. The channels are checked by later Gets, without
// waiting.
func (b *Buffers) PutAfter(buf []byte, until ...<-chan struct{}) {
	if cap(buf) != b.size {
		return
	}
	b.mu.Lock()
	if !b.closed {
		b.deferred = append(b.deferred, deferred{buf: buf[:0], until: until})
		b.reapLocked()
	}
	b.mu.Unlock()
}

// reapLocked moves the deferred buffers whose channels are all closed to free.
func (b *Buffers) reapLocked() {
	kept := b.deferred[:0]
	for _, d := range b.deferred {
		if allClosed(d.until) {
			b.putLocked(d.buf)
		} else {
			kept = append(kept, d)
		}
	}
	clear(b.deferred[len(kept):])
	b.deferred = kept
}

func allClosed(chans []<-chan struct{}) bool {
	for _, ch := range chans {
		select {
		case <-ch:
		default:
			return false
		}
	}
	return true
}

// Stats reports how many buffers were carved, how many are free (with their memory or without),
// and how many wait on PutAfter. The rest are in use (or were never given back).
func (b *Buffers) Stats() (slots, free, deferred int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slots, len(b.free) + len(b.cold), len(b.deferred)
}

// Close gives the memory back to the system: every buffer Get returned before reads as zeros from
// then on (or keeps its bytes where the platform keeps the pages), and may be reused by another
// pool of the process, so Close must come after the last use of every buffer. Later Gets return
// heap memory; Puts are ignored. Idempotent.
func (b *Buffers) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for _, c := range b.chunks {
		releaseChunk(c)
	}
	b.chunks, b.free, b.cold, b.deferred, b.rest = nil, nil, nil, nil, nil
}
