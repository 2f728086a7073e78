package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kastor-go/kastor/internal/metrics/metricstest"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// TestNilRecorder: every method of a nil recorder is a no-op, as the actors' unit tests rely on.
func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.BatchCompleted("t", 3, nil)
	r.RecordsTaken(3)
	r.BatchRetried("t", 3)
	r.BatchSplit("t")
	r.BatchSealed("t", 10, 20, 0)
	if ns := r.RequestSent(nil); ns != 0 {
		t.Fatalf("RequestSent on nil = %d, want 0", ns)
	}
	r.RequestDone(0, nil, nil, nil)
	r.BufferWaited(time.Now())
	r.ConnectionOpened()
	r.ConnectionClosed(true)
	r.ConnectionFailed(messages.ErrAuthentication)
	r.Close()
	if s := r.Snapshot(); s != (Snapshot{}) {
		t.Fatalf("nil snapshot = %+v", s)
	}
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wire.ErrNotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER"},
		{fmt.Errorf("%w: %w", messages.ErrRecordTooLarge, wire.ErrMessageTooLarge), "MESSAGE_TOO_LARGE"},
		{fmt.Errorf("%w: last attempt failed: %w", messages.ErrDeliveryTimeout, wire.ErrRequestTimedOut), "delivery_timeout"},
		{fmt.Errorf("%w: %w: SASL", messages.ErrConnection, messages.ErrAuthentication), "authentication"},
		{fmt.Errorf("%w: read: EOF", messages.ErrConnection), "connection"},
		{messages.ErrProducerClosed, "producer_closed"},
		{errors.New("something else"), "_OTHER"},
	} {
		if got := ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRecorderFeedsCountersAndInstruments drives each method and checks the snapshot and what a
// ManualReader collects agree.
func TestRecorderFeedsCountersAndInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	used := int64(300)
	r, err := New(mp, func() (int64, int64) { return used, 1000 })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	r.RecordsTaken(10)
	batches := []*messages.Batch{{Records: 4}, {Records: 3}}
	sent := r.RequestSent(batches)
	if s := r.Snapshot(); s.RecordsInFlight != 7 || s.RequestsInFlight != 1 || s.RecordsQueued != 3 {
		t.Fatalf("after RequestSent: %+v", s)
	}
	r.RequestDone(sent, batches, &wire.ProduceResponse{ThrottleMillis: 25}, nil)
	r.BatchCompleted("a", 4, nil)
	r.BatchCompleted("b", 3, nil)
	r.BatchCompleted("a", 3, fmt.Errorf("%w: x", wire.ErrMessageTooLarge))
	r.BatchCompleted("a", 0, nil) // a flush marker counts nothing
	r.BatchRetried("a", 5)
	r.BatchSplit("a")
	r.BatchSealed("a", 100, 400, time.Now().Add(-time.Millisecond).UnixNano())
	r.ConnectionOpened()
	r.ConnectionOpened()
	r.ConnectionClosed(true)
	r.ConnectionClosed(false) // never set up: not a connection
	r.ConnectionFailed(fmt.Errorf("%w: %w", messages.ErrConnection, messages.ErrAuthentication))
	r.ConnectionFailed(messages.ErrConnection)
	r.BufferWaited(time.Now().Add(-2 * time.Millisecond))

	s := r.Snapshot()
	want := Snapshot{RecordsSent: 7, RecordErrors: 3, RecordRetries: 5, Batches: 1, BatchBytes: 100, BatchBytesUncompressed: 400,
		BatchSizeMax: 100, Requests: 1, RequestRecords: 7, ThrottleTimeTotal: 25 * time.Millisecond, ThrottleTimeMax: 25 * time.Millisecond,
		BufferAvailableBytes: 700, BufferTotalBytes: 1000, BufferWaits: 1, BatchSplits: 1, Connections: 1, ConnectionCreations: 2,
		ConnectionCloses: 1, AuthenticationFailures: 1}
	// Durations measured from the clock: only bounds can be checked.
	if s.RecordQueueTimeTotal < time.Millisecond || s.RecordQueueTimeMax != s.RecordQueueTimeTotal || s.RequestLatencyMax != s.RequestLatencyTotal ||
		s.BufferWaitTimeTotal < 2*time.Millisecond {
		t.Fatalf("durations: %+v", s)
	}
	s.RecordQueueTimeTotal, s.RecordQueueTimeMax, s.RequestLatencyTotal, s.RequestLatencyMax, s.BufferWaitTimeTotal = 0, 0, 0, 0, 0
	if s != want {
		t.Fatalf("snapshot\n got %+v\nwant %+v", s, want)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := metricstest.Collected(rm)
	sendA := attribute.NewSet(systemKafka, attribute.String(AttrDestination, "a"), opName, opType)
	sendB := attribute.NewSet(systemKafka, attribute.String(AttrDestination, "b"), opName, opType)
	errA := attribute.NewSet(systemKafka, attribute.String(AttrDestination, "a"), opName, opType, attribute.String(AttrErrorType, "MESSAGE_TOO_LARGE"))
	for _, c := range []struct {
		name  string
		attrs attribute.Set
		want  float64
	}{
		{SentMessages, sendA, 4}, {SentMessages, sendB, 3}, {SentMessages, errA, 3},
		{RecordErrors, errA, 3}, {RecordRetries, attribute.NewSet(systemKafka, attribute.String(AttrDestination, "a")), 5},
		{BatchSplits, attribute.NewSet(systemKafka, attribute.String(AttrDestination, "a")), 1},
		{Connections, attribute.NewSet(systemKafka), 1}, {ConnectionCreation, attribute.NewSet(systemKafka), 2}, {ConnectionClose, attribute.NewSet(systemKafka), 1},
		{AuthFailures, attribute.NewSet(systemKafka), 1}, {BufferWaitTime, attribute.NewSet(systemKafka), got.Sum(BufferWaitTime)}, {BufferAvailable, attribute.NewSet(systemKafka), 700},
		{RecordsQueued, attribute.NewSet(systemKafka), 0}, {RecordsInFlight, attribute.NewSet(systemKafka), 0},
	} {
		if v := got.Value(c.name, c.attrs); v != c.want {
			t.Errorf("%s{%v} = %v, want %v", c.name, c.attrs.Encoded(attribute.DefaultEncoder()), v, c.want)
		}
	}
	for _, name := range []string{OperationDuration, RequestLatency, ThrottleTime, BatchSize, CompressionRatio, RecordQueueTime, RequestRecords} {
		if n := got.Count(name); n != 1 {
			t.Errorf("%s: %d measurements, want 1", name, n)
		}
	}
	if v := got.Sum(CompressionRatio); v != 0.25 {
		t.Errorf("compression ratio = %v, want 0.25", v)
	}
}
