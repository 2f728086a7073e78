package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The orchestrator re-executes os.Executable, which under `go test` is this test binary.
	if os.Getenv(childEnv) != "" {
		os.Exit(dispatch(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// TestOrchestrate runs the whole harness with tiny numbers on the default shape (3 brokers): a
// broker process per cell, client processes bootstrapping from every broker, JSON between them,
// the tables and the targets.
func TestOrchestrate(t *testing.T) {
	o, err := parseOptions([]string{"-records", "2000", "-warmup", "200", "-sync-records", "20", "-runs", "1",
		"-cells", "default,store,keyed-64p"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	rep, err := orchestrate(ctx, o, &out, &progress)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, progress.String())
	}
	noChildren(t)
	if len(rep.Results) != 6 || len(rep.Cells) != 3 {
		t.Fatalf("got %d results in %d cells, want 6 in 3: %+v", len(rep.Results), len(rep.Cells), rep.Results)
	}
	for _, c := range rep.Cells {
		if c.Brokers != 3 || c.Records != 2000 || c.Warmup != 200 || c.BrokerPeakRSSKiB <= 0 {
			t.Errorf("cell as run: %+v", c)
		}
	}
	for _, r := range rep.Results {
		if r.Records != 2000 || r.RecordsPerSec <= 0 || r.CPUUsPerRecord <= 0 || r.MaxRSSKiB <= 0 ||
			r.AllocsPerRecord <= 0 || r.SyncRecords != 20 || r.SyncP50Us <= 0 || r.SyncP99Us < r.SyncP50Us {
			t.Errorf("implausible result %+v", r)
		}
	}
	table := out.String()
	t.Log("\n" + table)
	for _, want := range []string{
		"| default | 3 | discarding | 8 | 100 B | null | none | default | 2,000 | 200 |",
		"| store | 3 | storing | 8 |",
		"| keyed-64p | 3 | discarding | 64 | 100 B | 1,000 |",
		"| default | kastor |", "| keyed-64p | kastor |", "| | franz-go |", "**kastor/franz-go**",
		"| cell | records/s | CPU/record | peak RSS | sync p50 | sync p99 | allocs/record |",
		"- records/s: ", "- peak RSS: ",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestClientFailure checks that a failing client fails the run and leaves no process behind.
func TestClientFailure(t *testing.T) {
	o, err := parseOptions([]string{"-records", "1000", "-warmup", "0", "-runs", "1", "-cells", "default", "-timeout", "1ns"})
	if err != nil {
		t.Fatal(err)
	}
	var out, progress bytes.Buffer
	_, err = orchestrate(context.Background(), o, &out, &progress)
	if err == nil {
		t.Fatalf("no error; table:\n%s", out.String())
	}
	t.Log(err)
	noChildren(t)
}

// noChildren fails if this process still has child processes (Linux only).
func noChildren(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	files, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range files {
		if data, _ := os.ReadFile(f); len(bytes.TrimSpace(data)) > 0 {
			t.Errorf("child processes left: %s", data)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil)
	if err != nil || o.records != 1_000_000 || o.runs != 3 || o.sync != 2000 || len(o.cells) != len(cells) {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, c := range o.cells {
		if want := 3; c.Name != "1broker" && c.Brokers != want {
			t.Errorf("cell %s has %d brokers by default", c.Name, c.Brokers)
		}
	}
	o, err = parseOptions([]string{"-quick", "-runs", "2", "-workloads", "lz4"})
	if err != nil || o.records != quickRecords || o.warmup != quickWarmup || o.sync != quickSync || o.runs != 2 ||
		len(o.cells) != 1 || o.cells[0].Name != "lz4" || o.cells[0].Records != quickRecords {
		t.Errorf("-quick: %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-cells", "default,nope"}, {"-runs", "0"}, {"extra"}, {"-brokers", "0"},
		{"-brokers", "x"}, {"-store", "sometimes"}, {"-max-stored-mb", "0"}} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestOverrides checks that -brokers and -store run the chosen cells in the asked shapes, each
// shape once, named for what changed.
func TestOverrides(t *testing.T) {
	o, err := parseOptions([]string{"-cells", "default,store,1broker", "-brokers", "1,3", "-store", "both"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range o.cells {
		got = append(got, fmt.Sprintf("%s:%d:%v", c.Name, c.Brokers, c.Store))
	}
	// store and 1broker add nothing: each of their shapes is a shape of default already.
	want := []string{"default@1b:1:false", "default@1b+store:1:true", "default:3:false", "default+store:3:true"}
	if !slices.Equal(got, want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	o, err = parseOptions([]string{"-cells", "store,1kib", "-store", "false"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.cells) != 2 || o.cells[0].Name != "store+discard" || o.cells[0].Store || o.cells[1].Name != "1kib" {
		t.Errorf("cells %+v", o.cells)
	}
}

// TestPlan checks that the per-cell record counts keep a run's bytes within the budgets.
func TestPlan(t *testing.T) {
	o, err := parseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	scaled := map[string]bool{}
	for _, c := range o.cells {
		budget := o.sendBudget
		if c.Store {
			budget = o.storeBudget
		}
		if sent := int64(c.Records+c.Warmup) * int64(c.wireBytesPerRecord()); sent > budget {
			t.Errorf("%s: %d records + %d warmup ≈ %d bytes, over %d", c.Name, c.Records, c.Warmup, sent, budget)
		}
		if c.Records < 10_000 || c.Warmup < c.Records/50 {
			t.Errorf("%s: %d records after %d warmup is too few to measure", c.Name, c.Records, c.Warmup)
		}
		scaled[c.Name] = c.Records < o.records
	}
	for name, want := range map[string]bool{"default": false, "store": false, "keyed-1000p": false,
		"1kib": true, "1kib-store": true, "10kib": true, "10kib-store": true} {
		if scaled[name] != want {
			t.Errorf("%s scaled down: %v, want %v", name, scaled[name], want)
		}
	}
}

func TestPercentileAndMedian(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Microsecond
	}
	if p := percentile(lat, 0.5); p != 50*time.Microsecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(lat, 0.99); p != 99*time.Microsecond {
		t.Errorf("p99 = %v", p)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	if s := thousands(1234567.4); s != "1,234,567" {
		t.Errorf("thousands = %q", s)
	}
}

func TestTargets(t *testing.T) {
	// records/s, MB/s, CPU, RSS, allocs, p50, p99
	s := summary{
		"default": {libKastor: {1.3e6, 130, 0.4, 30, 1, 100, 200}, libKgo: {1e6, 100, 0.5, 40, 1, 110, 260}},
		"store":   {libKastor: {1.05e6, 105, 0.4, 30, 1, 100, 200}, libKgo: {1e6, 100, 0.5, 40, 1, 110, 260}},
		"1broker": {libKastor: {1.05e6, 105, 0.9, 50, 1, 100, 261}, libKgo: {1e6, 100, 1, 40, 1, 110, 260}},
		"1kib":    {libKastor: {1.05e6, 105, 0.95, 30, 3, 0, 0}, libKgo: {1e6, 100, 1, 40, 1, 0, 0}},
	}
	var order []cellRun
	for _, name := range []string{"default", "store", "1broker", "1kib"} {
		c, err := lookupCell(name)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, cellRun{cell: c})
	}
	var b strings.Builder
	writeTargets(&b, s, order)
	got := b.String()
	for _, want := range []string{
		"| default | met 1.30× ≥ 1.25× | met 0.80× ≤ 0.8× | met 0.75× ≤ 1× | met 0.91× ≤ 1× | met 0.77× ≤ 1× | met 1.00 ≤ 1 |",
		"| store | **missed** 1.05× < 1.1× | met 0.80× ≤ 0.8× | – |",
		"| 1broker | met 1.05× ≥ 1× | **missed** 0.90× > 0.8× | – |",
		"| 1kib | met 1.05× ≥ 1× | met 0.95× ≤ 1× | – | not measured | not measured | **missed** 3.00 > 1 |",
		"- records/s: **missed** on 1 of 4 cells (store 1.05× < 1.1×)",
		"- CPU/record: **missed** on 1 of 4 cells (1broker 0.90× > 0.8×)",
		"- peak RSS: **met** on all 1 cells",
		"- sync p50: **met** on all 3 cells",
		"- sync p99: **missed** on 1 of 3 cells (1broker 1.004× > 1×)",
		"- allocs/record: **missed** on 1 of 4 cells (1kib 3.00 > 1)",
		"| 1broker | met 1.05× ≥ 1× | **missed** 0.90× > 0.8× | – | met 0.91× ≤ 1× | **missed** 1.004× > 1× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
