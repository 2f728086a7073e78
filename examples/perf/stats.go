package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
)

// reportInterval is how often a progress line is printed, as in Kafka's tool.
var reportInterval = 5 * time.Second

// stats collects the completions of the records it measures, like the Stats of Kafka's tool: one
// for the whole run and, with --warmup-records, one more for the steady state after the warmup.
// Latencies are kept as microseconds in one slice allocated up front (4 bytes a record), so
// percentiles are exact (Kafka samples at most 500,000 and counts whole milliseconds).
type stats struct {
	mu  sync.Mutex
	out io.Writer

	steadyState bool // the steady-state stats: "In steady state." and "steady state" in its total
	suppress    bool // no more window lines (the whole-run stats once the steady state begins)

	start      time.Time
	count      int64
	bytes      int64
	totalLatUs int64
	maxLatUs   int32
	latencies  []int32

	windowStart    time.Time
	windowCount    int64
	windowBytes    int64
	windowTotalUs  int64
	windowMaxLatUs int32
}

func newStats(n int64, steadyState bool, now time.Time, out io.Writer) *stats {
	return &stats{out: out, steadyState: steadyState, start: now, windowStart: now, latencies: make([]int32, 0, n)}
}

// suppressPrinting stops the window lines (the steady-state stats print them from now on).
func (s *stats) suppressPrinting() {
	s.mu.Lock()
	s.suppress = true
	s.mu.Unlock()
}

// record adds one acknowledged record; like Kafka's tool, it prints the window's line from the
// completion that closes it.
func (s *stats) record(latency time.Duration, bytes int, now time.Time) {
	us := int32(min(latency.Microseconds(), math.MaxInt32))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.bytes += int64(bytes)
	s.totalLatUs += int64(us)
	s.maxLatUs = max(s.maxLatUs, us)
	if len(s.latencies) < cap(s.latencies) {
		s.latencies = append(s.latencies, us)
	}
	s.windowCount++
	s.windowBytes += int64(bytes)
	s.windowTotalUs += int64(us)
	s.windowMaxLatUs = max(s.windowMaxLatUs, us)
	if now.Sub(s.windowStart) >= reportInterval {
		if s.steadyState && s.count == s.windowCount {
			fmt.Fprintln(s.out, "In steady state.")
		}
		if !s.suppress {
			s.printWindow(now)
		}
		s.windowStart = now
		s.windowCount, s.windowBytes, s.windowTotalUs, s.windowMaxLatUs = 0, 0, 0, 0
	}
}

// windowFormat and totalFormat are Kafka's ProducerPerformance lines, verb for verb (Java's %f is
// Go's %f: six decimals).
const (
	windowFormat = "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.\n"
	totalFormat  = "%d%s records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n"
)

func (s *stats) printWindow(now time.Time) {
	secs := now.Sub(s.windowStart).Seconds()
	fmt.Fprintf(s.out, windowFormat,
		s.windowCount, float64(s.windowCount)/secs, float64(s.windowBytes)/(1024*1024)/secs,
		avgMs(s.windowTotalUs, s.windowCount), float64(s.windowMaxLatUs)/1000)
}

// printTotal prints the final line: totals since the stats began, and the latency percentiles.
func (s *stats) printTotal(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := now.Sub(s.start).Seconds()
	if secs <= 0 {
		secs = math.SmallestNonzeroFloat64
	}
	lat := s.latencies
	slices.Sort(lat)
	pct := func(p float64) int32 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(int(p*float64(len(lat))), len(lat)-1)] / 1000 // whole ms, like Java's ints
	}
	label := ""
	if s.steadyState {
		label = " steady state"
	}
	fmt.Fprintf(s.out, totalFormat,
		s.count, label, float64(s.count)/secs, float64(s.bytes)/(1024*1024)/secs,
		avgMs(s.totalLatUs, s.count), float64(s.maxLatUs)/1000,
		pct(0.5), pct(0.95), pct(0.99), pct(0.999))
}

func avgMs(totalUs, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(totalUs) / float64(n) / 1000
}

// throttler keeps the send rate at or under target records/s, like Kafka's ThroughputThrottler:
// when the rate so far is ahead of the target, it owes one record's worth of time, and it sleeps
// the owed time once that reaches a couple of milliseconds.
type throttler struct {
	target  float64
	start   time.Time
	perRec  time.Duration
	deficit time.Duration
}

const minSleep = 2 * time.Millisecond

func newThrottler(target float64, start time.Time) *throttler {
	t := &throttler{target: target, start: start}
	if target > 0 {
		t.perRec = time.Duration(float64(time.Second) / target)
	}
	return t
}

// wait is called before sending, with the records sent so far and the current time.
func (t *throttler) wait(sent int64, now time.Time) {
	if t.target <= 0 {
		return
	}
	elapsed := now.Sub(t.start).Seconds()
	if elapsed <= 0 || float64(sent)/elapsed <= t.target {
		return
	}
	t.deficit += t.perRec
	if t.deficit >= minSleep {
		time.Sleep(t.deficit)
		t.deficit = 0
	}
}
