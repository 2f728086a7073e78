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
const reportInterval = 5 * time.Second

// stats collects the completions of the measured records. Latencies are kept as microseconds in
// one slice allocated up front (4 bytes a record), so percentiles are exact.
type stats struct {
	mu  sync.Mutex
	out io.Writer

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

func newStats(n int64, out io.Writer) *stats {
	return &stats{out: out, latencies: make([]int32, 0, n)}
}

// begin starts the clock of the whole run and of the first window.
func (s *stats) begin(now time.Time) {
	s.mu.Lock()
	s.start, s.windowStart = now, now
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
		s.printWindow(now)
		s.windowStart = now
		s.windowCount, s.windowBytes, s.windowTotalUs, s.windowMaxLatUs = 0, 0, 0, 0
	}
}

func (s *stats) printWindow(now time.Time) {
	secs := now.Sub(s.windowStart).Seconds()
	fmt.Fprintf(s.out, "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency.\n",
		s.windowCount, float64(s.windowCount)/secs, float64(s.windowBytes)/(1024*1024)/secs,
		avgMs(s.windowTotalUs, s.windowCount), float64(s.windowMaxLatUs)/1000)
}

// printTotal prints the final line: totals since begin, and the latency percentiles.
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
	fmt.Fprintf(s.out, "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n",
		s.count, float64(s.count)/secs, float64(s.bytes)/(1024*1024)/secs,
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
