//go:build !linux

package main

import "syscall"

// Elsewhere a child outlives a killed orchestrator only until it notices: the broker exits when
// its stdin closes, a client when it finishes or times out.
func childAttr() *syscall.SysProcAttr { return nil }
