//go:build !linux

package main

import (
	"syscall"
	"time"
)

// Elsewhere a child outlives a killed orchestrator only until it notices: the broker exits when
// its stdin closes, a client when it finishes or times out.
func childAttr() *syscall.SysProcAttr { return nil }

// processCPU is not read outside Linux.
func processCPU(int) (time.Duration, bool) { return 0, false }
