package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
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

// TestOrchestrate runs the whole harness with tiny numbers: broker and client processes, JSON
// between them, the table and the targets.
func TestOrchestrate(t *testing.T) {
	o, err := parseOptions([]string{"-records", "2000", "-warmup", "200", "-sync-records", "20", "-runs", "1",
		"-workloads", "default,keyed"})
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
	if len(rep.Results) != 4 {
		t.Fatalf("got %d results, want 4: %+v", len(rep.Results), rep.Results)
	}
	for _, r := range rep.Results {
		if r.Records != 2000 || r.RecordsPerSec <= 0 || r.CPUUsPerRecord <= 0 || r.MaxRSSKiB <= 0 ||
			r.AllocsPerRecord <= 0 || r.SyncRecords != 20 || r.SyncP50Us <= 0 || r.SyncP99Us < r.SyncP50Us {
			t.Errorf("implausible result %+v", r)
		}
	}
	table := out.String()
	t.Log("\n" + table)
	for _, want := range []string{"| default | kastor |", "| keyed | kastor |", "| | franz-go |", "**kastor/franz-go**",
		"records/s ≥ 1.0× franz-go on every workload", "peak RSS ≤ franz-go's on the default workload"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestClientFailure checks that a failing client fails the run and leaves no process behind.
func TestClientFailure(t *testing.T) {
	o, err := parseOptions([]string{"-records", "1000", "-warmup", "0", "-runs", "1", "-workloads", "default", "-timeout", "1ns"})
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
	if err != nil || o.records != 1_000_000 || o.runs != 3 || len(o.workloads) != 6 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-workloads", "default,nope"}, {"-runs", "0"}, {"extra"}} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("%q: no error", args)
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
	k := []float64{2e6, 200, 0.4, 30, 1, 100, 200}
	g := []float64{1e6, 100, 0.5, 40, 1, 110, 260}
	s := summary{"default": {libKastor: k, libKgo: g}, "lz4": {libKastor: k, libKgo: []float64{3e6, 300, 0.3, 20, 1, 90, 100}}}
	got := strings.Join(checkTargets(s, []workload{{Name: "default"}, {Name: "lz4"}}), "\n")
	for _, want := range []string{
		"records/s ≥ 1.0× franz-go on every workload: **missed** (lz4 0.67×)",
		"client CPU per record ≤ 1.0× franz-go on every workload: **missed** (lz4 1.33×)",
		"allocations per record ≤ 1 on the SendAsync path (kastor, every workload): **met**",
		"peak RSS ≤ franz-go's on the default workload: **met** (default 0.75×)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
