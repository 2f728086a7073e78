//go:build !unix

package main

import "time"

// Without getrusage the CPU and RSS columns read 0.
func cpuTime() time.Duration { return 0 }

func maxRSSKiB() int64 { return 0 }
