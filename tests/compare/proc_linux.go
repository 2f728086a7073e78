package main

import "syscall"

// childAttr makes the kernel kill a child when the orchestrator dies, even by SIGKILL, so no
// broker or client outlives it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
