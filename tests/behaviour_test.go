package tests

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

// With one request in flight and a slow broker, records that arrive while a request is out join
// the partition's waiting batch until it is full, so batches grow instead of multiplying.
func TestBatchesGrowWhileBrokerIsBusy(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var batches, records atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, rt := range kr.(*kmsg.ProduceRequest).Topics {
			for _, rp := range rt.Partitions {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(rp.Records); err == nil {
					batches.Add(1)
					records.Add(int64(b.NumRecords))
				}
			}
		}
		c.SleepControl(func() { time.Sleep(20 * time.Millisecond) })
		return nil, nil, false
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.MaxInFlightRequestsPerConnection = 1
		cfg.Linger = time.Millisecond
	})
	const n = 10_000
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: bytes.Repeat([]byte{'v'}, 100)}, comp.callback(i))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, time.Minute)
	// A 16 KiB batch holds about 130 such records; one per linger (1 ms) would give thousands.
	nb, nr := batches.Load(), records.Load()
	if nr != n {
		t.Fatalf("broker saw %d records, want %d", nr, n)
	}
	if avg := nr / nb; avg < 100 {
		t.Fatalf("%d batches, %d records each on average: batches did not fill while the broker was busy", nb, avg)
	}
	t.Logf("%d batches, %d records each on average", nb, nr/nb)
}

type recordingInterceptor struct {
	mu   sync.Mutex
	acks int
	errs int
}

func (r *recordingInterceptor) OnSend(rec *kastor.Record) *kastor.Record {
	cp := *rec
	cp.Headers = append(append([]kastor.Header(nil), rec.Headers...), kastor.Header{Key: "intercepted", Value: []byte("yes")})
	return &cp
}

func (r *recordingInterceptor) OnAcknowledgement(md kastor.RecordMetadata, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks++
	if err != nil {
		r.errs++
	}
}

type panickingInterceptor struct{}

func (panickingInterceptor) OnSend(*kastor.Record) *kastor.Record           { panic("OnSend bug") }
func (panickingInterceptor) OnAcknowledgement(kastor.RecordMetadata, error) { panic("OnAck bug") }

// Interceptors see every record and every outcome, may replace the record, and one that panics
// breaks nothing.
func TestInterceptors(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	rec := &recordingInterceptor{}
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Interceptors = []kastor.Interceptor{panickingInterceptor{}, rec}
		cfg.Logger = slog.New(slog.DiscardHandler) // the panics are expected
	})
	const n = 100
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	p.SendAsync(context.Background(), &kastor.Record{Topic: ""}, comp.callback(n)) // refused: still intercepted
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, 10*time.Second)
	rec.mu.Lock()
	acks, errs := rec.acks, rec.errs
	rec.mu.Unlock()
	if acks != n+1 || errs != 1 {
		t.Fatalf("OnAcknowledgement saw %d outcomes (%d errors), want %d (1)", acks, errs, n+1)
	}
	for _, recs := range consumeAll(t, c, "t") {
		for _, r := range recs {
			if len(r.Headers) != 1 || r.Headers[0].Key != "intercepted" {
				t.Fatalf("record %s: headers %+v, want the interceptor's", r.Value, r.Headers)
			}
		}
	}
}

// A broker that never answers: the record fails with ErrDeliveryTimeout once DeliveryTimeout has
// passed since the send, whatever retries were left.
func TestDeliveryTimeout(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RequestTimeout = 400 * time.Millisecond
		cfg.DeliveryTimeout = 900 * time.Millisecond
		cfg.Linger = 0
	})
	start := time.Now()
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: []byte("x")})
	d := time.Since(start)
	if !errors.Is(err, kastor.ErrDeliveryTimeout) {
		t.Fatalf("got %v, want ErrDeliveryTimeout", err)
	}
	if d < 850*time.Millisecond || d > 5*time.Second {
		t.Fatalf("failed after %v, want about 900ms", d)
	}
}

// Send does not wait for Linger: the caller is waiting, so its record's batch goes at once (with
// a linger of ten minutes, a Send that lingered would run into the test's deadline).
func TestSendDoesNotLinger(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = 10 * time.Minute
		cfg.DeliveryTimeout = 20 * time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: value(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// A partitioner that panics fails its record (on SendAsync and on the Produce message path alike) instead
// of the caller's goroutine; records that name their partition still go.
func TestPartitionerPanicFailsTheRecord(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Partitioner = kastor.PartitionerFunc(func(*kastor.Record, int32) int32 { panic("boom") })
	})
	_, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)})
	if !errors.Is(err, kastor.ErrInvalidRecord) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want ErrInvalidRecord naming the panic", err)
	}
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(1), Value: value(1)}); err != nil {
		t.Fatal(err)
	}
}

// Send with a context that is already done is refused, and says so: the record was not accepted,
// so it is not "maybe written".
func TestSendWithDoneContextIsRefused(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 50; i++ { // the two outcomes used to race
		_, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: value(i)})
		if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "may still be written") {
			t.Fatalf("got %v, want the refusal", err)
		}
	}
	if hw := c.PartitionInfo("t", 0).HighWatermark; hw != 0 {
		t.Fatalf("%d records written", hw)
	}
}
