// Compare runs kastor and franz-go's kgo on the same cells against the same kfake cluster and
// prints Markdown tables: the cells as they ran, the medians with kastor/franz-go ratios, and the
// targets of issue 11 checked per cell (met or missed).
//
//	go run . -quick                                    # smoke check: every cell, 20,000 records, 1 run
//	go run . -quick -cells default,store,10kib-store    # smoke check of a few cells
//	go run .                                           # the full comparison: every cell, 3 runs
//	go run . -runs 5 -cells default,store              # more runs of the cells that matter now
//	go run . -brokers 1                                # every cell on the 1-broker reference shape
//	go run . -cells 1kib -store both                   # one cell with the broker discarding and storing
//	go run . -cells keyed-1000p -cpuprofile /tmp/prof  # a CPU profile of each client run's measured phase
//	go run . -json                                     # raw per-run results as JSON
//
// A cell names its cluster (brokers; the broker storing records, kfake's default, or discarding
// them with BlackholeProduce), its topic (partitions) and its traffic (value size, null keys or
// 1,000 keys, codec, linger); see cells.go. The default is 3 brokers discarding, 8 partitions,
// 100 B values, null keys, no codec; the other cells change one or two of these: storing, 1 broker
// (the reference shape), keys, lz4, zstd, 64 and 1,000 partitions, 1 KiB and 10 KiB values, linger
// 0. -brokers and -store run the chosen cells in other shapes. Both libraries run at their own
// defaults; only the cell's codec (and linger in linger0) is set.
//
// -records (default 1,000,000) and -warmup (50,000) are per client run, scaled down per cell so
// that a run sends at most -max-sent-mb (1,000 MB) and leaves at most -max-stored-mb (400 MB) in a
// storing broker's memory; the cells table says how many records each cell used. Each run ends
// with -sync-records (2,000) single-record synchronous sends, for the latency columns.
//
// One binary plays three roles, re-executing itself for the children so that each measurement
// (CPU from getrusage, peak RSS, allocations) belongs to one library alone:
//
//	run     (default) the orchestrator: per cell, starts a broker, runs the clients ABBA, stops it
//	broker  a kfake cluster on 127.0.0.1, controlled through stdin (see broker.go)
//	client  one library on one cell; prints one JSON line of results (see client.go); its
//	        -cpuprofile FILE profiles the measured phase
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
