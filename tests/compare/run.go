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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	records, runs, warmup, sync int
	sendBudget, storeBudget     int64 // bytes per client run, see cell.plan
	cells                       []cell
	json                        bool
	timeout                     time.Duration
	cpuProfileDir               string
	memProfileDir               string
	exe                         string // the binary to re-execute; os.Executable when empty
}

// Quick mode: enough records to exercise every part of the harness in seconds per cell, far too
// few for numbers worth comparing.
const (
	quickRecords = 20_000
	quickWarmup  = 2_000
	quickSync    = 100
)

func parseOptions(args []string) (options, error) {
	var o options
	var names, workloads, brokers, store string
	var sendMB, storeMB int64
	var quick bool
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.IntVar(&o.records, "records", 1_000_000, "measured records per client run, before the per-cell byte budgets scale it down")
	fs.IntVar(&o.runs, "runs", 3, "runs per library and cell (medians are taken over them)")
	fs.IntVar(&o.warmup, "warmup", 50_000, "records per client run sent before measuring (scaled with -records)")
	fs.IntVar(&o.sync, "sync-records", 2000, "single-record synchronous sends per client run, for latency")
	fs.StringVar(&names, "cells", cellNames(), "comma-separated cells to run, in this order")
	fs.StringVar(&workloads, "workloads", "", "the same as -cells (the earlier name)")
	fs.StringVar(&brokers, "brokers", "", "run every chosen cell with this many brokers (\"1,3\" for both) instead of its own (3; 1 for the 1broker reference cell)")
	fs.StringVar(&store, "store", "", "run every chosen cell with the broker storing (true), discarding (false) or both, instead of as the cell says")
	fs.Int64Var(&sendMB, "max-sent-mb", 1000, "cap on the record bytes one client run sends (10^6 bytes per MB)")
	fs.Int64Var(&storeMB, "max-stored-mb", 400, "cap on the record bytes one client run leaves in a storing broker's memory")
	fs.BoolVar(&quick, "quick", false, fmt.Sprintf("smoke check: -records %d -warmup %d -sync-records %d -runs 1 unless given", quickRecords, quickWarmup, quickSync))
	fs.BoolVar(&o.json, "json", false, "print the raw per-run results as JSON instead of the tables")
	fs.StringVar(&o.cpuProfileDir, "cpuprofile", "", "write a CPU profile of each client run's measured phase into this directory (CELL-LIB-RUN.pprof)")
	fs.StringVar(&o.memProfileDir, "memprofile", "", "write an allocation profile of each client run's measured phase into this directory (CELL-LIB-RUN.allocs, and .allocs.base for pprof -base); slows the clients")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for one client run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]*int{"records": &o.records, "warmup": &o.warmup, "sync-records": &o.sync, "runs": &o.runs} {
			if !set[name] {
				*v = map[string]int{"records": quickRecords, "warmup": quickWarmup, "sync-records": quickSync, "runs": 1}[name]
			}
		}
	}
	if o.records < 1 || o.runs < 1 || o.warmup < 0 || o.sync < 0 || sendMB < 1 || storeMB < 1 {
		return o, errors.New("-records, -runs, -max-sent-mb and -max-stored-mb must be at least 1, -warmup and -sync-records at least 0")
	}
	o.sendBudget, o.storeBudget = sendMB*1e6, storeMB*1e6
	if workloads != "" {
		names = workloads
	}
	var chosen []cell
	for name := range strings.SplitSeq(names, ",") {
		c, err := lookupCell(strings.TrimSpace(name))
		if err != nil {
			return o, err
		}
		chosen = append(chosen, c)
	}
	var brokerCounts []int
	if brokers != "" {
		for f := range strings.SplitSeq(brokers, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return o, fmt.Errorf("-brokers: %q is not a broker count", f)
			}
			brokerCounts = append(brokerCounts, n)
		}
	}
	var storeModes []bool
	switch store {
	case "":
	case "both":
		storeModes = []bool{false, true}
	default:
		b, err := strconv.ParseBool(store)
		if err != nil {
			return o, fmt.Errorf("-store: %q is not true, false or both", store)
		}
		storeModes = []bool{b}
	}
	o.cells = expandCells(chosen, brokerCounts, storeModes)
	for i, c := range o.cells {
		o.cells[i] = c.plan(o.records, o.warmup, o.sendBudget, o.storeBudget)
	}
	return o, nil
}

