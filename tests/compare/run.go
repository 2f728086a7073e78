package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	records, runs, warmup, sync int
	workloads                   []workload
	json, store                 bool
	timeout                     time.Duration
	exe                         string // the binary to re-execute; os.Executable when empty
}

func parseOptions(args []string) (options, error) {
	var o options
	var names string
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.IntVar(&o.records, "records", 1_000_000, "measured records per client run")
	fs.IntVar(&o.runs, "runs", 3, "runs per library and workload (medians are taken over them)")
	fs.IntVar(&o.warmup, "warmup", 50_000, "records per client run sent before measuring")
	fs.IntVar(&o.sync, "sync-records", 2000, "single-record synchronous sends per client run, for latency")
	fs.StringVar(&names, "workloads", workloadNames(), "comma-separated workloads")
	fs.BoolVar(&o.json, "json", false, "print the raw per-run results as JSON instead of the table")
	fs.BoolVar(&o.store, "store", false, "let the broker keep the records (kfake holds them all in memory)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for one client run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.records < 1 || o.runs < 1 || o.warmup < 0 || o.sync < 0 {
		return o, errors.New("-records and -runs must be at least 1, -warmup and -sync-records at least 0")
	}
	for name := range strings.SplitSeq(names, ",") {
		w, err := lookupWorkload(strings.TrimSpace(name))
		if err != nil {
			return o, err
		}
		o.workloads = append(o.workloads, w)
	}
	return o, nil
}

// report is everything one orchestrated run measured.
type report struct {
	Started  time.Time `json:"started"`
	Records  int       `json:"records"`
	Runs     int       `json:"runs"`
	Warmup   int       `json:"warmup"`
	Sync     int       `json:"sync_records"`
	Store    bool      `json:"broker_stores_records"`
	Machine  string    `json:"machine"`
	Commit   string    `json:"commit,omitempty"` // of the kastor working tree, when run inside it
	Results  []result  `json:"results"`
	Duration float64   `json:"duration_s"`
}

// orchestrate starts the broker, runs every workload's clients, and writes the table (or the JSON)
// to stdout; progress goes to stderr.
func orchestrate(ctx context.Context, o options, stdout, stderr io.Writer) (*report, error) {
	exe := o.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	// The broker's stderr is copied by exec's goroutine while this one writes progress.
	stderr = &lockedWriter{w: stderr}
	rep := &report{Started: time.Now(), Records: o.records, Runs: o.runs, Warmup: o.warmup, Sync: o.sync,
		Store: o.store, Machine: machine(), Commit: gitCommit(ctx)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // kills whatever child is still running
	broker, err := startBroker(ctx, exe, o.store, stderr)
	if err != nil {
		return nil, err
	}
	defer broker.stop()
	fmt.Fprintf(stderr, "broker at %s; %d workloads × %d runs × 2 libraries, %d records each\n",
		broker.addr, len(o.workloads), o.runs, o.records)

	for _, w := range o.workloads {
		for run := 1; run <= o.runs; run++ {
			// ABBA order: neither library always goes first after the other's run.
			libs := []string{libKastor, libKgo}
			if run%2 == 0 {
				libs[0], libs[1] = libs[1], libs[0]
			}
			for _, lib := range libs {
				res, err := runClient(ctx, exe, broker, o, w, lib, run, stderr)
				if err != nil {
					return nil, fmt.Errorf("%s, %s, run %d: %w", w.Name, lib, run, err)
				}
				fmt.Fprintf(stderr, "%-8s %-8s run %d: %10.0f records/s  %5.2f µs CPU/record  %6.2f allocs/record  %6.1f MiB RSS  sync p50 %.0f µs p99 %.0f µs\n",
					w.Name, lib, run, res.RecordsPerSec, res.CPUUsPerRecord, res.AllocsPerRecord,
					float64(res.MaxRSSKiB)/1024, res.SyncP50Us, res.SyncP99Us)
				rep.Results = append(rep.Results, *res)
			}
		}
	}
	rep.Duration = time.Since(rep.Started).Seconds()
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return rep, enc.Encode(rep)
	}
	return rep, writeTable(stdout, rep, o.workloads)
}

// runClient runs one client process on a topic of its own and returns what it measured.
func runClient(ctx context.Context, exe string, b *brokerProc, o options, w workload, lib string, run int, stderr io.Writer) (*result, error) {
	topic := fmt.Sprintf("%s-%s-%d", w.Name, lib, run)
	if err := b.do("create", topic); err != nil {
		return nil, err
	}
	defer b.do("delete", topic)

	ctx, cancel := context.WithTimeout(ctx, o.timeout+30*time.Second) // the client's own limit fires first
	defer cancel()
	var out bytes.Buffer
	cmd := childCommand(ctx, exe, "client", "-lib", lib, "-workload", w.Name, "-bootstrap", b.addr, "-topic", topic,
		"-run", strconv.Itoa(run), "-records", strconv.Itoa(o.records), "-warmup", strconv.Itoa(o.warmup),
		"-sync-records", strconv.Itoa(o.sync), "-timeout", o.timeout.String())
	var errTail tail
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(stderr, &errTail)
	if err := cmd.Run(); err != nil {
		if last := errTail.lastLine(); last != "" {
			return nil, fmt.Errorf("client: %w: %s", err, last)
		}
		return nil, fmt.Errorf("client: %w", err)
	}
	var res result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res); err != nil {
		return nil, fmt.Errorf("client output %q: %w", out.String(), err)
	}
	return &res, nil
}

// childCommand starts this binary in another role. The context kills it; the kernel kills it if
// the orchestrator dies first (Linux).
func childCommand(ctx context.Context, exe string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = childAttr()
	// A killed child's pipes are not waited on forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// gitCommit names the checked-out commit ("-dirty" with local changes), or "" outside a git tree.
func gitCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// tail keeps the end of a child's stderr, so that an error can say why the child failed.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) lastLine() string {
	s := strings.TrimSpace(string(t.b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
