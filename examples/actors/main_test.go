package main

import (
	"io"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example's whole run, smaller: it must end on its own, without error, and leave nothing
// running.
func TestRun(t *testing.T) {
	if err := run(io.Discard, "", "actors", 2000, 500); err != nil {
		t.Fatal(err)
	}
}
