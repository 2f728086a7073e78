package tests

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/internal/metrics"
	"github.com/kastor-go/kastor/internal/metrics/metricstest"
)

// newMeteredProducer is newProducer with a MeterProvider whose ManualReader the test collects.
func newMeteredProducer(t *testing.T, c *kfake.Cluster, mutate func(*kastor.Config)) (*kastor.Producer, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.MeterProvider = mp
		if mutate != nil {
			mutate(cfg)
		}
	})
	return p, reader
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) metricstest.Collection {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return metricstest.Collected(rm)
}

func sendAttrs(topic string, errType string) attribute.Set {
	kv := []attribute.KeyValue{attribute.String(metrics.AttrSystem, "kafka"), attribute.String(metrics.AttrDestination, topic),
		attribute.String(metrics.AttrOperationName, "send"), attribute.String(metrics.AttrOperationType, "send")}
	if errType != "" {
		kv = append(kv, attribute.String(metrics.AttrErrorType, errType))
	}
	return attribute.NewSet(kv...)
}

// checkStatsAgree checks that Stats and the reader report the same counts.
func checkStatsAgree(t *testing.T, st kastor.Stats, got metricstest.Collection) {
	t.Helper()
	for _, c := range []struct {
		name string
		otel float64
		st   float64
	}{
		{metrics.SentMessages, got.Sum(metrics.SentMessages), float64(st.RecordsSent + st.RecordErrors)},
		{metrics.RecordsSent, got.Sum(metrics.RecordsSent), float64(st.RecordsSent)},
		{metrics.RecordErrors, got.Sum(metrics.RecordErrors), float64(st.RecordErrors)},
		{metrics.RecordRetries, got.Sum(metrics.RecordRetries), float64(st.RecordRetries)},
		{metrics.BatchSize + " count", float64(got.Count(metrics.BatchSize)), float64(st.Batches)},
		{metrics.BatchSize + " sum", got.Sum(metrics.BatchSize), float64(st.BatchBytes)},
		{metrics.RequestRecords + " count", float64(got.Count(metrics.RequestRecords)), float64(st.Requests)},
		{metrics.RequestRecords + " sum", got.Sum(metrics.RequestRecords), float64(st.RequestRecords)},
		{metrics.OperationDuration + " count", float64(got.Count(metrics.OperationDuration)), float64(st.Requests)},
		{metrics.BatchSplits, got.Sum(metrics.BatchSplits), float64(st.BatchSplits)},
		{metrics.ConnectionCreation, got.Sum(metrics.ConnectionCreation), float64(st.ConnectionCreations)},
		{metrics.ConnectionClose, got.Sum(metrics.ConnectionClose), float64(st.ConnectionCloses)},
		{metrics.Connections, got.Sum(metrics.Connections), float64(st.Connections)},
		{metrics.RecordsQueued, got.Sum(metrics.RecordsQueued), float64(st.RecordsQueued)},
		{metrics.RecordsInFlight, got.Sum(metrics.RecordsInFlight), float64(st.RecordsInFlight)},
		{metrics.BufferAvailable, got.Sum(metrics.BufferAvailable), float64(st.BufferAvailableBytes)},
	} {
		if c.otel != c.st {
			t.Errorf("%s: the reader has %v, Stats %v", c.name, c.otel, c.st)
		}
	}
}

// Records to two topics, acknowledged: messaging.client.sent.messages counts exactly the records
// sent, per topic, with the semantic conventions' attributes; Stats agrees, and both agree with
// what a consumer reads back.
func TestMetricsCountSentRecords(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "a", "b"))
	p, reader := newMeteredProducer(t, c, nil)
	const na, nb = 700, 300
	compA := sendN(t, p, "a", na, 0)
	compB := sendN(t, p, "b", nb, 0)
	for i := 0; i < na; i++ {
		if err := compA.get(i).err; err != nil {
			t.Fatalf("a record %d: %v", i, err)
		}
	}
	for i := 0; i < nb; i++ {
		if err := compB.get(i).err; err != nil {
			t.Fatalf("b record %d: %v", i, err)
		}
	}
	checkLog(t, c, "a", na, compA, true)
	checkLog(t, c, "b", nb, compB, true)

	got := collect(t, reader)
	st := p.Stats()
	if v := got.Value(metrics.SentMessages, sendAttrs("a", "")); v != na {
		t.Errorf("sent.messages{a} = %v, want %d", v, na)
	}
	if v := got.Value(metrics.SentMessages, sendAttrs("b", "")); v != nb {
		t.Errorf("sent.messages{b} = %v, want %d", v, nb)
	}
	if n := len(got[metrics.SentMessages]); n != 2 {
		t.Errorf("sent.messages has %d attribute sets, want 2 (no failures)", n)
	}
	if st.RecordsSent != na+nb || st.RecordErrors != 0 || st.RecordRetries != 0 {
		t.Errorf("Stats: sent %d, errors %d, retries %d; want %d, 0, 0", st.RecordsSent, st.RecordErrors, st.RecordRetries, na+nb)
	}
	// Flushed: nothing is held, every byte of buffer memory is back, a connection is open.
	if st.RecordsQueued != 0 || st.RecordsInFlight != 0 || st.RequestsInFlight != 0 {
		t.Errorf("after Flush: queued %d, in flight %d records / %d requests", st.RecordsQueued, st.RecordsInFlight, st.RequestsInFlight)
	}
	if st.BufferTotalBytes != kastor.DefaultConfig().BufferMemory || st.BufferAvailableBytes != st.BufferTotalBytes {
		t.Errorf("buffer: %d of %d available", st.BufferAvailableBytes, st.BufferTotalBytes)
	}
	if st.Batches == 0 || st.Requests == 0 || st.RequestRecords != na+nb || st.BatchBytes == 0 ||
		st.BatchBytes != st.BatchBytesUncompressed || st.RequestLatencyMax == 0 || st.Connections < 1 {
		t.Errorf("Stats: %+v", st)
	}
	checkStatsAgree(t, st, got)

	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = p.Stats()
	if st.Connections != 0 || st.ConnectionCloses != st.ConnectionCreations {
		t.Errorf("after Close: %d connections open, %d created, %d closed", st.Connections, st.ConnectionCreations, st.ConnectionCloses)
	}
}

