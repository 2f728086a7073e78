// Compare runs kastor and franz-go's kgo on the same workloads against the same kfake broker and
// prints a Markdown table of medians and kastor/franz-go ratios, then checks the targets.
//
//	go run . -runs 3                                  # the full comparison (1,000,000 records per run)
//	go run . -records 100000 -runs 1                   # a quick check
//	go run . -workloads default,linger0 -json          # raw per-run results as JSON
//
// One binary plays three roles, re-executing itself for the children so that each measurement
// (CPU from getrusage, peak RSS, allocations) belongs to one library alone:
//
//	run     (default) the orchestrator: starts the broker, runs the clients, prints the table
//	broker  a kfake cluster on 127.0.0.1, controlled through stdin (see broker.go)
//	client  one library on one workload; prints one JSON line of results (see client.go)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// childEnv marks a process started by the orchestrator, so that a test binary standing in for the
// harness (os.Executable in `go test`) plays the child's role instead of running the tests.
const childEnv = "KASTOR_COMPARE_CHILD"

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

// dispatch runs the role named by args[0] (default run) and returns the exit code.
func dispatch(args []string) int {
	role := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "broker" || args[0] == "client") {
		role, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch role {
	case "broker":
		err = brokerMain(ctx, args)
	case "client":
		err = clientMain(ctx, args)
	default:
		var o options
		if o, err = parseOptions(args); err == nil {
			_, err = orchestrate(ctx, o, os.Stdout, os.Stderr)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "compare %s: %v\n", role, err)
		return 1
	}
	return 0
}
