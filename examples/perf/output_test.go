package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Kafka's ProducerPerformance lines, as regular expressions built from its Java format strings:
// printWindow  "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.%n"
// printTotal   "%d%s records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency,
//
//	%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.%n" (%s is "" or " steady state")
var (
	kafkaWindow = regexp.MustCompile(`^\d+ records sent, \d+\.\d records/sec \(\d+\.\d\d MB/sec\), \d+\.\d ms avg latency, \d+\.\d ms max latency\.$`)
	kafkaTotal  = regexp.MustCompile(`^\d+( steady state)? records sent, \d+\.\d{6} records/sec \(\d+\.\d\d MB/sec\), \d+\.\d\d ms avg latency, \d+\.\d\d ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$`)
)

// A whole run with warmup against the embedded broker prints Kafka's lines in Kafka's order: the
// warmup notice, window lines, "In steady state." before the first steady-state window, the
// total, then the steady-state total.
func TestOutputMatchesKafkaFormats(t *testing.T) {
	defer func(d time.Duration) { reportInterval = d }(reportInterval)
	reportInterval = 50 * time.Millisecond // Kafka's is 5 s; short so a small run has windows
	o := &options{topic: "perf-test", numRecords: 4000, warmup: 1000, recordSize: 100, throughput: 20000, payloadDelim: "\n"}
	var out bytes.Buffer
	if err := run(o, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if lines[0] != "Warmup first 1000 records. Steady state results will print after the complete test summary." {
		t.Fatalf("first line %q is not Kafka's warmup notice", lines[0])
	}
	n := len(lines)
	if n < 4 || !kafkaTotal.MatchString(lines[n-2]) || !strings.HasPrefix(lines[n-2], "4000 records sent") ||
		!kafkaTotal.MatchString(lines[n-1]) || !strings.HasPrefix(lines[n-1], "3000 steady state records sent") {
		t.Fatalf("the last two lines are not the totals in Kafka's format:\n%s", out.String())
	}
	windows, steady := 0, 0
	for _, l := range lines[1 : n-2] {
		switch {
		case kafkaWindow.MatchString(l):
			windows++
		case l == "In steady state.":
			steady++
		default:
			t.Fatalf("line %q is not one of Kafka's:\n%s", l, out.String())
		}
	}
	if windows == 0 || steady != 1 {
		t.Fatalf("%d window lines and %d \"In steady state.\" lines, want some and one:\n%s", windows, steady, out.String())
	}
}

// Payloads are made per record as Kafka's tool makes them.
func TestPayloads(t *testing.T) {
	var out bytes.Buffer
	ps, err := newPayloadSource(&options{recordSize: 50}, &out)
	if err != nil {
		t.Fatal(err)
	}
	a, b := ps.next(0), ps.next(1)
	if len(a) != 50 || bytes.Equal(a, b) || strings.Trim(string(a), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Fatalf("payloads %q and %q: want two different runs of 50 capital letters", a, b)
	}
	ps, _ = newPayloadSource(&options{monotonic: true}, &out)
	if got := string(ps.next(0)) + "," + string(ps.next(41)); got != "0,41" {
		t.Fatalf("monotonic payloads %s, want 0,41", got)
	}
	path := filepath.Join(t.TempDir(), "payloads")
	if err := os.WriteFile(path, []byte("a|bb|ccc|"), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err = newPayloadSource(&options{payloadFile: path, payloadDelim: `\|`}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.list) != 3 || string(ps.list[2]) != "ccc" || !strings.Contains(out.String(), "Number of messages read: 3\n") {
		t.Fatalf("payload file read as %q, printed %q", ps.list, out.String())
	}
}
