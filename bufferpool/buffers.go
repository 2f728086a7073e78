package bufferpool

import "sync"

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
	free     [][]byte   // given back, ready for Get
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

// NewBuffers returns a pool of buffers of capacity size. size must be positive.
func NewBuffers(size int) *Buffers {
	if size <= 0 {
		panic("bufferpool: NewBuffers with a size ≤ 0")
	}
	return &Buffers{size: size}
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
		b.free = append(b.free, buf[:0])
	}
	b.mu.Unlock()
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
			b.free = append(b.free, d.buf)
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

// Stats reports how many buffers were carved, how many are free, and how many wait on PutAfter.
// The rest are in use (or were never given back).
func (b *Buffers) Stats() (slots, free, deferred int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slots, len(b.free), len(b.deferred)
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
	b.chunks, b.free, b.deferred, b.rest = nil, nil, nil, nil
}
