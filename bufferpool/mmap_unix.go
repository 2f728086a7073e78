//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package bufferpool

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Chunks are never unmapped: a stray read of a buffer after its pool closed (a message a stopped
// actor never handled, formatted for a dead-letter log line) must not fault. A closed pool's chunks
// give their pages back to the system (MADV_DONTNEED: they read as zeros from then on) and wait
// here for the next pool of the process, so repeated producers reuse the same address space.
var spare struct {
	sync.Mutex
	chunks map[int][][]byte // by length
}

// mapChunk returns n bytes outside the Go heap (mapped reports it): a spare chunk, or a new
// anonymous mapping. If mapping fails (an exhausted address space or mapping limit) it falls
// back to the heap.
func mapChunk(n int) (chunk []byte, mapped bool) {
	spare.Lock()
	if list := spare.chunks[n]; len(list) > 0 {
		chunk = list[len(list)-1]
		spare.chunks[n] = list[:len(list)-1]
	}
	spare.Unlock()
	if chunk != nil {
		return chunk, true
	}
	chunk, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|mapPopulate)
	if err != nil {
		return make([]byte, n), false
	}
	return chunk, true
}

// releaseChunk gives a mapped chunk's pages back to the system and keeps the mapping for reuse.
func releaseChunk(chunk []byte) {
	_ = unix.Madvise(chunk, unix.MADV_DONTNEED)
	spare.Lock()
	if spare.chunks == nil {
		spare.chunks = map[int][][]byte{}
	}
	spare.chunks[len(chunk)] = append(spare.chunks[len(chunk)], chunk)
	spare.Unlock()
}

const onHeapPlatform = false

// releasePages gives the pages that lie wholly inside buf back to the system (they read as zeros
// afterwards); the pages it shares with its neighbours stay.
func releasePages(buf []byte) {
	page := uintptr(unix.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	first, last := (start+page-1)&^(page-1), (start+uintptr(len(buf)))&^(page-1)
	if first < last {
		_ = unix.Madvise(buf[first-start:last-start], unix.MADV_DONTNEED)
	}
}