// expandCells applies the -brokers and -store overrides (none when empty) to the chosen cells. A
// cell changed by an override is named for it (default@1b, store+discard); a shape already chosen
// is not run twice.
func expandCells(chosen []cell, brokerCounts []int, storeModes []bool) []cell {
	var out []cell
	seen := map[string]bool{}
	for _, base := range chosen {
		bs, ss := brokerCounts, storeModes
		if bs == nil {
			bs = []int{base.Brokers}
		}
		if ss == nil {
			ss = []bool{base.Store}
		}
		for _, b := range bs {
			for _, st := range ss {
				c := base
				c.Brokers, c.Store = b, st
				if b != base.Brokers {
					c.Name += fmt.Sprintf("@%db", b)
				}
				if st != base.Store {
					c.Name += "+" + map[bool]string{true: "store", false: "discard"}[st]
				}
				if !seen[c.shape()] {
					seen[c.shape()] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// report is everything one orchestrated run measured.
type report struct {
	Started  time.Time `json:"started"`
	Runs     int       `json:"runs"`
	Sync     int       `json:"sync_records"`
	Machine  string    `json:"machine"`
	Commit   string    `json:"commit,omitempty"` // of the kastor working tree, when run inside it
	Cells    []cellRun `json:"cells"`
	Results  []result  `json:"results"`
	Duration float64   `json:"duration_s"`
}

// cellRun is a cell as it ran: its broker's peak memory and how long the cell took.
type cellRun struct {
	cell
	BrokerPeakRSSKiB int64   `json:"broker_peak_rss_kib"`
	Seconds          float64 `json:"duration_s"`
}

// orchestrate runs every cell, each against a broker process of its own, and writes the tables
// (or the JSON) to stdout; progress goes to stderr.
func orchestrate(ctx context.Context, o options, stdout, stderr io.Writer) (*report, error) {
	exe := o.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	for _, dir := range []string{o.cpuProfileDir, o.memProfileDir} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
	}
	// The broker's stderr is copied by exec's goroutine while this one writes progress.
	stderr = &lockedWriter{w: stderr}
	rep := &report{Started: time.Now(), Runs: o.runs, Sync: o.sync, Machine: machine(), Commit: gitCommit(ctx)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // kills whatever child is still running
	fmt.Fprintf(stderr, "%d cells × %d runs × 2 libraries\n", len(o.cells), o.runs)
	for _, c := range o.cells {
		cr, results, err := runCell(ctx, exe, o, c, stderr)
		if err != nil {
			return nil, err
		}
		rep.Cells = append(rep.Cells, cr)
		rep.Results = append(rep.Results, results...)
	}
	rep.Duration = time.Since(rep.Started).Seconds()
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return rep, enc.Encode(rep)
	}
	return rep, writeTable(stdout, rep)
}

// runCell starts the cell's broker, runs both libraries ABBA, and stops the broker: a broker
// process per cell, so that neither its heap nor its producer state carries over, and its peak
// RSS is the cell's own.
func runCell(ctx context.Context, exe string, o options, c cell, stderr io.Writer) (cellRun, []result, error) {
	start := time.Now()
	cr := cellRun{cell: c}
	broker, err := startBroker(ctx, exe, c.Brokers, c.Store, stderr)
	if err != nil {
		return cr, nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	defer broker.stop()
	fmt.Fprintf(stderr, "cell %s: %s; %d records per run after %d warmup\n", c.Name, c.shape(), c.Records, c.Warmup)
	var results []result
	for run := 1; run <= o.runs; run++ {
		// ABBA order: neither library always goes first after the other's run.
		libs := []string{libKastor, libKgo}
		if run%2 == 0 {
			libs[0], libs[1] = libs[1], libs[0]
		}
		for _, lib := range libs {
			res, err := runClient(ctx, exe, broker, o, c, lib, run, stderr)
			if err != nil {
				return cr, nil, fmt.Errorf("%s, %s, run %d: %w", c.Name, lib, run, err)
			}
			fmt.Fprintf(stderr, "%-14s %-8s run %d: %10.0f records/s  %6.2f µs CPU/record  %6.2f allocs/record  %6.1f MiB RSS  sync p50 %.0f µs p99 %.0f µs\n",
				c.Name, lib, run, res.RecordsPerSec, res.CPUUsPerRecord, res.AllocsPerRecord,
				float64(res.MaxRSSKiB)/1024, res.SyncP50Us, res.SyncP99Us)
			results = append(results, *res)
		}
	}
	rss, err := broker.do("peak-rss")
	if err == nil {
		cr.BrokerPeakRSSKiB, err = strconv.ParseInt(rss, 10, 64)
	}
	if err != nil {
		return cr, nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	cr.Seconds = time.Since(start).Seconds()
	return cr, results, broker.stop()
}

// runClient runs one client process on a topic of its own and returns what it measured.
func runClient(ctx context.Context, exe string, b *brokerProc, o options, c cell, lib string, run int, stderr io.Writer) (res *result, err error) {
	topic := fmt.Sprintf("%s-%s-%d", strings.NewReplacer("@", "-", "+", "-").Replace(c.Name), lib, run)
	if _, err := b.do("create", topic, strconv.Itoa(c.Partitions)); err != nil {
		return nil, err
	}
	defer func() {
		if _, derr := b.do("delete", topic); err == nil && derr != nil {
			res, err = nil, derr
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, o.timeout+30*time.Second) // the client's own limit fires first
	defer cancel()
	var out bytes.Buffer
	args := []string{"client", "-lib", lib, "-cell", c.Name, "-bootstrap", strings.Join(b.addrs, ","), "-topic", topic,
		"-value-bytes", strconv.Itoa(c.ValueSize), "-keys", strconv.Itoa(c.Keys), "-codec", c.Codec,
		"-linger0=" + strconv.FormatBool(c.Linger0),
		"-run", strconv.Itoa(run), "-records", strconv.Itoa(c.Records), "-warmup", strconv.Itoa(c.Warmup),
		"-sync-records", strconv.Itoa(o.sync), "-timeout", o.timeout.String(),
		"-broker-pid", strconv.Itoa(b.cmd.Process.Pid)}
	if o.cpuProfileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(o.cpuProfileDir, fmt.Sprintf("%s-%s-%d.pprof", c.Name, lib, run)))
	}
	if o.memProfileDir != "" {
		args = append(args, "-memprofile", filepath.Join(o.memProfileDir, fmt.Sprintf("%s-%s-%d.allocs", c.Name, lib, run)))
	}
	cmd := childCommand(ctx, exe, args...)
	var errTail tail
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(stderr, &errTail)
	if err := cmd.Run(); err != nil {
		if last := errTail.lastLine(); last != "" {
			return nil, fmt.Errorf("client: %w: %s", err, last)
		}
		return nil, fmt.Errorf("client: %w", err)
	}
	res = &result{}
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), res); err != nil {
		return nil, fmt.Errorf("client output %q: %w", out.String(), err)
	}
	return res, nil
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