// A record larger than the broker's message.max.bytes, batched with small ones: the broker refuses
// the batch (MESSAGE_TOO_LARGE), kastor splits it until the large record is alone and fails it.
// The failure is counted with error.type, the splits are counted, and the small records are
// counted as sent (and are in the log).
func TestMetricsCountFailuresWithErrorType(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2000"}))
	p, reader := newMeteredProducer(t, c, func(cfg *kastor.Config) { cfg.Linger = time.Second })
	const n, big = 21, 10
	comp := newCompletions()
	for i := 0; i < n; i++ {
		rec := &kastor.Record{Topic: "t", Value: value(i)}
		if i == big {
			rec.Key = bytes.Repeat([]byte("k"), 5000)
		}
		p.SendAsync(context.Background(), rec, comp.callback(i))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	for i := 0; i < n; i++ {
		err := comp.get(i).err
		if (i == big) != (err != nil) {
			t.Fatalf("record %d: err %v", i, err)
		}
	}
	if err := comp.get(big).err; !errors.Is(err, kastor.ErrMessageTooLarge) {
		t.Fatalf("large record: %v, want MESSAGE_TOO_LARGE", err)
	}
	checkLog(t, c, "t", n, comp, true)

	got := collect(t, reader)
	st := p.Stats()
	if v := got.Value(metrics.SentMessages, sendAttrs("t", "MESSAGE_TOO_LARGE")); v != 1 {
		t.Errorf("sent.messages{t, error.type=MESSAGE_TOO_LARGE} = %v, want 1", v)
	}
	if v := got.Value(metrics.SentMessages, sendAttrs("t", "")); v != n-1 {
		t.Errorf("sent.messages{t} = %v, want %d", v, n-1)
	}
	if v := got.SumWhere(metrics.RecordErrors, metrics.AttrErrorType, "MESSAGE_TOO_LARGE"); v != 1 {
		t.Errorf("record.errors{MESSAGE_TOO_LARGE} = %v, want 1", v)
	}
	if st.RecordsSent != n-1 || st.RecordErrors != 1 {
		t.Errorf("Stats: sent %d, errors %d; want %d, 1", st.RecordsSent, st.RecordErrors, n-1)
	}
	// All 21 went into one batch (linger 1s, flushed at once): halving down to the large record
	// alone takes a split per level, ceil(log2(21)) at most.
	if st.BatchSplits == 0 || st.BatchSplits > 5 {
		t.Errorf("Stats: %d batch splits, want 1..5", st.BatchSplits)
	}
	// The memory is reserved per batch: the halves of each split gave back exactly what it held.
	if st.BufferAvailableBytes != st.BufferTotalBytes {
		t.Errorf("buffer after the splits: %d of %d available", st.BufferAvailableBytes, st.BufferTotalBytes)
	}
	checkStatsAgree(t, st, got)
}

// A retriable error burst (NOT_LEADER_OR_FOLLOWER on the first three produce requests): every
// record that was in a refused request is counted as retried, once per refusal, and then as sent.
func TestMetricsCountRetries(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	var refusals atomic.Int32
	var refusedRecords atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if refusals.Add(1) > 3 {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(rp.Records); err != nil {
					t.Errorf("decoding a produced batch: %v", err)
				}
				refusedRecords.Add(int64(rb.NumRecords))
			}
		}
		return refuseProduce(req, kerr.NotLeaderForPartition.Code, -1), nil, true
	})
	p, reader := newMeteredProducer(t, c, func(cfg *kastor.Config) { cfg.RetryBackoff = 10 * time.Millisecond })
	const n = 500
	comp := sendN(t, p, "t", n, 0)
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", n, comp, true)

	got := collect(t, reader)
	st := p.Stats()
	want := refusedRecords.Load()
	if want == 0 {
		t.Fatal("no produce request was refused")
	}
	if st.RecordRetries != uint64(want) {
		t.Errorf("Stats: %d records retried, the broker refused %d", st.RecordRetries, want)
	}
	if v := got.Value(metrics.RecordRetries, attribute.NewSet(attribute.String(metrics.AttrSystem, "kafka"),
		attribute.String(metrics.AttrDestination, "t"))); v != float64(want) {
		t.Errorf("record.retries{t} = %v, the broker refused %d", v, want)
	}
	if v := got.Value(metrics.SentMessages, sendAttrs("t", "")); v != n || st.RecordsSent != n || st.RecordErrors != 0 {
		t.Errorf("sent.messages{t} = %v, Stats sent %d errors %d; want %d, %d, 0", v, st.RecordsSent, st.RecordErrors, n, n)
	}
	// The refused requests' durations carry the partitions' error; the others none.
	if n := got.CountWhere(metrics.OperationDuration, metrics.AttrErrorType, "NOT_LEADER_OR_FOLLOWER"); n != 3 {
		t.Errorf("operation.duration{error.type=NOT_LEADER_OR_FOLLOWER}: %d requests, want 3", n)
	}
	// Each refused request was answered: it is among the requests, and its records too.
	if st.Requests < 4 || st.RequestRecords != uint64(n)+uint64(want) {
		t.Errorf("Stats: %d requests with %d records; want >= 4 with %d", st.Requests, st.RequestRecords, int64(n)+want)
	}
	checkStatsAgree(t, st, got)
}

