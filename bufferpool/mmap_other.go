//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bufferpool

// mapChunk allocates n bytes on the Go heap where kastor does not map memory itself.
func mapChunk(n int) (chunk []byte, mapped bool) { return make([]byte, n), false }

func releaseChunk([]byte) {}

const onHeapPlatform = true

func releasePages([]byte) {}