// A producer without a MeterProvider still keeps Stats; with compression, a batch's size as sent
// is below its uncompressed size (compression-rate below 1).
func TestStatsWithoutMeterProvider(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Compression = kastor.CompressionLZ4 })
	comp := sendN(t, p, "t", 100, 0)
	checkLog(t, c, "t", 100, comp, true)
	st := p.Stats()
	if st.RecordsSent != 100 || st.RequestRecords != 100 || st.ConnectionCreations == 0 || st.Batches == 0 {
		t.Fatalf("Stats: %+v", st)
	}
	if st.BatchBytes >= st.BatchBytesUncompressed {
		t.Fatalf("lz4 batches: %d bytes sent of %d uncompressed", st.BatchBytes, st.BatchBytesUncompressed)
	}
}

// checkStatsSettled checks Stats once every record of a test completed: n records finished, failed
// of them with an error, and nothing is counted as queued or in flight any more (the gauges
// survive restarts of the actors without drifting).
func checkStatsSettled(t *testing.T, p *kastor.Producer, n, failed int) {
	t.Helper()
	st := p.Stats()
	if st.RecordsSent != uint64(n-failed) || st.RecordErrors != uint64(failed) {
		t.Errorf("Stats: %d sent, %d failed; want %d, %d", st.RecordsSent, st.RecordErrors, n-failed, failed)
	}
	if st.RecordsQueued != 0 || st.RecordsInFlight != 0 || st.RequestsInFlight != 0 {
		t.Errorf("Stats after every completion: %d records queued, %d records / %d requests in flight",
			st.RecordsQueued, st.RecordsInFlight, st.RequestsInFlight)
	}
}

// Close while a produce request is out (the broker stalls): its records fail with
// ErrProducerClosed, and the request and its records leave the in-flight gauges although its
// answer never comes back.
func TestStatsCloseWithARequestInFlight(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var stalled atomic.Bool
	release, resumed := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		// Before the cluster closes, and waited for: kfake leaks its run goroutine if it closes
		// while it resumes a slept control.
		close(release)
		select {
		case <-resumed:
		case <-time.After(10 * time.Second):
			t.Error("the stalled produce handler did not resume")
		}
	})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if stalled.Swap(true) {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		c.SleepControl(func() { <-release })
		close(resumed)
		return nil, nil, false
	})
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Logger = discardLogger() })
	const n = 10
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().RequestsInFlight == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no produce request went out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := p.Stats(); st.RecordsInFlight != n || st.RecordsQueued != 0 {
		t.Fatalf("stalled request: %d records in flight, %d queued; want %d, 0", st.RecordsInFlight, st.RecordsQueued, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	comp.wait(t, 10*time.Second)
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; !errors.Is(err, kastor.ErrProducerClosed) {
			t.Fatalf("record %d: %v, want ErrProducerClosed", i, err)
		}
	}
	checkStatsSettled(t, p, n, n)
}
